"""Applying one signal to a locked contact: engine decision, transitions, touchpoint."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from journey_state.engine import ContactState, Signal, Transition, decide
from journey_state.model import JourneyModel
from journey_state.store.contacts import now, state_of
from journey_state.store.tables import applied_signals, contacts, touchpoints, transitions

EXCERPT_STORED = 500


@dataclass(frozen=True)
class Touch:
    """What a conversation turn adds to the touchpoint log."""

    channel: str
    message_id: str | None
    intent: str | None
    confidence: float | None
    emotion: str | None
    excerpt: str


@dataclass(frozen=True)
class SignalOutcome:
    contact_uid: str
    state: ContactState
    transitions: tuple[Transition, ...]
    duplicate: bool


def already_applied(conn: Connection, contact_id: int, signal_id: str) -> bool:
    return (
        conn.execute(
            select(applied_signals.c.signal_id).where(
                applied_signals.c.contact_id == contact_id, applied_signals.c.signal_id == signal_id
            )
        ).first()
        is not None
    )


def claim_signal(conn: Connection, contact_id: int, signal_id: str, at: datetime) -> bool:
    """Record the signal id as applied to the contact; False if it already was (a replay).

    One INSERT ... ON CONFLICT DO NOTHING instead of a lookup plus an insert: this runs on
    every chat turn, under the contact's lock.
    """
    dialect_insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}.get(conn.dialect.name)
    if dialect_insert is None:
        if already_applied(conn, contact_id, signal_id):
            return False
        conn.execute(insert(applied_signals).values(contact_id=contact_id, signal_id=signal_id, at=at))
        return True
    statement = dialect_insert(applied_signals).values(contact_id=contact_id, signal_id=signal_id, at=at)
    inserted: int = conn.execute(statement.on_conflict_do_nothing()).rowcount
    return inserted == 1


def insert_transitions(conn: Connection, contact_id: int, items: tuple[Transition, ...] | list[Transition]) -> None:
    if items:
        conn.execute(
            insert(transitions),
            [
                {"contact_id": contact_id, "kind": t.kind, "from_value": t.from_value, "to_value": t.to_value, "at": t.at, **t.evidence.as_dict()}
                for t in items
            ],
        )


def save_state(conn: Connection, contact_id: int, state: ContactState) -> None:
    conn.execute(
        update(contacts)
        .where(contacts.c.id == contact_id)
        .values(
            stage=state.stage,
            at_risk=state.at_risk,
            dormant=state.dormant,
            last_activity_at=state.last_activity_at,
            updated_at=now(),
        )
    )


def apply(conn: Connection, model: JourneyModel, row: Row, signal: Signal, touch: Touch | None = None) -> SignalOutcome:
    """Apply `signal` to the contact in `row`, which the caller has locked. Replays change nothing."""
    state = state_of(row)
    if not claim_signal(conn, row.id, signal.id, signal.at):
        return SignalOutcome(row.uid, state, (), duplicate=True)
    decision = decide(model, state, signal)
    if decision.state != state:
        save_state(conn, row.id, decision.state)
    insert_transitions(conn, row.id, decision.transitions)
    if touch is not None:
        conn.execute(
            insert(touchpoints).values(
                contact_id=row.id,
                channel=touch.channel,
                message_id=touch.message_id,
                intent=touch.intent,
                confidence=touch.confidence,
                emotion=touch.emotion,
                stage=decision.state.stage,
                excerpt=touch.excerpt[:EXCERPT_STORED],
                at=signal.at,
            )
        )
    return SignalOutcome(row.uid, decision.state, decision.transitions, duplicate=False)
