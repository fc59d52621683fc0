"""`journeybot report` and `journeybot simulate`: journey analytics from the command line."""
from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import click

from bot.settings import load_settings
from journey_state.analytics.facts import WINDOWS as ATTRIBUTION_WINDOWS
from journey_state.errors import JourneyError


def _models(journeys_dir: Path) -> list[str]:
    return sorted(p.stem for p in Path(journeys_dir).glob("*.yml"))


@click.command("report")
@click.option("--from", "from_", metavar="DATE", help="Start of the period (YYYY-MM-DD or ISO time, UTC). Default: 30 days before --to.")
@click.option("--to", "to", metavar="DATE", help="End of the period; a bare date includes that day. Default: now.")
@click.option("--format", "fmt", type=click.Choice(["html", "json", "csv"]), default="html", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), help="File to write ('-' for stdout). Default: var/reports/journey-report-<from>-<to>.<format>.")
@click.option("--model", help="Journey model id (default: JOURNEYBOT_JOURNEY_MODEL).")
@click.option("--channel", help="Only this channel (e.g. whatsapp).")
@click.option("--persona", help="Only this persona / segment.")
@click.option("--attribution-days", type=click.Choice([str(d) for d in ATTRIBUTION_WINDOWS]), default="14", show_default=True, help="Window N (days) of the bot attribution.")
def report(from_: str | None, to: str | None, fmt: str, output: str | None, model: str | None, channel: str | None,
           persona: str | None, attribution_days: str) -> None:
    """Write the journey analytics report (HTML with embedded charts, JSON or CSV)."""
    from journey_state.analytics import dashboard, parse_filters
    from journey_state.analytics.filters import AnalyticsFilterError
    from journey_state.analytics.report import render
    from journey_state.model import load_named_model
    from journey_state.store import make_engine

    settings = load_settings()
    try:
        filters = parse_filters({"from": from_, "to": to, "model": model, "channel": channel, "persona": persona}, _models(settings.journeys_dir), settings.journey_model)
        journey = load_named_model(settings.journeys_dir, filters.model)
        engine = make_engine(settings.database_url)
        started = time.perf_counter()
        dash = dashboard.compute(engine, journey, filters, settings.journeys_dir, progress=lambda name: click.echo(f"computing {name}...", err=True), attribution_days=int(attribution_days))
        click.echo(f"computed in {time.perf_counter() - started:.2f} s; rendering {fmt}...", err=True)
        text = render(dash, fmt)
    except AnalyticsFilterError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint=f"--{exc.param}") from None
    except JourneyError as exc:
        raise click.ClickException(str(exc)) from None
    if output == "-":
        sys.stdout.write(text)
        return
    path = Path(output) if output else settings.var_dir / "reports" / f"journey-report-{filters.start.date()}-{filters.end.date()}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if dash["empty"]:
        click.echo("no journey data for this period and these filters; the report says so", err=True)
    click.echo(str(path))


@click.command("simulate")
@click.option("--contacts", "contacts_n", type=click.IntRange(0, 1_000_000), default=200, show_default=True, help="Journeys to generate.")
@click.option("--seed", type=int, default=None, help="Random seed (default: a fixed one, so runs are reproducible).")
@click.option("--days", type=click.IntRange(1, 730), default=90, show_default=True, help="Spread first contacts over this many past days.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has contacts (for `make run`).")
def simulate(contacts_n: int, seed: int | None, days: int, if_empty: bool) -> None:
    """Generate demo journeys through the real journey store (stages, offers, feedback, referrals)."""
    from sqlalchemy import func, select

    from bot.services import build
    from journey_state.analytics.simulate import DEFAULT_SEED
    from journey_state.analytics.simulate import simulate as run
    from journey_state.store.tables import contacts

    try:
        services = build(load_settings())
    except JourneyError as exc:
        raise click.ClickException(str(exc)) from None
    store = services.store
    try:
        if if_empty:
            with store.read() as conn:
                existing = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
            if existing:
                click.echo(f"the database already has {existing} contact(s); no demo data added")
                return
        programs = services.programs
        with click.progressbar(length=contacts_n, label="simulating journeys", file=sys.stderr) as bar:
            last = [0]

            def progress(done: int, _total: int) -> None:
                bar.update(done - last[0])
                last[0] = done

            counts = run(store, programs, contacts_n, seed if seed is not None else DEFAULT_SEED, days, progress=progress)
    except JourneyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.close()
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()) + f" (as of {datetime.now().astimezone().isoformat(timespec='seconds')})")
