"""Business events: stored once per idempotency key and applied as journey signals."""
from __future__ import annotations

from dataclasses import dataclass, replace

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
        select(
            business_events.c.type,
            business_events.c.contact_id,
            business_events.c.occurred_at,
            business_events.c.payload,
            contacts.c.uid,
        )
        .join(contacts, contacts.c.id == business_events.c.contact_id)
        .where(business_events.c.idempotency_key == event.idempotency_key)
    ).first()
    row = contact_rows.find_or_create(conn, model, event.contact, source="event")
    if seen is not None:
        if seen.type != event.type or seen.contact_id != row.id:
            raise EventConflict(
                f"idempotency key {event.idempotency_key!r} was already used for a {seen.type} event of contact {seen.uid}"
            )
        same_time = seen.occurred_at == event.occurred_at or not event.occurred_at_given
        differs = [name for name, same in (("occurred_at", same_time), ("payload", seen.payload == dict(event.payload))) if not same]
        if differs:
            # A retry repeats the request exactly; anything else under the same key is a
            # client bug that must not be answered as if it had been applied.
            raise EventConflict(
                f"idempotency key {event.idempotency_key!r} was already used for this {seen.type} event with a different {' and '.join(differs)}"
            )
        return EventOutcome(SignalOutcome(row.uid, contact_rows.state_of(row), (), duplicate=True), duplicate=True)
    received_at = now()
    conn.execute(
        insert(business_events).values(
            idempotency_key=event.idempotency_key,
            type=event.type,
            contact_id=row.id,
            occurred_at=event.occurred_at,
            received_at=received_at,
            payload=dict(event.payload),
        )
    )
    signal = event.to_signal()
    # The event keeps the shop's time; the journey does not: a clock a little ahead must not
    # put last_activity_at (and so dormancy) in the future.
    signal = replace(signal, at=min(signal.at, received_at))
    return EventOutcome(apply(conn, model, row, signal), duplicate=False)
