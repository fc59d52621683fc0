"""JourneyStore: the one entry point for journey reads and writes (one transaction per call).

Other store areas (handoffs, programs, staff users) and analytics build on its two public
units of work: `write(work)` runs `work(conn)` in one write transaction, retried when a
concurrent writer won a race, and `read()` gives a read-only connection. Both translate
database errors into StoreUnavailable (journey_state/store/errors.py).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from journey_state.business_events import BusinessEvent
from journey_state.engine import Signal, Source
from journey_state.identifiers import (
    MAX_EXTERNAL_ID,
    ChannelRef,
    ContactRef,
    identifier,
)
from journey_state.model import JourneyModel
from journey_state.store import contacts as contact_rows
from journey_state.store import erasure, events, identity, signals, views
from journey_state.store.contacts import now
from journey_state.store.db import READ_ONLY, connect_waiting
from journey_state.store.errors import StoreBusy, unavailable_as_error
from journey_state.store.events import EventConflict, EventOutcome
from journey_state.store.identity import MergeResult
from journey_state.store.signals import SignalOutcome, Touch
from journey_state.store.tables import contacts

T = TypeVar("T")
RETRIES = 3

__all__ = ["MAX_EXTERNAL_ID", "ChannelRef", "EventConflict", "EventOutcome", "JourneyStore", "MergeResult", "SignalOutcome", "Touch"]


class JourneyStore:
    """All journey reads and writes go through here."""

    def __init__(self, engine: Engine, model: JourneyModel):
        self.engine = engine
        self.model = model

    # -- writes ---------------------------------------------------------------

    def record_signal(self, who: ContactRef, signal: Signal, touch: Touch | None = None) -> SignalOutcome:
        """Apply a signal to the contact behind `who`, creating the contact if new.

        Replaying a signal id already applied to the contact changes nothing.
        """
        def work(conn: Connection) -> SignalOutcome:
            row = contact_rows.find_or_create(conn, self.model, who)
            return signals.apply(conn, self.model, row, signal, touch)

        return self.write(work)

    def record_event(self, event: BusinessEvent) -> EventOutcome:
        """Apply a business event once per idempotency key (EventConflict if the key was used for another event)."""
        return self.write(lambda conn: events.ingest(conn, self.model, event))

    def verify_identifier(self, who: ContactRef, kind: str, raw_value: str, source: str = "conversation") -> MergeResult | None:
        """The contact proved this email/phone; merges with the contact already holding it, if any."""
        ident = identifier(kind, raw_value)

        def work(conn: Connection) -> MergeResult | None:
            row = contact_rows.find_or_create(conn, self.model, who, source)
            return identity.verify(conn, self.model, row, ident, now(), source)

        return self.write(work)

    def verify_identifier_of(self, contact_uid: str, kind: str, raw_value: str, source: str = "event") -> MergeResult | None:
        """Like verify_identifier, for a contact known by its id."""
        ident = identifier(kind, raw_value)

        def work(conn: Connection) -> MergeResult | None:
            row = contact_rows.require(conn, contact_uid, lock=True)
            return identity.verify(conn, self.model, row, ident, now(), source)

        return self.write(work)

    def override_stage(self, contact_uid: str, stage: str, agent: str, reason: str = "") -> SignalOutcome:
        """An agent puts the contact into `stage`; recorded as agent evidence."""
        if not self.model.has_stage(stage):
            raise ValueError(f"unknown stage {stage!r} (stages: {', '.join(self.model.stage_ids)})")
        signal = Signal(
            id=f"agent:{uuid.uuid4().hex}",
            source=Source.AGENT,
            at=now(),
            target_stage=stage,
            excerpt=f"{agent}: {reason}" if reason else agent,
        )

        def work(conn: Connection) -> SignalOutcome:
            row = contact_rows.require(conn, contact_uid, lock=True)
            return signals.apply(conn, self.model, row, signal)

        return self.write(work)

    def mark_dormant(self, at: datetime | None = None, batch: int = 500) -> int:
        """Apply the inactivity signal to every contact quiet for longer than the model allows; returns how many became dormant."""
        if self.model.dormant_after is None:
            return 0
        at = at or now()
        cutoff = at - self.model.dormant_after
        changed, after_id = 0, 0
        while True:
            with self.read() as conn:
                ids = conn.execute(
                    select(contacts.c.id)
                    .where(contacts.c.id > after_id, contacts.c.dormant.is_(False), contacts.c.last_activity_at <= cutoff)
                    .order_by(contacts.c.id)
                    .limit(batch)
                ).scalars().all()
            if not ids:
                return changed
            for contact_id in ids:
                changed += self.write(partial(self._tick, contact_id=contact_id, at=at))
            after_id = ids[-1]

    def _tick(self, conn: Connection, contact_id: int, at: datetime) -> int:
        row = contact_rows.by_id(conn, contact_id, lock=True)
        if row is None or row.dormant or row.last_activity_at is None:
            return 0
        signal = Signal(id=f"time:dormant:{row.last_activity_at.isoformat()}", source=Source.TIME, at=at)
        outcome = signals.apply(conn, self.model, row, signal)
        return int(outcome.state.dormant)

    def erase(self, contact_uid: str) -> dict[str, Any]:
        """Delete the contact, its journey data and its Rasa conversations; returns a receipt."""
        return self.write(lambda conn: erasure.erase(conn, contact_rows.require(conn, contact_uid, lock=True)))

    # -- reads ----------------------------------------------------------------

    def contact_by_identity(self, who: ContactRef) -> dict[str, Any] | None:
        """The contact's current journey and its transitions, or None if unknown."""
        with self.read() as conn:
            row = contact_rows.find(conn, who)
            return None if row is None else views.contact_view(conn, self.model, row)

    def contact(self, contact_uid: str) -> dict[str, Any]:
        with self.read() as conn:
            return views.contact_view(conn, self.model, contact_rows.require(conn, contact_uid))

    def timeline(self, contact_uid: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            return views.timeline(conn, contact_rows.require(conn, contact_uid))

    def export(self, contact_uid: str) -> dict[str, Any]:
        with self.read() as conn:
            return views.export(conn, self.model, contact_rows.require(conn, contact_uid))

    # -- units of work -------------------------------------------------------

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work(conn)` in one write transaction and return its result.

        `work` may run more than once: when two writers created the same new identity at
        once (the loser finds the winner's contact on the next run), or when PostgreSQL
        aborted the transaction for a deadlock. It must not have effects outside `conn`.
        """
        for attempt in range(RETRIES):
            try:
                with unavailable_as_error(), connect_waiting(self.engine) as conn, conn.begin():
                    return work(conn)
            except IntegrityError:
                if attempt == RETRIES - 1:
                    raise
            except StoreBusy:
                if attempt == RETRIES - 1:
                    raise StoreBusy("journey database too busy (repeated deadlocks); try again") from None
        raise AssertionError("unreachable")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection (on SQLite it does not wait for writers)."""
        with unavailable_as_error(), connect_waiting(self.engine).execution_options(**{READ_ONLY: True}) as conn:
            yield conn
