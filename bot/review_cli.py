"""`journeybot nlu export-reviewed`: the labels admins gave unhandled messages, as data/nlu/reviewed.yml.

The file is training data like the others in data/nlu, so the model fingerprint changes and
the next `journeybot train` (or `journeybot up`) retrains with it.
"""
from __future__ import annotations

from pathlib import Path

import click

from bot.settings import load_settings
from journey_state.errors import JourneyError

SHOWN = 80  # characters of a skipped text in the report


@click.group("nlu")
def nlu() -> None:
    """NLU training data from real traffic."""


@nlu.command("export-reviewed")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Default: data/nlu/reviewed.yml of the project.")
def export_reviewed(out: Path | None) -> None:
    """Write the labelled unhandled messages as Rasa NLU data (held-out evaluation text is refused)."""
    from bot.services import build
    from journey_state.review.export import REVIEWED_FILE, build_export, domain_intents, training_examples
    from journey_state.review.heldout import shipped

    settings = load_settings()
    nlu_dir = settings.project_dir / "data" / "nlu"
    target = out or nlu_dir / REVIEWED_FILE
    try:
        services = build(settings)
    except JourneyError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        examples = services.reviews.examples()
    except JourneyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.close()
    intents = [i for i in domain_intents(settings.project_dir / "domain.yml") if i != "nlu_fallback"]
    export = build_export(examples, intents, shipped(), training_examples(nlu_dir, exclude=target.name))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(export.yaml(), encoding="utf-8")
    for intent in sorted(export.intents):
        click.echo(f"{intent}: {len(export.intents[intent])} example(s)")
    for skip in export.skipped:
        shown = skip.text if len(skip.text) <= SHOWN else skip.text[:SHOWN] + "..."
        click.echo(f"skipped ({skip.reason}): {shown!r} [{skip.label}]")
    click.echo(f"wrote {export.written} example(s) to {target}; skipped {len(export.skipped)}")
    if export.written:
        click.echo("run `journeybot train` to retrain with them")
