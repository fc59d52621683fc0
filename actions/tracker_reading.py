"""Turns a rasa_sdk Tracker into a journey_state Turn."""
from __future__ import annotations

from datetime import datetime, timezone

from rasa_sdk import Tracker

from journey_state.conversation import Turn
from journey_state.identifiers import ChannelRef, InvalidConversationId
from journey_state.text import clean_text

DEFAULT_CHANNEL = "rest"
MAX_RECENT_INTENTS = 10


def _user_events(tracker: Tracker) -> list[dict]:
    return [e for e in tracker.events if e.get("event") == "user"]


def channel_identity(tracker: Tracker) -> ChannelRef:
    """Who the conversation is with: its id names the channel and the sender ("whatsapp:+4915...").

    A conversation opened through Rasa's own HTTP API (token-protected) may have a bare id; it
    belongs to the channel it was last used on.
    """
    try:
        return ChannelRef.from_conversation_id(tracker.sender_id)
    except InvalidConversationId:
        return ChannelRef(tracker.get_latest_input_channel() or DEFAULT_CHANNEL, tracker.sender_id)


def turn_from_tracker(tracker: Tracker) -> Turn:
    message = tracker.latest_message or {}
    users = _user_events(tracker)
    event = users[-1] if users else {}
    intent = message.get("intent") or {}
    timestamp = event.get("timestamp")
    at = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else datetime.now(timezone.utc)
    # Rasa gives every parsed message an id; the sender and event time identify a message
    # just as well when it has none, so a retried action still replays the same signal.
    message_id = message.get("message_id") or event.get("message_id") or f"{tracker.sender_id}:{timestamp}"
    emotion = message.get("emotion")
    recent = [(u.get("parse_data") or {}).get("intent", {}).get("name") for u in users[:-1][-MAX_RECENT_INTENTS:]]
    who = channel_identity(tracker)
    entities = message.get("entities") or []
    products = [e.get("value") for e in entities if isinstance(e, dict) and e.get("entity") == "product"]
    return Turn(
        channel=who.channel,
        sender_id=who.external_id,
        message_id=str(message_id),
        # Channels clean text before Rasa; Rasa's own HTTP API does not, and a journey store
        # that cannot write the text would lose the whole turn.
        text=clean_text(message.get("text") or ""),
        intent=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        at=at,
        emotion=emotion.get("label") if isinstance(emotion, dict) else None,
        recent_intents=tuple(i for i in recent if i),
        products=tuple(p for p in products if isinstance(p, str)),
    )

