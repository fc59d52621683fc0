"""Recording a business event: its journey signal and the loyalty points it earns, in one transaction.

An entry point for events (the HTTP API, a future webhook) records them here, so an event
never lands without its points, nor points without their event, whoever calls.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from journey_state.business_events import BusinessEvent
from journey_state.checkout.links import mark_paid
from journey_state.loyalty import LoyaltySettings
from journey_state.store import JourneyStore
from journey_state.store import contacts as contact_rows
from journey_state.store.events import EventOutcome, ingest
from journey_state.store.loyalty_points import LedgerOutcome, credit_for_event


@dataclass(frozen=True)
class RecordedEvent:
    event: EventOutcome
    points: LedgerOutcome

    @property
    def duplicate(self) -> bool:
        return self.event.duplicate


class EventIngestion:
    """The use case behind POST /api/events."""

    def __init__(self, store: JourneyStore, loyalty: LoyaltySettings) -> None:
        self.store = store
        self.loyalty = loyalty

    def record(self, event: BusinessEvent) -> RecordedEvent:
        """Apply `event` once per idempotency key and credit its points once per order (EventConflict on a reused key).

        A replay still runs the crediting: it is idempotent per order reference, and it
        returns the balance the first answer gave.
        """

        def work(conn: Connection) -> RecordedEvent:
            applied = ingest(conn, self.store.model, event)
            row = contact_rows.find_or_create(conn, self.store.model, event.contact, source="event")
            ref = event.payload.get("checkout_ref")
            if event.type == "order_paid" and isinstance(ref, str) and not applied.duplicate:
                order_id = event.payload.get("order_id")
                mark_paid(conn, self.store.model, ref, order_id if isinstance(order_id, str) else None, event.occurred_at)
            return RecordedEvent(applied, credit_for_event(conn, self.loyalty, row, event))

        return self.store.write(work)
