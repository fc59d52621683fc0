"""Unhandled messages recorded through the real conversation recorder (tests of the review loop)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count

from journey_state.conversation import Conversation, Turn

START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
_ids = count(1)


def say(conversation: Conversation, sender: str, text: str, intent: str | None, confidence: float,
        minutes: int = 0, channel: str = "rest") -> None:
    n = next(_ids)
    conversation.record(Turn(channel, sender, f"m{n}-{sender}", text, intent, confidence, START + timedelta(minutes=minutes)))
