"""The demo shop backend on SQLite and PostgreSQL: lookup, cancel and refund rules, idempotency."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from journey_state.commerce import (
    ActionNotAllowed,
    BackendUnavailable,
    CommerceBackend,
    InvalidOrderNumber,
    LineItem,
    OrderNotFound,
    Refund,
    normalise_order_number,
)
from journey_state.commerce.demo_shop import DemoShopBackend, create_demo_order, seed_demo_orders
from journey_state.commerce.tables import DEMO_TABLES, demo_orders, demo_refunds
from journey_state.store import make_engine, migrate
from journey_state.store.schema import metadata

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(migrated_url):
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def shop(engine) -> DemoShopBackend:
    return DemoShopBackend(engine, clock=lambda: NOW)


def place(engine, number: str, status: str, days_ago: float, **kwargs):
    return create_demo_order(engine, number, status, NOW - timedelta(days=days_ago), **kwargs)


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.mark.parametrize("typed", ["AUR-10042", "aur 10042", "#10042", "10042", "#AUR-10042", "AUR10042", "aur-10042!"])
def test_order_numbers_are_normalised(typed):
    assert normalise_order_number(typed) == "AUR-10042"


@pytest.mark.parametrize("typed", ["", "  ", "tomorrow", "XYZ-10042", "12", "AUR-", "10042-AUR", None])
def test_what_is_not_an_order_number(typed):
    with pytest.raises(InvalidOrderNumber, match="is not an order number"):
        normalise_order_number(typed)


def test_is_a_commerce_backend(shop):
    assert isinstance(shop, CommerceBackend)


def test_lookup_accepts_the_ways_customers_write_the_number(engine, shop):
    created = place(engine, "AUR-10042", "paid", 1, customer_email="ann@example.com",
                    items=(LineItem("Basic subscription – monthly bag", 1, Decimal("12.00")),
                           LineItem("Ethiopia Yirgacheffe, 250 g", 2, Decimal("9.50"))))
    for typed in ("AUR-10042", "aur 10042", "#10042", "10042", " AUR10042. "):
        assert shop.get_order(typed) == created
    order = shop.get_order("AUR-10042")
    assert order.number == "AUR-10042" and order.status == "paid"
    assert order.total == Decimal("31.00") and order.currency == "EUR"
    assert [(i.title, i.quantity, i.price) for i in order.items] == [
        ("Basic subscription – monthly bag", 1, Decimal("12.00")), ("Ethiopia Yirgacheffe, 250 g", 2, Decimal("9.50"))]
    assert order.placed_at == NOW - timedelta(days=1) and order.placed_at.tzinfo is not None
    assert order.customer_email == "ann@example.com"
    assert order.tracking_url is None and order.carrier is None
    assert order.estimated_delivery == (NOW + timedelta(days=1)).date()


def test_an_order_on_its_way_has_tracking(engine, shop):
    place(engine, "AUR-10043", "in_transit", 3, estimated_delivery=date(2026, 4, 21))
    order = shop.get_order("10043")
    assert order.status == "in_transit" and order.carrier == "DHL"
    assert order.tracking_url == "https://tracking.auroracoffee.example/AUR-10043"
    assert order.tracking_number and order.estimated_delivery == date(2026, 4, 21)


def test_unknown_and_malformed_numbers(shop):
    with pytest.raises(OrderNotFound) as excinfo:
        shop.get_order("AUR-99999")
    assert excinfo.value.order_number == "AUR-99999"
    for bad in ("tomorrow", "", "XYZ-10042", "12"):
        with pytest.raises(InvalidOrderNumber):
            shop.get_order(bad)
    with pytest.raises(OrderNotFound):
        shop.cancel_order("AUR-99999", "changed my mind")
    with pytest.raises(OrderNotFound):
        shop.request_refund("AUR-99999", "broken")


def test_cancelling_a_paid_order_refunds_it_and_is_idempotent(engine, shop):
    place(engine, "AUR-10042", "paid", 1)
    cancelled = shop.cancel_order("AUR-10042", "ordered twice by mistake")
    assert cancelled.status == "cancelled"
    assert shop.cancel_order("#10042", "again") == cancelled
    assert shop.get_order("AUR-10042") == cancelled
    refund = shop.request_refund("AUR-10042", "where is my money")
    assert refund == Refund("AUR-10042", "approved", Decimal("29.00"), "EUR")
    assert count(engine, demo_refunds) == 1
    with engine.connect() as conn:
        row = conn.execute(select(demo_orders).where(demo_orders.c.number == "AUR-10042")).one()
    assert row.cancel_reason == "ordered twice by mistake" and row.cancelled_at == NOW


def test_cancelling_an_unpaid_order_leaves_nothing_to_refund(engine, shop):
    place(engine, "AUR-10042", "placed", 0.1)
    assert shop.cancel_order("AUR-10042", "found it cheaper").status == "cancelled"
    with pytest.raises(ActionNotAllowed, match="nothing to refund"):
        shop.request_refund("AUR-10042", "refund please")
    assert count(engine, demo_refunds) == 0


CANNOT_CANCEL = {
    "fulfilled": "already shipped",
    "in_transit": "already shipped",
    "delivered": "refund within 30 days of delivery",
    "refunded": "already been refunded",
}


def test_orders_cannot_be_cancelled_once_shipped(engine, shop):
    for n, (status, says) in enumerate(CANNOT_CANCEL.items()):
        number = f"AUR-1005{n}"
        before = place(engine, number, status, 4)
        with pytest.raises(ActionNotAllowed) as excinfo:
            shop.cancel_order(number, "too late")
        assert excinfo.value.order_number == number, status
        assert says in excinfo.value.reason and excinfo.value.reason.startswith(f"Order {number}"), status
        assert shop.get_order(number) == before, status


def test_refund_for_a_delivered_order_within_30_days_is_approved_once(engine, shop):
    place(engine, "AUR-10044", "delivered", 8, delivered_at=NOW - timedelta(days=5))
    refund = shop.request_refund("AUR-10044", "beans arrived stale")
    assert refund == Refund("AUR-10044", "approved", Decimal("29.00"), "EUR")
    assert shop.get_order("AUR-10044").status == "refunded"
    assert shop.request_refund("aur 10044", "asking again") == refund
    assert count(engine, demo_refunds) == 1


def test_refund_window_is_30_days_from_delivery(engine, shop):
    place(engine, "AUR-10045", "delivered", 40, delivered_at=NOW - timedelta(days=30))
    place(engine, "AUR-10046", "delivered", 40, delivered_at=NOW - timedelta(days=30, seconds=1))
    assert shop.request_refund("AUR-10045", "on the last day").status == "approved"
    with pytest.raises(ActionNotAllowed, match="more than 30 days ago, so it is outside the refund window"):
        shop.request_refund("AUR-10046", "a day late")
    assert shop.get_order("AUR-10046").status == "delivered"


NO_REFUND_YET = {"placed": "cancel it instead", "paid": "cancel it instead", "fulfilled": "still on its way", "in_transit": "still on its way"}


def test_no_refund_before_delivery(engine, shop):
    for n, (status, says) in enumerate(NO_REFUND_YET.items()):
        number = f"AUR-1006{n}"
        place(engine, number, status, 2)
        with pytest.raises(ActionNotAllowed, match=says):
            shop.request_refund(number, "changed my mind")
    assert count(engine, demo_refunds) == 0


def test_concurrent_refund_requests_create_one_refund(engine):
    place(engine, "AUR-10044", "delivered", 8, delivered_at=NOW - timedelta(days=5))
    shop = DemoShopBackend(engine, clock=lambda: NOW)
    with ThreadPoolExecutor(max_workers=4) as pool:
        refunds = list(pool.map(lambda _: shop.request_refund("AUR-10044", "double click"), range(4)))
    assert len(set(refunds)) == 1 and refunds[0].status == "approved"
    assert count(engine, demo_refunds) == 1


def test_seeding_is_idempotent_and_covers_the_demo_stories(engine, shop):
    first = seed_demo_orders(engine, ["ann@example.com", "ben@example.com"], now=NOW)
    again = seed_demo_orders(engine, ["ann@example.com", "ben@example.com"], now=NOW + timedelta(days=3))
    assert again == first and count(engine, demo_orders) == 8
    assert [o.number for o in first[:4]] == ["AUR-10042", "AUR-10043", "AUR-10044", "AUR-10045"]
    assert [o.status for o in first[:4]] == ["paid", "in_transit", "delivered", "delivered"]
    assert {o.customer_email for o in first[4:]} == {"ben@example.com"}
    assert shop.cancel_order("AUR-10042", "demo").status == "cancelled"
    assert shop.get_order("AUR-10043").tracking_url
    assert shop.request_refund("AUR-10044", "demo").status == "approved"
    with pytest.raises(ActionNotAllowed, match="outside the refund window"):
        shop.request_refund("AUR-10045", "demo")


def test_create_demo_order_rejects_unknown_status(engine):
    with pytest.raises(ValueError, match="unknown order status 'lost'"):
        place(engine, "AUR-10042", "lost", 1)


def test_migration_matches_the_table_definitions(engine):
    def include(obj, name, type_, reflected, compare_to):
        return name in DEMO_TABLES if type_ == "table" else True

    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) >= DEMO_TABLES
        indexes = {i["name"] for i in inspect(conn).get_indexes("demo_orders")}
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True, "include_object": include})
        assert compare_metadata(context, metadata) == []
    assert "ix_demo_orders_customer_email" in indexes


def test_downgrade_to_0002_drops_only_the_demo_tables(migrated_url):
    from alembic import command

    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            config = migrate.alembic_config(migrated_url)
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        assert not DEMO_TABLES & tables and "contacts" in tables
        migrate.upgrade(migrated_url)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= DEMO_TABLES
    finally:
        engine.dispose()


def test_an_unmigrated_database_is_reported_as_unavailable(sqlite_url, caplog):
    engine = make_engine(sqlite_url)
    try:
        with pytest.raises(BackendUnavailable, match="demo shop database unavailable"):
            DemoShopBackend(engine).get_order("AUR-10042")
    finally:
        engine.dispose()
    assert "demo shop database unavailable" in caplog.text
