"""JourneyStore: applies signals to contacts transactionally and reads journeys back."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from journey_state.engine import ContactState, Signal, Transition, decide, initial_state
from journey_state.errors import StoreUnavailable
from journey_state.model import JourneyModel
from journey_state.store.db import is_sqlite
from journey_state.store.tables import (
    applied_signals,
    channel_identities,
    contacts,
    touchpoints,
    transitions,
)

MAX_EXTERNAL_ID = 255


@dataclass(frozen=True)
class ChannelRef:
    """A contact's identity on one channel, e.g. ('telegram', '12345')."""

    channel: str
    external_id: str

    def __post_init__(self):
        if not self.channel or not self.external_id:
            raise ValueError("channel and external id are required")
        if len(self.external_id) > MAX_EXTERNAL_ID:
            raise ValueError(f"external id longer than {MAX_EXTERNAL_ID} characters")


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


def _now() -> datetime:
    return datetime.now(timezone.utc)


class JourneyStore:
    """All journey reads and writes go through here; one transaction per signal."""

    def __init__(self, engine: Engine, model: JourneyModel):
        self.engine = engine
        self.model = model

    # -- writes ---------------------------------------------------------------

    def record_signal(self, who: ChannelRef, signal: Signal, touch: Touch | None = None) -> SignalOutcome:
        """Apply a signal to the contact behind `who`, creating the contact if new.

        Replaying a signal id already applied to the contact changes nothing.
        """
        for attempt in range(3):
            try:
                with self._begin() as conn:
                    return self._record(conn, who, signal, touch)
            except IntegrityError:
                # Two workers created the same new identity at once; the loser retries
                # and finds the winner's contact.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _record(self, conn: Connection, who: ChannelRef, signal: Signal, touch: Touch | None) -> SignalOutcome:
        row = self._lock_contact_by_identity(conn, who)
        if row is None:
            row = self._create_contact(conn, who, signal.at)
        state = ContactState(
            stage=row.stage,
            at_risk=row.at_risk,
            dormant=row.dormant,
            last_activity_at=row.last_activity_at,
        )
        seen = conn.execute(
            select(applied_signals.c.signal_id).where(
                applied_signals.c.contact_id == row.id, applied_signals.c.signal_id == signal.id
            )
        ).first()
        if seen is not None:
            return SignalOutcome(row.uid, state, (), duplicate=True)

        decision = decide(self.model, state, signal)
        new = decision.state
        conn.execute(
            update(contacts)
            .where(contacts.c.id == row.id)
            .values(
                stage=new.stage,
                at_risk=new.at_risk,
                dormant=new.dormant,
                last_activity_at=new.last_activity_at,
                updated_at=_now(),
            )
        )
        conn.execute(insert(applied_signals).values(contact_id=row.id, signal_id=signal.id, at=signal.at))
        if decision.transitions:
            conn.execute(
                insert(transitions),
                [
                    {
                        "contact_id": row.id,
                        "kind": t.kind,
                        "from_value": t.from_value,
                        "to_value": t.to_value,
                        "at": t.at,
                        **t.evidence.as_dict(),
                    }
                    for t in decision.transitions
                ],
            )
        if touch is not None:
            conn.execute(
                insert(touchpoints).values(
                    contact_id=row.id,
                    channel=touch.channel,
                    message_id=touch.message_id,
                    intent=touch.intent,
                    confidence=touch.confidence,
                    emotion=touch.emotion,
                    stage=new.stage,
                    excerpt=touch.excerpt[:500],
                    at=signal.at,
                )
            )
        return SignalOutcome(row.uid, new, decision.transitions, duplicate=False)

    def _lock_contact_by_identity(self, conn: Connection, who: ChannelRef):
        query = (
            select(contacts)
            .join(channel_identities, channel_identities.c.contact_id == contacts.c.id)
            .where(channel_identities.c.channel == who.channel, channel_identities.c.external_id == who.external_id)
        )
        if not is_sqlite(self.engine):  # SQLite is already locked by BEGIN IMMEDIATE
            query = query.with_for_update(of=contacts)
        return conn.execute(query).first()

    def _create_contact(self, conn: Connection, who: ChannelRef, at: datetime):
        now = _now()
        state = initial_state(self.model)
        contact_id = conn.execute(
            insert(contacts).values(
                uid=uuid.uuid4().hex,
                journey_model=self.model.id,
                stage=state.stage,
                at_risk=False,
                dormant=False,
                created_at=now,
                updated_at=now,
                last_activity_at=None,
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(channel_identities).values(
                contact_id=contact_id, channel=who.channel, external_id=who.external_id, created_at=now
            )
        )
        return conn.execute(select(contacts).where(contacts.c.id == contact_id)).first()

    # -- reads ----------------------------------------------------------------

    def contact_by_identity(self, who: ChannelRef) -> dict[str, Any] | None:
        """The contact's current journey and its transitions, or None if unknown."""
        with self._connect() as conn:
            row = conn.execute(
                select(contacts)
                .join(channel_identities, channel_identities.c.contact_id == contacts.c.id)
                .where(
                    channel_identities.c.channel == who.channel,
                    channel_identities.c.external_id == who.external_id,
                )
            ).first()
            if row is None:
                return None
            return self._view(conn, row)

    def _view(self, conn: Connection, row) -> dict[str, Any]:
        identities = conn.execute(
            select(channel_identities.c.channel, channel_identities.c.external_id)
            .where(channel_identities.c.contact_id == row.id)
            .order_by(channel_identities.c.id)
        ).all()
        history = conn.execute(
            select(transitions).where(transitions.c.contact_id == row.id).order_by(transitions.c.at, transitions.c.id)
        ).all()
        stage = self.model.stage(row.stage) if self.model.has_stage(row.stage) else None
        return {
            "id": row.uid,
            "journey_model": row.journey_model,
            "stage": row.stage,
            "stage_label": stage.label if stage else row.stage,
            "at_risk": bool(row.at_risk),
            "dormant": bool(row.dormant),
            "created_at": _iso(row.created_at),
            "last_activity_at": _iso(row.last_activity_at),
            "identities": [{"channel": c, "external_id": e} for c, e in identities],
            "transitions": [
                {
                    "kind": t.kind,
                    "from": t.from_value,
                    "to": t.to_value,
                    "at": _iso(t.at),
                    "evidence": {
                        "signal_type": t.signal_type,
                        "source": t.source,
                        "signal_id": t.signal_id,
                        "excerpt": t.excerpt,
                        "confidence": t.confidence,
                        "rule": t.rule,
                    },
                }
                for t in history
            ],
        }

    # -- plumbing -------------------------------------------------------------

    def _begin(self):
        return _translate_errors(self.engine.begin)

    def _connect(self):
        # Pass the factory, not its result: Engine.connect() opens the connection
        # immediately, so calling it here would escape the translation below.
        return _translate_errors(self.engine.connect)


class _translate_errors:
    """Turns 'database unreachable' into StoreUnavailable with a clear message."""

    def __init__(self, open_ctx):
        self.open_ctx = open_ctx
        self.ctx = None

    def __enter__(self):
        try:
            self.ctx = self.open_ctx()
            return self.ctx.__enter__()
        except OperationalError as exc:
            raise StoreUnavailable(f"journey database unavailable: {exc.orig}") from None

    def __exit__(self, *exc_info):
        return self.ctx.__exit__(*exc_info)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


