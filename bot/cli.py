"""The `journeybot` command line."""
from __future__ import annotations

import logging
import signal
import sys

import click

from bot.settings import load_settings
from journey_state.errors import JourneyError


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.group()
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
    """Validate the journey model and business configuration."""
    from bot.launcher import check_configuration

    try:
        click.echo(check_configuration(load_settings()))
    except JourneyError as exc:
        _fail(str(exc))


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


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", type=int, default=None, help="Default: JOURNEYBOT_CONSOLE_PORT or 5080.")
@click.option("--threads", default=8, show_default=True)
def console(host: str, port: int | None, threads: int) -> None:
    """Serve the console and journey API."""
    from waitress import serve

    from bot.console import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    try:
        app = create_app(settings)
    except JourneyError as exc:
        _fail(str(exc))
    serve(app, host=host, port=port or settings.console_port, threads=threads, ident="journeybot")


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
    from bot.nlu_eval import main as evaluate

    evaluate(list(args))


@main.command("mark-dormant")
def mark_dormant() -> None:
    """Mark contacts dormant after the model's inactivity limit (run it from cron, e.g. hourly)."""
    from journey_state.model import load_named_model
    from journey_state.store import JourneyStore, make_engine

    settings = load_settings()
    try:
        model = load_named_model(settings.journeys_dir, settings.journey_model)
        count = JourneyStore(make_engine(settings.database_url), model).mark_dormant()
    except JourneyError as exc:
        _fail(str(exc))
    click.echo(f"{count} contact(s) became dormant")


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


def _register_subcommands() -> None:
    from bot.analytics_cli import report, simulate
    from bot.channels.telegram_setup import telegram
    from bot.staff_cli import create_user

    for command in (telegram, create_user, report, simulate):
        main.add_command(command)


_register_subcommands()

if __name__ == "__main__":
    main()
