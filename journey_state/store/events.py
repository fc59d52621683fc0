"""Business events: stored once per idempotency key and applied as journey signals."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from journey_state.business_events import BusinessEvent
from journey_state.model import JourneyModel
from journey_state.store import contacts as contact_rows
from journey_state.store.contacts import now
from journey_state.store.signals import SignalOutcome, apply
from journey_state.store.tables import business_events, contacts


class EventConflict(ValueError):
    """The idempotency key was already used for a different event."""


@dataclass(frozen=True)
class EventOutcome:
    outcome: SignalOutcome
    duplicate: bool


def ingest(conn: Connection, model: JourneyModel, event: BusinessEvent) -> EventOutcome:
    """Apply `event` once. A replay of the same key returns the contact's state; a different event under that key raises."""
    seen = conn.execute(
        select(business_events.c.type, business_events.c.contact_id, contacts.c.uid)
        .join(contacts, contacts.c.id == business_events.c.contact_id)
        .where(business_events.c.idempotency_key == event.idempotency_key)
    ).first()
    row = contact_rows.find_or_create(conn, model, event.contact, source="event")
    if seen is not None:
        if seen.type != event.type or seen.contact_id != row.id:
            raise EventConflict(
                f"idempotency key {event.idempotency_key!r} was already used for a {seen.type} event of contact {seen.uid}"
            )
        return EventOutcome(SignalOutcome(row.uid, contact_rows.state_of(row), (), duplicate=True), duplicate=True)
    conn.execute(
        insert(business_events).values(
            idempotency_key=event.idempotency_key,
            type=event.type,
            contact_id=row.id,
            occurred_at=event.occurred_at,
            received_at=now(),
            payload=dict(event.payload),
        )
    )
    return EventOutcome(apply(conn, model, row, event.to_signal()), duplicate=False)
