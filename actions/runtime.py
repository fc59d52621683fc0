"""Builds the journey services for the action server once, on first use (not at import)."""
from __future__ import annotations

import threading

from bot.settings import load_settings
from journey_state.conversation import TurnHandler
from journey_state.model import all_stage_ids, load_named_model
from journey_state.replies import load_replies
from journey_state.store import JourneyStore, make_engine

_lock = threading.Lock()
_handler: TurnHandler | None = None


def turn_handler() -> TurnHandler:
    global _handler
    with _lock:
        if _handler is None:
            settings = load_settings()
            model = load_named_model(settings.journeys_dir, settings.journey_model)
            store = JourneyStore(make_engine(settings.database_url), model)
            _handler = TurnHandler(store, load_replies(settings.business_dir, all_stage_ids(settings.journeys_dir)))
        return _handler


def reset() -> None:
    """Forget the cached services (tests switch databases)."""
    global _handler
    with _lock:
        _handler = None
