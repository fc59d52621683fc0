"""The loyalty points ledger of a contact, inside the caller's transaction.

Every credit is idempotent on its reference: order points `order:<order_id>`, their
reversal `order:<order_id>:reversed`, referral rewards `referral:<code>:<referred uid>`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Row

from journey_state.business_events import BusinessEvent
from journey_state.loyalty import (
    LoyaltySettings,
    order_reference,
    points_for_order,
    reversal_reference,
)
from journey_state.store.tables import loyalty_ledger


@dataclass(frozen=True)
class LedgerEntry:
    points: int
    reason: str
    reference: str
    at: datetime


@dataclass(frozen=True)
class LedgerOutcome:
    contact_uid: str
    points: int  # credited now (negative for a reversal); 0 when nothing was due or on a replay
    reference: str | None
    duplicate: bool
    balance: int


@dataclass(frozen=True)
class PointsSummary:
    contact_uid: str | None  # None: we do not know this contact yet
    balance: int
    recent: tuple[LedgerEntry, ...]


def credit(conn: Connection, contact_id: int, points: int, reason: str, reference: str, at: datetime) -> bool:
    """Add a ledger entry once per (contact, reference); False if it was already there."""
    exists = conn.execute(
        select(loyalty_ledger.c.id).where(loyalty_ledger.c.contact_id == contact_id, loyalty_ledger.c.reference == reference)
    ).first()
    if exists is not None:
        return False
    conn.execute(insert(loyalty_ledger).values(contact_id=contact_id, points=points, reason=reason, reference=reference, at=at))
    return True


def balance(conn: Connection, contact_id: int) -> int:
    return int(conn.execute(select(func.coalesce(func.sum(loyalty_ledger.c.points), 0)).where(loyalty_ledger.c.contact_id == contact_id)).scalar())


def recent_entries(conn: Connection, contact_id: int, limit: int = 5) -> tuple[LedgerEntry, ...]:
    rows = conn.execute(
        select(loyalty_ledger.c.points, loyalty_ledger.c.reason, loyalty_ledger.c.reference, loyalty_ledger.c.at)
        .where(loyalty_ledger.c.contact_id == contact_id)
        .order_by(loyalty_ledger.c.at.desc(), loyalty_ledger.c.id.desc())
        .limit(limit)
    ).all()
    return tuple(LedgerEntry(r.points, r.reason, r.reference, r.at) for r in rows)


def ledger_points(conn: Connection, contact_id: int, reference: str) -> int | None:
    points: int | None = conn.execute(
        select(loyalty_ledger.c.points).where(loyalty_ledger.c.contact_id == contact_id, loyalty_ledger.c.reference == reference)
    ).scalar()
    return points


def credit_for_event(conn: Connection, settings: LoyaltySettings, row: Row, event: BusinessEvent) -> LedgerOutcome:
    """Points for a purchase event, or the reversal of an order's points on a refund; idempotent."""
    earned_ref, reversed_ref = order_reference(event), reversal_reference(event)
    if event.type in settings.earn_on:
        points = points_for_order(settings, event.type, event.payload)
        if points <= 0:
            return LedgerOutcome(row.uid, 0, None, False, balance(conn, row.id))
        if ledger_points(conn, row.id, reversed_ref) is not None:  # refunded before we heard it was paid
            return LedgerOutcome(row.uid, 0, earned_ref, True, balance(conn, row.id))
        added = credit(conn, row.id, points, event.type, earned_ref, event.occurred_at)
        return LedgerOutcome(row.uid, points if added else 0, earned_ref, not added, balance(conn, row.id))
    if event.type in settings.reverse_on:
        earned = ledger_points(conn, row.id, earned_ref) or 0
        # A zero entry still marks the order as reversed, so a late payment event earns nothing.
        added = credit(conn, row.id, -earned, event.type, reversed_ref, event.occurred_at)
        return LedgerOutcome(row.uid, -earned if added else 0, reversed_ref, not added, balance(conn, row.id))
    return LedgerOutcome(row.uid, 0, None, False, balance(conn, row.id))
