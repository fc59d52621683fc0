"""JourneyStore: the one entry point for journey reads and writes (one transaction per call)."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from journey_state.business_events import BusinessEvent
from journey_state.engine import Signal, Source
from journey_state.errors import ContactNotFound, StoreUnavailable
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

        return self._write(work)

    def record_event(self, event: BusinessEvent) -> EventOutcome:
        """Apply a business event once per idempotency key (EventConflict if the key was used for another event)."""
        return self._write(lambda conn: events.ingest(conn, self.model, event))

    def verify_identifier(self, who: ContactRef, kind: str, raw_value: str, source: str = "conversation") -> MergeResult | None:
        """The contact proved this email/phone; merges with the contact already holding it, if any."""
        ident = identifier(kind, raw_value)

        def work(conn: Connection) -> MergeResult | None:
            row = contact_rows.find_or_create(conn, self.model, who, source)
            return identity.verify(conn, self.model, row, ident, now(), source)

        return self._write(work)

    def verify_identifier_of(self, contact_uid: str, kind: str, raw_value: str, source: str = "event") -> MergeResult | None:
        """Like verify_identifier, for a contact known by its id."""
        ident = identifier(kind, raw_value)

        def work(conn: Connection) -> MergeResult | None:
            row = self._require(conn, contact_uid, lock=True)
            return identity.verify(conn, self.model, row, ident, now(), source)

        return self._write(work)

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
            row = self._require(conn, contact_uid, lock=True)
            return signals.apply(conn, self.model, row, signal)

        return self._write(work)

    def mark_dormant(self, at: datetime | None = None, batch: int = 500) -> int:
        """Apply the inactivity signal to every contact quiet for longer than the model allows; returns how many became dormant."""
        if self.model.dormant_after is None:
            return 0
        at = at or now()
        cutoff = at - self.model.dormant_after
        changed, after_id = 0, 0
        while True:
            with self._connect() as conn:
                ids = conn.execute(
                    select(contacts.c.id)
                    .where(contacts.c.id > after_id, contacts.c.dormant.is_(False), contacts.c.last_activity_at <= cutoff)
                    .order_by(contacts.c.id)
                    .limit(batch)
                ).scalars().all()
            if not ids:
                return changed
            for contact_id in ids:
                changed += self._write(lambda conn, cid=contact_id: self._tick(conn, cid, at))
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
        return self._write(lambda conn: erasure.erase(conn, self._require(conn, contact_uid, lock=True)))

    # -- reads ----------------------------------------------------------------

    def contact_by_identity(self, who: ContactRef) -> dict[str, Any] | None:
        """The contact's current journey and its transitions, or None if unknown."""
        with self._connect() as conn:
            row = contact_rows.find(conn, who)
            return None if row is None else views.contact_view(conn, self.model, row)

    def contact(self, contact_uid: str) -> dict[str, Any]:
        with self._connect() as conn:
            return views.contact_view(conn, self.model, self._require(conn, contact_uid))

    def timeline(self, contact_uid: str) -> list[dict[str, Any]]:
        with self._connect() as conn:
            return views.timeline(conn, self._require(conn, contact_uid))

    def export(self, contact_uid: str) -> dict[str, Any]:
        with self._connect() as conn:
            return views.export(conn, self.model, self._require(conn, contact_uid))

    # -- plumbing -------------------------------------------------------------

    @staticmethod
    def _require(conn: Connection, contact_uid: str, lock: bool = False):
        row = contact_rows.by_uid(conn, contact_uid, lock)
        if row is None:
            raise ContactNotFound(f"no contact with id {contact_uid!r}")
        return row

    def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one write transaction (retried on a deadlock), for use cases that span stores."""
        return self._write(work)

    def _write(self, work: Callable[[Connection], T]) -> T:
        for attempt in range(RETRIES):
            try:
                with _unavailable_as_error():
                    with connect_waiting(self.engine) as conn, conn.begin():
                        return work(conn)
            except IntegrityError:
                # Two writers created the same new identity at once; the loser retries
                # and finds the winner's contact.
                if attempt == RETRIES - 1:
                    raise
            except _Retry:
                if attempt == RETRIES - 1:
                    raise StoreUnavailable("journey database too busy (repeated deadlocks); try again") from None
        raise AssertionError("unreachable")

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with _unavailable_as_error():
            with connect_waiting(self.engine).execution_options(**{READ_ONLY: True}) as conn:
                yield conn


class _Retry(Exception):
    """PostgreSQL aborted the transaction (deadlock or serialization failure); it is safe to run it again."""


RETRYABLE_PGCODES = frozenset({"40P01", "40001"})
NOT_MIGRATED = "the journey database has no journeybot tables; run `journeybot db upgrade`"


@contextmanager
def _unavailable_as_error() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) in RETRYABLE_PGCODES:
            raise _Retry() from exc
        if "no such table" in str(exc.orig):
            raise StoreUnavailable(NOT_MIGRATED) from None
        raise StoreUnavailable(f"journey database unavailable: {str(exc.orig).strip().splitlines()[0]}") from None
    except ProgrammingError as exc:
        if getattr(exc.orig, "pgcode", None) == "42P01":  # undefined table
            raise StoreUnavailable(NOT_MIGRATED) from None
        raise
