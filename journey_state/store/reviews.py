"""Messages the bot did not understand, and the labels admins give them (the review loop).

A message is unhandled when its touchpoint's intent is a fallback (`nlu_fallback`,
`out_of_scope`) or its confidence is below the journey model's `min_intent_confidence`:
below that the message never counted for the journey, so it is exactly the traffic the
model should learn from. Clarification questions are asked at such middling confidences,
so they are listed too. Labelled touchpoints leave the list.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.engine import Connection

from journey_state.store.contacts import now
from journey_state.store.repository import JourneyStore
from journey_state.store.review_tables import reviewed_messages
from journey_state.store.tables import touchpoints

FALLBACK_INTENTS = ("nlu_fallback", "out_of_scope")
OUT_OF_SCOPE = "out_of_scope"
MAX_LABEL = 64
# The newest unhandled messages considered for one page of groups: grouping is quadratic,
# and an admin works through the recent traffic first.
DEFAULT_WINDOW = 2000


class ReviewError(ValueError):
    """A label that cannot be stored; the message says why."""


@dataclass(frozen=True)
class UnhandledMessage:
    touchpoint_id: int
    text: str
    intent: str | None
    confidence: float | None
    channel: str
    stage: str
    at: datetime

    @property
    def reason(self) -> str:
        if self.intent == "nlu_fallback":
            return "fallback"
        if self.intent == OUT_OF_SCOPE:
            return "out of scope"
        return "low confidence"


@dataclass(frozen=True)
class ReviewedExample:
    text: str
    label: str
    at: datetime


def unhandled(conn: Connection, min_confidence: float, window: int = DEFAULT_WINDOW) -> list[UnhandledMessage]:
    """The newest unlabelled unhandled messages, newest first."""
    query = (
        select(touchpoints.c.id, touchpoints.c.excerpt, touchpoints.c.intent, touchpoints.c.confidence,
               touchpoints.c.channel, touchpoints.c.stage, touchpoints.c.at)
        .select_from(touchpoints.outerjoin(reviewed_messages, reviewed_messages.c.touchpoint_id == touchpoints.c.id))
        .where(
            reviewed_messages.c.id.is_(None),
            touchpoints.c.excerpt != "",
            or_(touchpoints.c.intent.in_(FALLBACK_INTENTS), and_(touchpoints.c.confidence.isnot(None), touchpoints.c.confidence < min_confidence)),
        )
        .order_by(touchpoints.c.at.desc(), touchpoints.c.id.desc())
        .limit(window)
    )
    return [UnhandledMessage(r.id, r.excerpt, r.intent, r.confidence, r.channel, r.stage, r.at) for r in conn.execute(query)]


def label(conn: Connection, touchpoint_ids: Collection[int], value: str, reviewer: str, at: datetime | None = None) -> int:
    """Give every one of these touchpoints the label (a later label replaces an earlier one); how many exist."""
    if not value or len(value) > MAX_LABEL:
        raise ReviewError(f"a label is 1-{MAX_LABEL} characters")
    ids = sorted(set(touchpoint_ids))
    found = [r.id for r in conn.execute(select(touchpoints.c.id).where(touchpoints.c.id.in_(ids)))] if ids else []
    if not found:
        raise ReviewError("none of these messages exists any more (erased?); reload the page")
    conn.execute(delete(reviewed_messages).where(reviewed_messages.c.touchpoint_id.in_(found)))
    stamp = at or now()
    conn.execute(insert(reviewed_messages), [{"touchpoint_id": i, "label": value, "reviewer": reviewer[:MAX_LABEL], "at": stamp} for i in found])
    return len(found)


def examples(conn: Connection) -> list[ReviewedExample]:
    """Every labelled message with its label, oldest label first (so later labels win when deduplicated)."""
    query = (
        select(touchpoints.c.excerpt, reviewed_messages.c.label, reviewed_messages.c.at)
        .select_from(reviewed_messages.join(touchpoints, touchpoints.c.id == reviewed_messages.c.touchpoint_id))
        .order_by(reviewed_messages.c.at, reviewed_messages.c.id)
    )
    return [ReviewedExample(r.excerpt, r.label, r.at) for r in conn.execute(query)]


class ReviewStore:
    """The review loop's reads and writes, each one transaction of the journey store."""

    def __init__(self, store: JourneyStore):
        self.store = store

    def unhandled(self, window: int = DEFAULT_WINDOW) -> list[UnhandledMessage]:
        with self.store.read() as conn:
            return unhandled(conn, self.store.model.min_intent_confidence, window)

    def label(self, touchpoint_ids: Sequence[int], value: str, reviewer: str) -> int:
        return self.store.write(lambda conn: label(conn, touchpoint_ids, value, reviewer))

    def examples(self) -> list[ReviewedExample]:
        with self.store.read() as conn:
            return examples(conn)
