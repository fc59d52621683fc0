"""Offer impressions and redemptions of a contact, inside the caller's transaction.

Idempotent on replay: one impression per (offer, time), one redemption per offer and contact.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Row

from journey_state.feedback import CSAT, CSAT_LOW_MAX, DETRACTOR_MAX, NPS
from journey_state.offers import (
    EVENT_KINDS,
    SHOWN,
    Offer,
    OfferCatalog,
    OfferContext,
    OfferEvent,
    choose_offer,
)
from journey_state.store.tables import feedback, offer_events, touchpoints

COMPLAINT_INTENTS = frozenset({"complaint"})


@dataclass(frozen=True)
class OfferRecord:
    contact_uid: str
    offer_id: str
    kind: str  # shown | redeemed
    at: datetime
    duplicate: bool


def offer_history(conn: Connection, contact_id: int) -> tuple[OfferEvent, ...]:
    rows = conn.execute(
        select(offer_events.c.offer_id, offer_events.c.kind, offer_events.c.at)
        .where(offer_events.c.contact_id == contact_id)
        .order_by(offer_events.c.at, offer_events.c.id)
    ).all()
    return tuple(OfferEvent(r.offer_id, r.kind, r.at) for r in rows)


def last_complaint_at(conn: Connection, contact_id: int) -> datetime | None:
    """The latest complaint: a complaint intent in chat, a detractor NPS or a low CSAT."""
    said = conn.execute(
        select(func.max(touchpoints.c.at)).where(touchpoints.c.contact_id == contact_id, touchpoints.c.intent.in_(COMPLAINT_INTENTS))
    ).scalar()
    rated = conn.execute(
        select(func.max(feedback.c.at)).where(
            feedback.c.contact_id == contact_id,
            ((feedback.c.kind == NPS) & (feedback.c.score <= DETRACTOR_MAX)) | ((feedback.c.kind == CSAT) & (feedback.c.score <= CSAT_LOW_MAX)),
        )
    ).scalar()
    times = [t for t in (said, rated) if t is not None]
    return max(times) if times else None


def offer_context(conn: Connection, row: Row, channel: str | None) -> OfferContext:
    return OfferContext(
        stage=row.stage,
        persona=row.persona,
        channel=channel,
        at_risk=bool(row.at_risk),
        last_complaint_at=last_complaint_at(conn, row.id),
    )


def record_offer_event(conn: Connection, row: Row, offer_id: str, kind: str, channel: str | None, at: datetime) -> OfferRecord:
    """An impression (once per offer and time) or a redemption (once per offer)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown offer event {kind!r} (use {', '.join(EVENT_KINDS)})")
    seen = select(offer_events.c.id).where(
        offer_events.c.contact_id == row.id, offer_events.c.offer_id == offer_id, offer_events.c.kind == kind
    )
    if kind == SHOWN:
        seen = seen.where(offer_events.c.at == at)
    if conn.execute(seen.limit(1)).first() is not None:
        return OfferRecord(row.uid, offer_id, kind, at, duplicate=True)
    conn.execute(
        insert(offer_events).values(contact_id=row.id, offer_id=offer_id, kind=kind, stage=row.stage, channel=channel, at=at)
    )
    return OfferRecord(row.uid, offer_id, kind, at, duplicate=False)


def present_offer(conn: Connection, catalog: OfferCatalog, row: Row, channel: str | None, at: datetime) -> Offer | None:
    """Choose an offer and record its impression. A replay at the same `at` returns the same offer."""
    replay = conn.execute(
        select(offer_events.c.offer_id).where(
            offer_events.c.contact_id == row.id, offer_events.c.kind == SHOWN, offer_events.c.at == at
        ).order_by(offer_events.c.id)
    ).scalar()
    if replay is not None and replay in catalog.ids:
        return catalog.get(replay)
    offer = choose_offer(catalog, offer_context(conn, row, channel), offer_history(conn, row.id), at)
    if offer is not None:
        record_offer_event(conn, row, offer.id, SHOWN, channel, at)
    return offer
