"""`journeybot create-user`: add a staff console user (the password is prompted or read from stdin)."""
from __future__ import annotations

import sys

import click

from bot.settings import load_settings
from journey_state.errors import JourneyError


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["agent", "admin"]), default="agent", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin (for scripts).")
def create_user(username: str, role: str, password_stdin: bool) -> None:
    """Create a staff console user with a hashed password."""
    from bot.console.staff.auth import hash_password
    from bot.services import build
    from journey_state.store.staff_users import StaffUserError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        services = build(load_settings())
    except JourneyError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        user = services.handoffs.create_user(username, hashed, role)
    except (StaffUserError, JourneyError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.close()
    click.echo(f"created {user.role} {user.username!r}")
