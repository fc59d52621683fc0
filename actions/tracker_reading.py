"""Turns a rasa_sdk Tracker into a journey_state Turn."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from rasa_sdk import Tracker

from journey_state.conversation import Turn

DEFAULT_CHANNEL = "rest"


def latest_user_event(tracker: Tracker) -> dict | None:
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event
    return None


def turn_from_tracker(tracker: Tracker) -> Turn:
    message = tracker.latest_message or {}
    event = latest_user_event(tracker) or {}
    intent = (message.get("intent") or {})
    timestamp = event.get("timestamp")
    at = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else datetime.now(timezone.utc)
    # Rasa gives every parsed message an id; fall back to the event time so a retried
    # action call for the same message is still recognised as the same signal.
    message_id = message.get("message_id") or event.get("message_id") or f"{tracker.sender_id}:{timestamp or uuid.uuid4().hex}"
    return Turn(
        channel=tracker.get_latest_input_channel() or DEFAULT_CHANNEL,
        sender_id=tracker.sender_id,
        message_id=str(message_id),
        text=message.get("text") or "",
        intent=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        at=at,
        emotion=(message.get("emotion") or {}).get("label") if isinstance(message.get("emotion"), dict) else None,
    )
