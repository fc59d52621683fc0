"""Checkout links: issued in the chat, opened through the console's tracking redirect, paid or timed out.

Each milestone is stored on the link and as a row of the contact's business events
(`checkout_link_sent`, `checkout_opened`, `checkout_paid`, `checkout_timed_out`), so the
timeline, the export and the analytics see it; a paid order is the shop's own `order_paid`
event, which closes the link it names (payload.checkout_ref). Sending, opening and paying are
also applied as journey signals (a journey model may move or flag a contact on them). A timeout is not:
it is not something the customer did, and as activity it would wake a dormant contact.

Timeouts are computed lazily, wherever a link is read (resend, redirect), and by
`journeybot checkout expire` for links nobody touches again (cron it, like mark-dormant):
no background job has to run inside the three processes for the numbers to be right.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Row

from journey_state.checkout.config import CheckoutSettings
from journey_state.engine import Signal, Source
from journey_state.identifiers import ContactRef
from journey_state.model import JourneyModel
from journey_state.store import JourneyStore
from journey_state.store import contacts as contact_rows
from journey_state.store.checkout_tables import checkout_links
from journey_state.store.signals import apply
from journey_state.store.tables import business_events

SENT = "checkout_link_sent"
OPENED = "checkout_opened"
PAID = "checkout_paid"
TIMED_OUT = "checkout_timed_out"
CHECKOUT_EVENTS = frozenset({SENT, OPENED, PAID, TIMED_OUT})
TOKEN_BYTES = 24  # 32 URL-safe characters, 192 bits: not guessable, not enumerable
MAX_TOKEN = 64

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class CheckoutLink:
    token: str
    product: str
    created_at: datetime
    expires_at: datetime
    sent_count: int
    opened_at: datetime | None = None
    paid_at: datetime | None = None
    timed_out_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Still usable: neither paid nor timed out."""
        return self.paid_at is None and self.timed_out_at is None


def _link(row: Row) -> CheckoutLink:
    return CheckoutLink(row.token, row.product, row.created_at, row.expires_at, row.sent_count,
                        row.opened_at, row.paid_at, row.timed_out_at)


def _milestone(conn: Connection, model: JourneyModel | None, contact: Row, link: Row, kind: str, at: datetime,
               payload: Mapping[str, Any]) -> None:
    """A business event of the contact (once per link and kind), and its signal when `model` is given."""
    key = f"checkout:{link.id}:{kind}"
    seen = conn.execute(select(business_events.c.id).where(business_events.c.idempotency_key == key)).first()
    if seen is not None:
        return
    conn.execute(insert(business_events).values(
        idempotency_key=key, type=kind, contact_id=contact.id, occurred_at=at, received_at=_utcnow(),
        payload={"plan": link.product, **payload},
    ))
    if model is not None:
        apply(conn, model, contact, Signal(id=f"event:{key}", source=Source.EVENT, at=at, event=kind, excerpt=f"{kind}: {link.product}"))


def _time_out(conn: Connection, row: Row, at: datetime) -> bool:
    """Record the link as timed out if it expired unpaid; True if it did (now or before)."""
    if row.timed_out_at is not None:
        return True
    if row.paid_at is not None or at < row.expires_at:
        return False
    conn.execute(update(checkout_links).where(checkout_links.c.id == row.id).values(timed_out_at=row.expires_at))
    contact = contact_rows.by_id(conn, row.contact_id, lock=True)
    if contact is not None:
        _milestone(conn, None, contact, row, TIMED_OUT, row.expires_at, {"opened": row.opened_at is not None})
    return True


def mark_paid(conn: Connection, model: JourneyModel, token: str, order_id: str | None, at: datetime) -> bool:
    """Close the link `token` names as paid (inside the order event's transaction); False if no such link.

    Paid counts even after the link timed out: the money arrived, and the funnel must say so.
    The shop may name its customer by email, another contact than the chat's until they
    prove it, so the chat's contact gets a `checkout_paid` event of its own.
    """
    row = conn.execute(select(checkout_links).where(checkout_links.c.token == token)).first()
    if row is None:
        return False
    if row.paid_at is None:
        conn.execute(update(checkout_links).where(checkout_links.c.id == row.id).values(paid_at=at, order_id=order_id))
        contact = contact_rows.by_id(conn, row.contact_id, lock=True)
        if contact is not None:
            _milestone(conn, model, contact, row, PAID, at, {"order_id": order_id} if order_id else {})
    return True


