"""Demo shop: Aurora Coffee Club's orders in the journeybot database, behind the CommerceBackend interface.

Rules: an order can be cancelled until it ships (a paid order is refunded in full);
a refund can be requested for a delivered order within 30 days of delivery.
Cancelling or refunding twice returns the first result.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from journey_state.commerce.base import (
    CANCELLABLE,
    DEFAULT_PREFIX,
    ORDER_STATUSES,
    ActionNotAllowed,
    BackendUnavailable,
    LineItem,
    Order,
    OrderNotFound,
    Refund,
    normalise_order_number,
)
from journey_state.commerce.tables import demo_orders, demo_refunds
from journey_state.store.db import READ_ONLY

log = logging.getLogger(__name__)

REFUND_WINDOW = timedelta(days=30)
DEMO_CUSTOMER = "demo@auroracoffee.example"
DEMO_CURRENCY = "EUR"
TRACKING_URL = "https://tracking.auroracoffee.example/{number}"
SHIPPED = frozenset({"fulfilled", "in_transit", "delivered", "refunded"})

PREMIUM_BOX = LineItem("Premium subscription – monthly box", 1, Decimal("29.00"))
BASIC_BAG = LineItem("Basic subscription – monthly bag", 1, Decimal("12.00"))
EXTRA_BAG = LineItem("Ethiopia Yirgacheffe, 250 g", 2, Decimal("9.50"))

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _day(value: datetime | date) -> str:
    return f"{value.day} {value:%B %Y}"


class DemoShopBackend:
    """CommerceBackend over the demo_orders and demo_refunds tables."""

    def __init__(self, engine: Engine, *, clock: Clock = _utcnow, refund_window: timedelta = REFUND_WINDOW,
                 prefix: str = DEFAULT_PREFIX):
        self.engine = engine
        self._clock = clock
        self._window = refund_window
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"DemoShopBackend({self.engine.dialect.name})"

    def get_order(self, order_number: str) -> Order:
        number = normalise_order_number(order_number, self._prefix)
        with self._read() as conn:
            return _order(self._row(conn, number))

    def orders_for_email(self, email: str, limit: int) -> list[Order]:
        """The newest orders placed with `email` (compared case-insensitively, as emails are stored lower-case)."""
        query = select(demo_orders).where(demo_orders.c.customer_email == email.strip().lower())
        with self._read() as conn:
            rows = conn.execute(query.order_by(demo_orders.c.placed_at.desc()).limit(limit)).all()
        return [_order(r) for r in rows]

    def cancel_order(self, order_number: str, reason: str) -> Order:
        number = normalise_order_number(order_number, self._prefix)
        with self._write() as conn:
            row = self._row(conn, number, lock=True)
            if row.status == "cancelled":
                return _order(row)
            if row.status not in CANCELLABLE:
                raise ActionNotAllowed(number, self._why_not_cancellable(number, row))
            now = self._clock()
            conn.execute(
                update(demo_orders)
                .where(demo_orders.c.id == row.id)
                .values(status="cancelled", cancelled_at=now, cancel_reason=reason, updated_at=now)
            )
            if row.status == "paid":
                _insert_refund(conn, row, "approved", f"order cancelled: {reason}", now)
            cancelled = self._row(conn, number)
        log.info("demo shop: cancelled %s (was %s)", number, row.status)
        return _order(cancelled)

    def request_refund(self, order_number: str, reason: str) -> Refund:
        number = normalise_order_number(order_number, self._prefix)
        with self._write() as conn:
            row = self._row(conn, number, lock=True)
            existing = conn.execute(select(demo_refunds).where(demo_refunds.c.order_id == row.id)).first()
            if existing is not None:
                return _refund(number, existing)
            self._check_refundable(number, row)
            now = self._clock()
            _insert_refund(conn, row, "approved", reason, now)
            conn.execute(update(demo_orders).where(demo_orders.c.id == row.id).values(status="refunded", updated_at=now))
            refund = _refund(number, conn.execute(select(demo_refunds).where(demo_refunds.c.order_id == row.id)).one())
        log.info("demo shop: refund approved for %s", number)
        return refund

    # -- rules ---------------------------------------------------------------

    def _why_not_cancellable(self, number: str, row: Row) -> str:
        days = self._window.days
        if row.status == "refunded":
            return f"Order {number} has already been refunded."
        if row.status == "delivered":
            when = f" on {_day(row.delivered_at)}" if row.delivered_at else ""
            return (f"Order {number} was delivered{when}, so it can't be cancelled any more; "
                    f"you can ask for a refund within {days} days of delivery instead.")
        return (f"Order {number} has already shipped, so it can't be cancelled any more. "
                f"Once it arrives you can ask for a refund within {days} days.")

    def _check_refundable(self, number: str, row: Row) -> None:
        if row.status in CANCELLABLE:
            raise ActionNotAllowed(number, f"Order {number} hasn't shipped yet; cancel it instead and any payment is refunded in full.")
        if row.status == "cancelled":
            raise ActionNotAllowed(number, f"Order {number} was cancelled before it was paid, so there is nothing to refund.")
        if row.status == "refunded":
            raise ActionNotAllowed(number, f"Order {number} has already been refunded.")
        if row.status in ("fulfilled", "in_transit"):
            raise ActionNotAllowed(number, f"Order {number} is still on its way; you can ask for a refund once it has been delivered.")
        delivered = row.delivered_at or row.updated_at
        if self._clock() - delivered > self._window:
            raise ActionNotAllowed(
                number,
                f"Order {number} was delivered on {_day(delivered)}, more than {self._window.days} days ago, "
                "so it is outside the refund window.",
            )

    # -- database ------------------------------------------------------------

    def _row(self, conn: Connection, number: str, lock: bool = False) -> Row:
        query = select(demo_orders).where(demo_orders.c.number == number)
        if lock:
            query = query.with_for_update()  # PostgreSQL; SQLite writers are serialised by BEGIN IMMEDIATE
        row = conn.execute(query).first()
        if row is None:
            raise OrderNotFound(number)
        return row

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # The connection is opened inside the translation: an unreachable database is StoreUnavailable.
        with _unavailable_as_error(), self.engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with _unavailable_as_error(), self.engine.begin() as conn:
            yield conn


@contextmanager
def _unavailable_as_error() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        orig = exc.orig if isinstance(exc, DBAPIError) else None
        reason = (str(orig).strip().splitlines() or [""])[0] if orig is not None else type(exc).__name__
        log.warning("demo shop database unavailable: %s", reason)
        raise BackendUnavailable(f"demo shop database unavailable: {reason}") from None


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _order(row: Row) -> Order:
    return Order(
        number=row.number,
        status=row.status,
        items=tuple(LineItem(i["title"], int(i["quantity"]), Decimal(i["price"])) for i in row.items),
        total=_money(row.total_cents),
        currency=row.currency,
        placed_at=row.placed_at,
        tracking_url=row.tracking_url,
        carrier=row.carrier,
        estimated_delivery=row.estimated_delivery,
        customer_email=row.customer_email,
        tracking_number=row.tracking_number,
    )


def _refund(number: str, row: Row) -> Refund:
    return Refund(order_number=number, status=row.status, amount=_money(row.amount_cents), currency=row.currency)


def _insert_refund(conn: Connection, order: Row, status: str, reason: str, now: datetime) -> None:
    conn.execute(
        insert(demo_refunds).values(
            order_id=order.id, status=status, amount_cents=order.total_cents, currency=order.currency,
            reason=reason, created_at=now,
        )
    )


# -- demo data -----------------------------------------------------------------


def create_demo_order(
    engine: Engine,
    number: str,
    status: str,
    placed_at: datetime,
    *,
    customer_email: str = DEMO_CUSTOMER,
    items: Sequence[LineItem] = (PREMIUM_BOX,),
    currency: str = DEMO_CURRENCY,
    shipped_at: datetime | None = None,
    delivered_at: datetime | None = None,
    estimated_delivery: date | None = None,
    carrier: str | None = "DHL",
) -> Order:
    """Insert one demo order; shipping dates and tracking are filled in to match `status`."""
    if status not in ORDER_STATUSES:
        raise ValueError(f"unknown order status {status!r} (use {', '.join(ORDER_STATUSES)})")
    number = normalise_order_number(number)
    shipped = status in SHIPPED
    if shipped and shipped_at is None:
        shipped_at = placed_at + timedelta(days=1)
    if status in ("delivered", "refunded") and delivered_at is None:
        assert shipped_at is not None  # both are SHIPPED statuses
        delivered_at = shipped_at + timedelta(days=2)
    if estimated_delivery is None:
        estimated_delivery = (delivered_at or (shipped_at or placed_at) + timedelta(days=2)).date()
    total = sum((i.price * i.quantity for i in items), Decimal("0"))
    values = dict(
        number=number,
        status=status,
        customer_email=customer_email.strip().lower(),
        items=[{"title": i.title, "quantity": i.quantity, "price": f"{i.price:.2f}"} for i in items],
        total_cents=_cents(total),
        currency=currency,
        placed_at=placed_at,
        shipped_at=shipped_at if shipped else None,
        delivered_at=delivered_at,
        estimated_delivery=estimated_delivery,
        carrier=carrier if shipped else None,
        tracking_number=f"00340434{number[-5:]:0>12}" if shipped else None,
        tracking_url=TRACKING_URL.format(number=number) if shipped else None,
        cancelled_at=placed_at + timedelta(hours=2) if status == "cancelled" else None,
        updated_at=delivered_at or shipped_at or placed_at,
    )
    with _unavailable_as_error(), engine.begin() as conn:
        conn.execute(insert(demo_orders).values(**values))
        if status == "refunded":
            assert delivered_at is not None  # filled in above
            row = conn.execute(select(demo_orders).where(demo_orders.c.number == number)).one()
            _insert_refund(conn, row, "completed", "demo data", delivered_at + timedelta(days=1))
        return _order(conn.execute(select(demo_orders).where(demo_orders.c.number == number)).one())


# (status, days before now it was placed, days before now it was delivered); one set per customer.
_SCENARIOS = (
    ("paid", 1, None),  # can still be cancelled
    ("in_transit", 3, None),  # tracking link, arrives tomorrow
    ("delivered", 8, 5),  # can be refunded
    ("delivered", 50, 45),  # outside the refund window
)


def seed_demo_orders(
    engine: Engine,
    customer_emails: Iterable[str] = (DEMO_CUSTOMER,),
    *,
    now: datetime | None = None,
    first_number: int = 10042,
) -> list[Order]:
    """Create the demo orders for each customer (AUR-10042, AUR-10043, ...); existing numbers are kept as they are."""
    now = now or _utcnow()
    backend = DemoShopBackend(engine)
    orders = []
    for c, email in enumerate(customer_emails):
        for s, (status, placed_days, delivered_days) in enumerate(_SCENARIOS):
            number = f"{DEFAULT_PREFIX}-{first_number + c * len(_SCENARIOS) + s}"
            try:
                orders.append(backend.get_order(number))
                continue
            except OrderNotFound:
                pass
            placed = now - timedelta(days=placed_days)
            orders.append(create_demo_order(
                engine, number, status, placed,
                customer_email=email,
                items=(PREMIUM_BOX, EXTRA_BAG) if s % 2 else (BASIC_BAG,),
                delivered_at=now - timedelta(days=delivered_days) if delivered_days else None,
                estimated_delivery=(now + timedelta(days=1)).date() if status == "in_transit" else None,
            ))
    return orders
