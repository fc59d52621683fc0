"""`journeybot check`: every configuration file validated, as the processes will load it at start."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.channels.whatsapp.cloud.config import load_whatsapp_config
from bot.settings import Settings
from journey_state.business_config import BusinessConfig, load_business_config
from journey_state.model import JourneyModel, load_named_model

WHATSAPP_FILE = "whatsapp.yml"


@dataclass(frozen=True)
class CheckReport:
    model: JourneyModel
    config: BusinessConfig
    files: tuple[Path, ...]

    def summary(self) -> str:
        return (
            f"journey model {self.model.id!r} ({len(self.model.stages)} stages) and business configuration are valid"
            f" ({len(self.files)} files)"
        )


def check_configuration(settings: Settings) -> CheckReport:
    """Load the configured journey model and all business and channel configuration; raise on the first error."""
    model = load_named_model(settings.journeys_dir, settings.journey_model)
    config = load_business_config(settings.business_dir, settings.journeys_dir)
    files = config.files
    whatsapp = settings.business_dir / WHATSAPP_FILE
    if whatsapp.exists():
        load_whatsapp_config(whatsapp)
        files = (*files, whatsapp)
    return CheckReport(model, config, files)
