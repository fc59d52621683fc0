"""NPS and CSAT answers of a contact and the journey signals they apply, inside the caller's transaction.

An answer is stored once per `reference` (its signal id is `feedback:<kind>:<reference>`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Row

from journey_state.engine import Source
from journey_state.feedback import NPS, Score, feedback_signal
from journey_state.model import JourneyModel
from journey_state.store import contacts as contact_rows
from journey_state.store.signals import SignalOutcome, already_applied, apply
from journey_state.store.tables import business_events, feedback, handoffs

MAX_COMMENT = 2000
RECENT_REVIEWS = 20


@dataclass(frozen=True)
class FeedbackOutcome:
    contact_uid: str
    score: Score
    feedback_id: int | None  # None on a replay
    signal: SignalOutcome
    duplicate: bool


def record_feedback(
    conn: Connection,
    model: JourneyModel,
    row: Row,
    answer: Score,
    reference: str,
    at: datetime,
    comment: str | None = None,
    channel: str | None = None,
    handoff_id: int | None = None,
    source: Source = Source.CONVERSATION,
) -> FeedbackOutcome:
    """Store a validated answer and apply its signal (nps_promoter, csat_low, ...) to the contact."""
    signal = feedback_signal(answer, f"feedback:{answer.kind}:{reference}", at, source, comment or "")
    if already_applied(conn, row.id, signal.id):
        return FeedbackOutcome(row.uid, answer, None, SignalOutcome(row.uid, contact_rows.state_of(row), (), True), True)
    if handoff_id is not None and conn.execute(select(handoffs.c.id).where(handoffs.c.id == handoff_id)).first() is None:
        raise ValueError(f"no handoff with id {handoff_id}")
    feedback_id = conn.execute(
        insert(feedback).values(
            contact_id=row.id,
            kind=answer.kind,
            score=answer.value,
            comment=(comment or "").strip()[:MAX_COMMENT] or None,
            stage=row.stage,  # the stage they were in when they answered
            channel=channel,
            handoff_id=handoff_id,
            at=at,
        )
    ).inserted_primary_key[0]
    return FeedbackOutcome(row.uid, answer, feedback_id, apply(conn, model, row, signal), False)


def latest_nps(conn: Connection, contact_id: int) -> int | None:
    value: int | None = conn.execute(
        select(feedback.c.score)
        .where(feedback.c.contact_id == contact_id, feedback.c.kind == NPS)
        .order_by(feedback.c.at.desc(), feedback.c.id.desc())
        .limit(1)
    ).scalar()
    return value


def latest_review_rating(conn: Connection, contact_id: int) -> int | None:
    """The rating of the contact's latest review_posted event that has one."""
    payloads = conn.execute(
        select(business_events.c.payload)
        .where(business_events.c.contact_id == contact_id, business_events.c.type == "review_posted")
        .order_by(business_events.c.occurred_at.desc(), business_events.c.id.desc())
        .limit(RECENT_REVIEWS)
    ).scalars()
    for payload in payloads:
        rating = payload.get("rating") if isinstance(payload, dict) else None
        if isinstance(rating, int) and not isinstance(rating, bool):
            return rating
    return None
