"""`journeybot up`: prepare everything, then run all processes under honcho (Procfile).

honcho multiplexes the logs and stops everything on Ctrl-C; each Procfile line runs under
`journeybot keep-alive`, so a process that dies is restarted instead of stopping the others."""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from bot import config_check
from bot.health import health_urls, wait_until_healthy
from bot.local_secrets import ensure_local_tokens
from bot.settings import Settings
from bot.training import ensure_model
from journey_state.model import load_named_model
from journey_state.store.migrate import upgrade


def process_env(settings: Settings, model: Path, tokens: dict[str, str]) -> dict[str, str]:
    """The environment every Procfile process runs with."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update(tokens)
    env.update(
        {
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
            "JOURNEYBOT_PROJECT_DIR": str(settings.project_dir),
            "JOURNEYBOT_DATABASE_URL": settings.database_url,
            "JOURNEYBOT_JOURNEY_MODEL": settings.journey_model,
            "JOURNEYBOT_MODEL": str(model),
            "JOURNEYBOT_RASA_PORT": str(settings.rasa_port),
            "JOURNEYBOT_ACTIONS_PORT": str(settings.actions_port),
            "JOURNEYBOT_CONSOLE_PORT": str(settings.console_port),
            "JOURNEYBOT_BIND": settings.bind,
            # Where Rasa calls the actions (endpoints.yml); another host if the action server runs elsewhere.
            "JOURNEYBOT_ACTIONS_URL": settings.actions_webhook_url,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def check_configuration(settings: Settings) -> str:
    """Load and validate the journey model and all business configuration; raise on errors."""
    return config_check.check_configuration(settings).summary()


def prepare(settings: Settings, echo: Callable[[str], object] = print) -> dict[str, str]:
    """Validate configuration, migrate the database and train if needed; return the process environment."""
    echo(f"journeybot: {check_configuration(settings)}")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    tokens = ensure_local_tokens(settings.var_dir, dict(os.environ))
    echo(f"journeybot: database {settings.database_url} (migrating to the latest schema)")
    upgrade(settings.database_url)
    seeded = seed_demo_data(settings)
    if seeded:
        echo(f"journeybot: the database was empty, so it now holds a demo data set ({seeded}) for the dashboards")
    refresh_analytics(settings, echo)
    echo("journeybot: checking the Rasa model (trains only if config, domain or data changed)")
    model = ensure_model(settings.project_dir, settings.project_dir / "models")
    echo(f"journeybot: model {model.name}")
    return process_env(settings, model, tokens)


def seed_demo_data(settings: Settings, contacts: int = 200) -> str | None:
    """Demo journeys and demo-shop orders for an empty database; None if it already had contacts."""
    from bot.services import build
    from journey_state.analytics.simulate import seed_if_empty
    from journey_state.commerce.demo_shop import seed_demo_orders

    services = build(settings)
    try:
        stats = seed_if_empty(services.store, services.programs, contacts)
        if stats is None:
            return None
        orders = seed_demo_orders(services.engine)
        return f"{contacts} simulated contacts, {len(orders)} demo-shop orders AUR-{orders[0].number.split('-')[1]}…"
    finally:
        services.close()


def refresh_analytics(settings: Settings, echo: Callable[[str], object] = print) -> int:
    """Bring the dashboard's per-contact facts up to date now (long once after an upgrade or an
    import), so that the first dashboard does not wait for it."""
    from journey_state.analytics.dashboard import refresh_facts
    from journey_state.store import make_engine

    engine = make_engine(settings.database_url)
    try:
        model = load_named_model(settings.journeys_dir, settings.journey_model)
        done = refresh_facts(engine, model, settings.journeys_dir, progress=lambda n, total: echo(f"journeybot: analytics facts {n}/{total} contacts") if n % 10_000 == 0 else None)
    finally:
        engine.dispose()
    if done:
        echo(f"journeybot: analytics facts brought up to date for {done} contacts")
    return done


def exec_honcho(settings: Settings, env: dict[str, str]) -> None:
    honcho = shutil.which("honcho", path=env["PATH"])
    if honcho is None:
        raise SystemExit("journeybot: honcho is not installed; run `make run` to install the lock")
    procfile = settings.project_dir / "Procfile"
    os.chdir(settings.project_dir)
    os.execvpe(honcho, [honcho, "-f", str(procfile), "-d", str(settings.project_dir), "start"], env)


def wait_until_ready(settings: Settings, timeout: float = 300.0) -> bool:
    return not wait_until_healthy(health_urls(settings), timeout, interval=1.0)


def banner(settings: Settings) -> str:
    token = settings.api_token or ""
    lines = [
        "journeybot is up:",
        f"  Rasa server     {settings.rasa_url}   (REST channel: POST /webhooks/rest/webhook)",
        f"  Action server   {settings.actions_url}",
        f"  Storefront      {settings.console_url}/   (web chat)",
        f"  Staff console   {settings.console_url}/staff   (create users with `journeybot create-user`)",
        f"  Journey API     {settings.console_url}/api   (e.g. GET /api/contacts/by-channel/rest/<sender>)",
        f"  API token       {token}",
        f"  Database        {settings.database_url}",
        f"  Listening on    {settings.bind}   (JOURNEYBOT_BIND; 0.0.0.0 for every interface)",
        "A process that exits is started again (journeybot keep-alive, backoff 1 s to 30 s).",
        "Press Ctrl-C to stop all processes.",
    ]
    width = max(len(line) for line in lines) + 2
    return "\n".join(["=" * width, *lines, "=" * width])