class CheckoutLinks:
    """Issue, resend, open and time out checkout links over the journey store."""

    def __init__(self, store: JourneyStore, settings: CheckoutSettings, clock: Clock = _utcnow) -> None:
        self.store = store
        self.settings = settings
        self._clock = clock

    def issue(self, who: ContactRef, channel: str, product: str, at: datetime | None = None) -> CheckoutLink:
        """The contact's open link for `product`, or a new one; asking again resends the same link."""
        if product not in self.settings.links:
            raise ValueError(f"no checkout link is configured for {product!r}")
        at = at or self._clock()

        def work(conn: Connection) -> CheckoutLink:
            contact = contact_rows.find_or_create(conn, self.store.model, who)
            current = self._open_links(conn, contact.id, at, product)
            if current:
                row = current[0]
                conn.execute(update(checkout_links).where(checkout_links.c.id == row.id).values(sent_count=row.sent_count + 1))
                return _link(conn.execute(select(checkout_links).where(checkout_links.c.id == row.id)).one())
            link_id = conn.execute(insert(checkout_links).values(
                token=secrets.token_urlsafe(TOKEN_BYTES), contact_id=contact.id, product=product, channel=channel,
                created_at=at, expires_at=at + self.settings.expire_after, sent_count=1,
            )).inserted_primary_key[0]
            row = conn.execute(select(checkout_links).where(checkout_links.c.id == link_id)).one()
            _milestone(conn, self.store.model, contact, row, SENT, at, {"channel": channel})
            return _link(row)

        return self.store.write(work)

    def resend(self, who: ContactRef, at: datetime | None = None) -> CheckoutLink | None:
        """The contact's most recent open link, counted as sent once more; None if none is open.

        Expired links are recorded as timed out on the way, so they are never resent.
        """
        at = at or self._clock()

        def work(conn: Connection) -> CheckoutLink | None:
            contact = contact_rows.find(conn, who, lock=True)
            if contact is None:
                return None
            current = self._open_links(conn, contact.id, at)
            if not current:
                return None
            row = current[0]
            conn.execute(update(checkout_links).where(checkout_links.c.id == row.id).values(sent_count=row.sent_count + 1))
            return _link(conn.execute(select(checkout_links).where(checkout_links.c.id == row.id)).one())

        return self.store.write(work)

    def open(self, token: str, at: datetime | None = None) -> str | None:
        """The configured checkout URL behind `token`, recording the first opening; None if unknown, expired or unconfigured.

        Never a URL from anywhere but commerce.yml: the token only selects a product.
        """
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
            return None
        at = at or self._clock()

        def work(conn: Connection) -> str | None:
            row = conn.execute(select(checkout_links).where(checkout_links.c.token == token)).first()
            if row is None or _time_out(conn, row, at):
                return None
            target = self.settings.target(row.product, row.token)
            if target is None:  # the product's link was removed from commerce.yml since
                return None
            if row.opened_at is None:
                conn.execute(update(checkout_links).where(checkout_links.c.id == row.id).values(opened_at=at))
                contact = contact_rows.by_id(conn, row.contact_id, lock=True)
                if contact is not None:
                    _milestone(conn, self.store.model, contact, row, OPENED, at, {})
            return target

        return self.store.write(work)

    def target_of(self, token: str, at: datetime | None = None) -> str | None:
        """Where `token` would redirect, recording nothing (a link preview, a HEAD request)."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
            return None
        at = at or self._clock()
        with self.store.read() as conn:
            row = conn.execute(select(checkout_links).where(checkout_links.c.token == token)).first()
        if row is None or row.timed_out_at is not None or (row.paid_at is None and at >= row.expires_at):
            return None
        return self.settings.target(row.product, row.token)

    def expire_due(self, at: datetime | None = None, batch: int = 500) -> int:
        """Record every expired unpaid link as timed out; returns how many were."""
        at = at or self._clock()
        expired = 0
        while True:
            with self.store.read() as conn:
                ids = conn.execute(
                    select(checkout_links.c.id)
                    .where(checkout_links.c.expires_at <= at, checkout_links.c.paid_at.is_(None), checkout_links.c.timed_out_at.is_(None))
                    .order_by(checkout_links.c.expires_at, checkout_links.c.id)
                    .limit(batch)
                ).scalars().all()
            if not ids:
                return expired
            for link_id in ids:
                expired += self.store.write(partial(self._expire_one, link_id=link_id, at=at))

    @staticmethod
    def _expire_one(conn: Connection, link_id: int, at: datetime) -> int:
        row = conn.execute(select(checkout_links).where(checkout_links.c.id == link_id)).first()
        if row is None or row.timed_out_at is not None or row.paid_at is not None:
            return 0
        return int(_time_out(conn, row, at))

    @staticmethod
    def _open_links(conn: Connection, contact_id: int, at: datetime, product: str | None = None) -> list[Row]:
        """The contact's open links, newest first; expired ones are recorded as timed out on the way."""
        query = select(checkout_links).where(
            checkout_links.c.contact_id == contact_id, checkout_links.c.paid_at.is_(None), checkout_links.c.timed_out_at.is_(None)
        )
        if product is not None:
            query = query.where(checkout_links.c.product == product)
        rows = conn.execute(query.order_by(checkout_links.c.created_at.desc(), checkout_links.c.id.desc())).all()
        return [row for row in rows if not _time_out(conn, row, at)]
