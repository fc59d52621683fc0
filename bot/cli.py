"""The `journeybot` command line."""
from __future__ import annotations

import logging
import signal
import sys
from typing import NoReturn

import click

from bot.lazy_group import LazyCommand, LazyGroup
from bot.settings import load_settings
from journey_state.errors import JourneyError

# Imported only when they run (the Telegram one sits beside the Rasa channel: sanic and Rasa).
LAZY_COMMANDS = {
    "telegram": LazyCommand("bot.channels.telegram.setup:telegram", "Manage the Telegram webhook."),
    "create-user": LazyCommand("bot.staff_cli:create_user", "Create a staff console user with a hashed password."),
    "report": LazyCommand("bot.analytics_cli:report", "Write the journey analytics report (HTML with embedded charts, JSON or CSV)."),
    "simulate": LazyCommand("bot.analytics_cli:simulate",
                            "Generate demo journeys through the real journey store (stages, offers, feedback, referrals)."),
    "nlu": LazyCommand("bot.review_cli:nlu", "NLU training data from real traffic."),
}


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


@click.group(cls=LazyGroup, lazy_commands=LAZY_COMMANDS)
def main() -> None:
    """journeybot: journey-aware customer support on Rasa."""


@main.command()
def up() -> None:
    """Migrate, train if needed, and start Rasa, actions and console (Ctrl-C stops all)."""
    from bot import launcher

    settings = load_settings()
    try:
        env = launcher.prepare(settings, echo=click.echo)
    except (JourneyError, RuntimeError) as exc:
        _fail(str(exc))
    launcher.exec_honcho(settings, env)


@main.command()
def check() -> None:
    """Validate the environment, the journey models and every business and channel configuration file."""
    from bot.config_check import check_configuration
    from bot.settings import check_environment

    click.echo(check_environment())
    try:
        report = check_configuration(load_settings())
    except JourneyError as exc:
        _fail(str(exc))
    for path in report.files:
        click.echo(f"checked {path}")
    click.echo(report.summary())


@main.command()
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for all processes.")
def announce(timeout: float) -> None:
    """Wait until every process answers, print the URLs, then stay up (Procfile helper)."""
    from bot import launcher

    settings = load_settings()
    if launcher.wait_until_ready(settings, timeout):
        click.echo(launcher.banner(settings))
    else:
        click.echo("journeybot: not every process came up; see the log above", err=True)
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass


