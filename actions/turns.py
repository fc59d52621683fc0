"""Recording a user message in the journey from any action (idempotent per message)."""
from __future__ import annotations

import logging

from rasa_sdk import Tracker

from actions import runtime
from actions.tracker_reading import turn_from_tracker
from journey_state.errors import StoreUnavailable

logger = logging.getLogger(__name__)


def record_turn(tracker: Tracker) -> str | None:
    """Record the current message in the journey; the stage, or None if the store is down."""
    try:
        _, stage, _, _ = runtime.services().conversation.record(turn_from_tracker(tracker))
        return stage
    except StoreUnavailable as exc:
        logger.error("journey store unavailable: %s", exc)
        return None


def answering_latest_message(tracker: Tracker) -> bool:
    """Whether this action runs in the turn of the customer's latest message.

    Not when the console started it (action_hand_back and the csat_form it opens, via
    /execute): the latest message then came while a person owned the chat (a pause or resume
    follows it), or its turn was already recorded by the action that answered it.
    """
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind in ("pause", "resume"):
            return False
    return False
