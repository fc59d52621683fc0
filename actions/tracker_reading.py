"""Turns a rasa_sdk Tracker into a journey_state Turn."""
from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Tracker

from journey_state.conversation import Turn
from journey_state.identifiers import ChannelRef, InvalidConversationId
from journey_state.text import clean_text

DEFAULT_CHANNEL = "rest"
MAX_RECENT_INTENTS = 10
# What "yes" and "no" mean right after the bot's last question, as its reply declared
# (replies.yml on_affirm / on_deny); set by the answering action, valid for one message.
PENDING_ANSWER_SLOT = "pending_answer"
YES_NO = ("affirm", "deny")


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


def domain_intents(domain: Any) -> frozenset[str]:
    """The intent names of a rasa_sdk domain dict (entries are names or one-key mappings)."""
    names = (domain or {}).get("intents", []) if isinstance(domain, dict) else []
    return frozenset(n if isinstance(n, str) else next(iter(n)) for n in names if isinstance(n, (str, dict)) and n)


def pending_answer(tracker: Tracker) -> dict[str, Any] | None:
    """The declared meanings of yes/no, if the bot's question was its last turn before this message."""
    value = tracker.get_slot(PENDING_ANSWER_SLOT)
    if not isinstance(value, dict) or value.get("user_turn") != len(_user_events(tracker)) - 1:
        return None
    return value


def with_declared_meaning(tracker: Tracker, turn: Turn, intents: Collection[str]) -> Turn:
    """A "yes"/"no" to the bot's own question becomes what the question declared.

    "Yes" to "Would you like to know what each plan includes?" is an ask_features turn, for
    the journey as for the answer; a target that is an answer but no intent ("what_else")
    keeps the affirm intent and only chooses the answer.
    """
    pending = pending_answer(tracker) if turn.intent in YES_NO else None
    target = pending.get(turn.intent) if pending and turn.intent else None
    if not isinstance(target, str) or target == "form":
        return turn
    return dataclasses.replace(turn, intent=target if target in intents else turn.intent, answer=target)


def turn_from_tracker(tracker: Tracker, intents: Collection[str] = ()) -> Turn:
    """The latest message as a journey turn; with the domain's `intents`, a yes/no resolves to its declared meaning."""
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
    turn = Turn(
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
    )
    return with_declared_meaning(tracker, turn, intents) if intents else turn