@main.command("keep-alive", context_settings={"ignore_unknown_options": True})
@click.option("--name", default=None, help="Name used in the log (default: the command).")
@click.option("--initial-delay", default=1.0, show_default=True, help="Seconds before the first restart.")
@click.option("--max-delay", default=30.0, show_default=True, help="The delay doubles up to this.")
@click.option("--reset-after", default=60.0, show_default=True, help="Seconds up after which the delay starts again at --initial-delay.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def keep_alive(name: str | None, initial_delay: float, max_delay: float, reset_after: float, command: tuple[str, ...]) -> None:
    """Run COMMAND and start it again whenever it exits, with exponential backoff (Procfile helper).

    SIGTERM, SIGINT or SIGHUP stop it: the signal goes on to COMMAND and nothing restarts."""
    from bot.supervise import Backoff, KeepAlive

    if initial_delay <= 0 or max_delay < initial_delay or reset_after < 0:
        _fail("need 0 < --initial-delay <= --max-delay and --reset-after >= 0")
    supervisor = KeepAlive(name or command[0], command, Backoff(initial_delay, max_delay, reset_after))
    supervisor.install_signal_handlers()
    sys.exit(supervisor.run())


@main.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def rasa(args: tuple[str, ...]) -> None:
    """`rasa run ARGS` with the API on, the token from JOURNEYBOT_RASA_TOKEN (never on the command
    line), bound to JOURNEYBOT_BIND, CORS for JOURNEYBOT_CORS_ORIGINS only."""
    from bot import rasa_server

    settings = load_settings()
    try:
        argv = rasa_server.rasa_argv(args, settings, settings.rasa_token)
    except rasa_server.RasaArgumentError as exc:
        _fail(str(exc))
    rasa_server.run(argv)


@main.command()
@click.option("--actions", "package", default="actions", show_default=True, help="Python package with the actions.")
def actions(package: str) -> None:
    """Serve the custom actions on JOURNEYBOT_BIND:JOURNEYBOT_ACTIONS_PORT, only for callers with
    JOURNEYBOT_ACTIONS_TOKEN (Rasa sends it; see endpoints.yml)."""
    from bot.action_server import TOKEN_ENV, serve
    from bot.services import shared

    settings = load_settings()
    if not settings.actions_token:
        _fail(f"{TOKEN_ENV} is not set; without it anyone who reaches the port could run actions")
    try:
        shared().warm_up()  # the services every action uses, built now rather than on a customer's first turn
    except JourneyError as exc:
        _fail(str(exc))
    serve(settings.bind, settings.actions_port, settings.actions_token, package)


@main.command()
@click.option("--host", default=None, help="Default: JOURNEYBOT_BIND or 127.0.0.1.")
@click.option("--port", type=int, default=None, help="Default: JOURNEYBOT_CONSOLE_PORT or 5080.")
@click.option("--threads", default=8, show_default=True)
def console(host: str | None, port: int | None, threads: int) -> None:
    """Serve the console and journey API."""
    from waitress import serve

    from bot.console import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    try:
        app = create_app(settings)
    except JourneyError as exc:
        _fail(str(exc))
    serve(app, host=host or settings.bind, port=port or settings.console_port, threads=threads, ident="journeybot")


@main.command()
@click.option("--force", is_flag=True, help="Train even if a model for the current inputs exists.")
def train(force: bool) -> None:
    """Train the Rasa model if config, domain or training data changed."""
    from bot.training import ensure_model, model_path

    settings = load_settings()
    models = settings.project_dir / "models"
    target = model_path(settings.project_dir, models)
    if force and target.exists():
        target.unlink()
    try:
        path = ensure_model(settings.project_dir, models)
    except RuntimeError as exc:
        _fail(str(exc))
    click.echo(str(path))


@main.command("eval-nlu", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def eval_nlu(args: tuple[str, ...]) -> None:
    """Accuracy and macro-F1 of the trained NLU on evaluation CSVs (run with --help for options)."""
    from bot.nlu.evaluation import main as evaluate

    evaluate(list(args))


@main.command("mark-dormant")
def mark_dormant() -> None:
    """Mark contacts dormant after the model's inactivity limit (run it from cron, e.g. hourly)."""
    from bot.services import build

    try:
        services = build(load_settings())
    except JourneyError as exc:
        _fail(str(exc))
    try:
        count = services.store.mark_dormant()
    except JourneyError as exc:
        _fail(str(exc))
    finally:
        services.close()
    click.echo(f"{count} contact(s) became dormant")


@main.command("expire-checkouts")
def expire_checkouts() -> None:
    """Record checkout links left unpaid past commerce.yml's checkout.expire_after_hours as timed out (cron it, e.g. hourly)."""
    from bot.services import build

    try:
        services = build(load_settings())
    except JourneyError as exc:
        _fail(str(exc))
    try:
        count = services.checkout.expire_due()
    except JourneyError as exc:
        _fail(str(exc))
    finally:
        services.close()
    click.echo(f"{count} checkout link(s) timed out")


@main.group()
def db() -> None:
    """Journey database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the journey database to the latest schema."""
    from journey_state.store.migrate import upgrade

    settings = load_settings()
    try:
        upgrade(settings.database_url)
    except JourneyError as exc:
        _fail(str(exc))
    click.echo(f"journey database at the latest schema: {settings.database_url}")


@db.command("status")
def db_status() -> None:
    """Say whether migrations are pending."""
    from journey_state.store.migrate import pending

    settings = load_settings()
    try:
        click.echo("migrations pending" if pending(settings.database_url) else "up to date")
    except JourneyError as exc:
        _fail(str(exc))


if __name__ == "__main__":
    main()
