"""ShopifyAdminClient and ShopifyBackend against a local fake of Shopify's Admin REST API."""
from __future__ import annotations

import logging
import socket
import time
from datetime import timedelta
from decimal import Decimal

import pytest

from journey_state.commerce import (
    ActionNotAllowed,
    BackendMisconfigured,
    BackendUnavailable,
    CommerceBackend,
    CommerceError,
    LineItem,
    OrderNotFound,
    Refund,
)
from journey_state.commerce.shopify import ShopifyAdminClient, ShopifyBackend, order_status
from tests.fakes.shopify import SHOP, T0, TOKEN, FakeShopify, fulfillment, order

NOW = T0 + timedelta(days=10)
ORDER_ID = 450789469
SHIPPED = T0 + timedelta(days=1)


@pytest.fixture
def fake():
    server = FakeShopify().start()
    yield server
    server.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake, sleeps):
    with ShopifyAdminClient(SHOP, TOKEN, base_url=fake.base_url, timeout=(1, 2), retries=2, sleep=sleeps.append) as c:
        yield c


@pytest.fixture
def shop(client) -> ShopifyBackend:
    return ShopifyBackend(client, clock=lambda: NOW)


@pytest.fixture(autouse=True)
def _debug_logs(caplog):
    caplog.set_level(logging.DEBUG)  # includes urllib3's request logs: the token must not appear anywhere


def delivered_order(fake, order_id=ORDER_ID, number=1001, delivered_days_ago=5):
    data = fake.add_order(order_id, number, fulfillment_status="fulfilled")
    data["fulfillments"].append(fulfillment(order_id * 100 + 1, data, "delivered", created_at=SHIPPED,
                                            updated_at=NOW - timedelta(days=delivered_days_ago)))
    return data


# -- construction ------------------------------------------------------------------------


def test_defaults_point_at_the_shops_admin_api():
    client = ShopifyAdminClient(SHOP, TOKEN)
    assert client.base_url == f"https://{SHOP}/admin/api/2024-10"
    assert client.timeout == (3.05, 10) and client.retries == 2
    assert TOKEN not in repr(client) and TOKEN not in repr(ShopifyBackend(client))
    assert isinstance(ShopifyBackend(client), CommerceBackend)
    with pytest.raises(BackendMisconfigured, match="token is empty"):
        ShopifyAdminClient(SHOP, "")


# -- lookup ----------------------------------------------------------------------------------


def test_order_lookup_by_number(fake, shop):
    fake.add_order(ORDER_ID, 1001)
    order = shop.get_order("aur 1001")
    assert order.number == "AUR-1001" and order.status == "paid"
    assert order.total == Decimal("52.90") and order.currency == "EUR"
    assert order.placed_at == T0 and order.customer_email == "ann@example.com"
    assert order.items == (LineItem("Premium subscription – monthly box", 1, Decimal("29.00")),
                           LineItem("Ethiopia Yirgacheffe, 250 g", 2, Decimal("9.50")))
    assert order.tracking_url is None and order.carrier is None and order.estimated_delivery is None
    [request] = fake.requests
    assert (request.method, request.path) == ("GET", "/admin/api/2024-10/orders.json")
    assert request.query == {"name": ["#1001"], "status": ["any"]}  # '#' arrived, so it was sent as %23
    assert request.headers["x-shopify-access-token"] == TOKEN
    assert request.headers["accept"] == "application/json"


def test_unknown_order(fake, shop):
    fake.add_order(ORDER_ID, 1001)
    with pytest.raises(OrderNotFound) as excinfo:
        shop.get_order("#1999")
    assert excinfo.value.order_number == "AUR-1999"
    assert len(fake.requests) == 1  # a definite answer is not retried


def test_custom_order_name_format(fake, client):
    data = fake.add_order(ORDER_ID, 1001)
    data["name"] = "AUR-1001"
    assert ShopifyBackend(client, name_format="AUR-{digits}").get_order("1001").number == "AUR-1001"
    assert fake.requests[-1].query["name"] == ["AUR-1001"]


def test_a_404_on_a_single_order_means_not_found(fake, client):
    with pytest.raises(OrderNotFound):
        client.get_order(123)


def test_a_404_on_the_order_list_means_wrong_shop_or_api_version(fake):
    client = ShopifyAdminClient(SHOP, TOKEN, base_url=fake.base_url.replace("2024-10", "2019-04"), sleep=lambda s: None)
    with pytest.raises(BackendMisconfigured, match=r"check shop_domain .* and api_version"):
        ShopifyBackend(client).get_order("1001")


# -- status mapping --------------------------------------------------------------------------------

STATUS_TABLE = [
    # financial_status, fulfillment_status, cancelled, shipment statuses -> Order.status
    ("pending", None, False, (), "placed"),
    ("authorized", None, False, (), "placed"),
    ("paid", None, False, (), "paid"),
    ("partially_paid", None, False, (), "paid"),
    ("partially_refunded", None, False, (), "paid"),
    ("paid", "partial", False, (None,), "fulfilled"),
    ("paid", "fulfilled", False, (None,), "fulfilled"),
    ("paid", "fulfilled", False, ("label_printed",), "fulfilled"),
    ("paid", "fulfilled", False, ("confirmed",), "in_transit"),
    ("paid", "fulfilled", False, ("in_transit",), "in_transit"),
    ("paid", "fulfilled", False, ("out_for_delivery",), "in_transit"),
    ("paid", "fulfilled", False, ("delivered", "in_transit"), "in_transit"),
    ("paid", "partial", False, ("delivered",), "in_transit"),
    ("paid", "fulfilled", False, ("delivered",), "delivered"),
    ("paid", "fulfilled", False, ("delivered", "delivered"), "delivered"),
    ("partially_refunded", "fulfilled", False, ("delivered",), "delivered"),
    ("refunded", "fulfilled", False, ("delivered",), "refunded"),
    ("refunded", None, False, (), "refunded"),
    ("voided", None, False, (), "cancelled"),
    ("paid", None, True, (), "cancelled"),
    ("refunded", None, True, (), "cancelled"),
]


@pytest.mark.parametrize("financial, fulfilled, cancelled, shipments, expected", STATUS_TABLE)
def test_status_mapping(financial, fulfilled, cancelled, shipments, expected):
    data = order(1, 1001, financial_status=financial, fulfillment_status=fulfilled, cancelled_at=T0 if cancelled else None)
    for i, shipment in enumerate(shipments):
        data["fulfillments"].append(fulfillment(100 + i, data, shipment))
    assert order_status(data) == expected


def test_cancelled_fulfillments_are_ignored():
    data = order(1, 1001, fulfillment_status="fulfilled")
    data["fulfillments"] += [fulfillment(100, data, "delivered", status="cancelled"), fulfillment(101, data, "in_transit")]
    assert order_status(data) == "in_transit"


def test_fulfillment_tracking_comes_from_the_latest_tracked_fulfillment(fake, shop):
    data = fake.add_order(ORDER_ID, 1001, fulfillment_status="fulfilled")
    data["fulfillments"].append(fulfillment(1, data, "delivered", tracking_number="JJD0001"))
    later = fulfillment(2, data, "in_transit", tracking_company="DPD", tracking_number="01234567890123")
    later["tracking_url"] = None  # some carriers only fill tracking_urls
    later["tracking_urls"] = ["https://tracking.dpd.de/status/en_US/parcel/01234567890123"]
    data["fulfillments"].append(later)
    order = shop.get_order("1001")
    assert order.status == "in_transit" and order.carrier == "DPD" and order.tracking_number == "01234567890123"
    assert order.tracking_url == "https://tracking.dpd.de/status/en_US/parcel/01234567890123"


def test_unexpected_order_json_is_unavailable_not_a_crash(fake, shop):
    del fake.add_order(ORDER_ID, 1001)["total_price"]
    with pytest.raises(BackendUnavailable, match="unexpected shape"):
        shop.get_order("1001")


# -- cancel -------------------------------------------------------------------------------------------


def test_cancel_a_paid_order_refunds_it(fake, shop):
    fake.add_order(ORDER_ID, 1001)
    cancelled = shop.cancel_order("AUR-1001", "ordered twice")
    assert cancelled.status == "cancelled" and cancelled.number == "AUR-1001"
    [post] = fake.made("POST")
    assert post.path == f"/admin/api/2024-10/orders/{ORDER_ID}/cancel.json"
    assert post.body == {"reason": "customer", "email": True, "amount": "52.90", "currency": "EUR"}
    assert post.headers["x-shopify-access-token"] == TOKEN


def test_cancel_an_authorized_order_voids_it(fake, shop):
    fake.add_order(ORDER_ID, 1001, financial_status="authorized")
    assert shop.cancel_order("1001", "changed my mind").status == "cancelled"
    assert fake.made("POST")[0].body == {"reason": "customer", "email": True}
    assert fake.orders[ORDER_ID]["financial_status"] == "voided"


def test_cancelling_twice_returns_the_cancelled_order(fake, shop):
    fake.add_order(ORDER_ID, 1001)
    first = shop.cancel_order("1001", "oops")
    assert shop.cancel_order("1001", "oops again") == first
    assert len(fake.made("POST")) == 1


def test_shipped_orders_are_not_cancelled(fake, shop):
    fake.add_order(ORDER_ID, 1001, fulfillment_status="fulfilled", shipments=("in_transit",))
    with pytest.raises(ActionNotAllowed, match="already shipped"):
        shop.cancel_order("1001", "too late")
    assert fake.made("POST") == []


def test_cancel_refused_by_shopify_is_not_allowed_with_shopifys_text(fake, shop):
    fake.add_order(ORDER_ID, 1001)
    fake.queue(422, {"errors": {"base": ["Cannot cancel an order with pending payment authorizations"]}}, method="POST", path="/cancel.json")
    with pytest.raises(ActionNotAllowed) as excinfo:
        shop.cancel_order("1001", "please")
    assert excinfo.value.order_number == "AUR-1001"
    assert excinfo.value.reason == "Cannot cancel an order with pending payment authorizations"
    assert len(fake.made("POST")) == 1


def test_other_422_shapes(fake, client):
    fake.add_order(ORDER_ID, 1001)
    fake.queue(422, {"error": "Order has already been cancelled"}, method="POST")
    with pytest.raises(ActionNotAllowed, match="Order has already been cancelled"):
        client.cancel_order(ORDER_ID, {"reason": "customer"})
    fake.queue(422, {"errors": {"refund_line_items": ["is invalid"]}}, method="POST")
    with pytest.raises(ActionNotAllowed, match="refund_line_items is invalid"):
        client.calculate_refund(ORDER_ID, {})


# -- refunds ---------------------------------------------------------------------------------------


def test_refund_request_calculates_then_creates(fake, shop):
    delivered_order(fake)
    refund = shop.request_refund("AUR-1001", "beans arrived stale")
    assert refund == Refund("AUR-1001", "completed", Decimal("52.90"), "EUR")
    calculate, create = fake.made("POST")
    assert calculate.path.endswith(f"/orders/{ORDER_ID}/refunds/calculate.json")
    assert calculate.body == {"refund": {"shipping": {"full_refund": True}, "refund_line_items": [
        {"line_item_id": ORDER_ID * 10 + 1, "quantity": 1, "restock_type": "no_restock"},
        {"line_item_id": ORDER_ID * 10 + 2, "quantity": 2, "restock_type": "no_restock"}]}}
    assert create.path.endswith(f"/orders/{ORDER_ID}/refunds.json")
    body = create.body["refund"]
    assert body["transactions"] == [{"parent_id": ORDER_ID * 10 + 1, "amount": "52.90", "kind": "refund", "gateway": "shopify_payments"}]
    assert body["note"] == "beans arrived stale" and body["notify"] is True and body["currency"] == "EUR"
    assert shop.get_order("1001").status == "refunded"


def test_refunds_are_listed_and_not_requested_twice(fake, shop, client):
    delivered_order(fake)
    first = shop.request_refund("1001", "stale")
    assert [r["transactions"][0]["amount"] for r in client.list_refunds(ORDER_ID)] == ["52.90"]
    assert shop.request_refund("1001", "asking again") == first
    assert len(fake.made("POST")) == 2  # calculate + create, once


def test_pending_refund(fake, shop):
    delivered_order(fake)
    fake.refund_transaction_status = "pending"
    assert shop.request_refund("1001", "stale").status == "pending"


@pytest.mark.parametrize(
    "setup, says",
    [
        (lambda f: f.add_order(ORDER_ID, 1001), "cancel it instead"),
        (lambda f: f.add_order(ORDER_ID, 1001, fulfillment_status="fulfilled", shipments=("in_transit",)), "still on its way"),
        (lambda f: delivered_order(f, delivered_days_ago=31), "outside the refund window"),
        (lambda f: f.add_order(ORDER_ID, 1001, cancelled_at=T0, financial_status="voided"), "was cancelled"),
    ],
    ids=["not-shipped", "in-transit", "too-late", "cancelled"],
)
def test_refund_rules(fake, shop, setup, says):
    setup(fake)
    with pytest.raises(ActionNotAllowed, match=says):
        shop.request_refund("1001", "please")
    assert fake.made("POST") == []


def test_nothing_left_to_refund(fake, shop):
    data = delivered_order(fake)
    data["financial_status"] = "pending"  # nothing was captured, so the calculation suggests no transaction
    with pytest.raises(ActionNotAllowed, match="nothing left to refund"):
        shop.request_refund("1001", "please")
    assert len(fake.made("POST")) == 1  # calculated, not created


# -- failures, retries, timeouts -------------------------------------------------------------------------


def test_auth_failure_is_misconfiguration_and_not_retried(fake, sleeps):
    fake.add_order(ORDER_ID, 1001)
    client = ShopifyAdminClient(SHOP, "shpat_wrong", base_url=fake.base_url, sleep=sleeps.append)
    with pytest.raises(BackendMisconfigured, match=r"HTTP 401 .*Invalid API key or access token.*check the Admin API access token"):
        ShopifyBackend(client).get_order("1001")
    assert len(fake.requests) == 1 and sleeps == []


def test_missing_scope_is_misconfiguration(fake, shop):
    fake.queue(403, {"errors": "[API] This action requires merchant approval for read_orders scope."})
    with pytest.raises(BackendMisconfigured, match=r"HTTP 403 .*read_orders and write_orders scopes"):
        shop.get_order("1001")


def test_503_is_retried_with_backoff_then_succeeds(fake, shop, sleeps, caplog):
    fake.add_order(ORDER_ID, 1001)
    fake.queue(503, {"errors": "Service Unavailable"}, times=2)
    assert shop.get_order("1001").number == "AUR-1001"
    assert len(fake.requests) == 3 and sleeps == [0.5, 1.0]
    assert "HTTP 503; retry 1 of 2" in caplog.text


def test_persistent_5xx_is_unavailable_after_the_retries(fake, shop, sleeps, caplog):
    fake.queue(500, {"errors": "Internal Server Error"}, times=5)
    with pytest.raises(BackendUnavailable, match=r"GET /orders.json: HTTP 500 after 3 attempts"):
        shop.get_order("1001")
    assert len(fake.requests) == 3 and len(sleeps) == 2
    assert "HTTP 500 after 3 attempts" in caplog.text  # logged for the operator


def test_429_honours_retry_after(fake, shop, sleeps):
    fake.add_order(ORDER_ID, 1001)
    fake.queue(429, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."},
               headers={"Retry-After": "2.0"})
    assert shop.get_order("1001").status == "paid"
    assert sleeps == [2.0] and len(fake.requests) == 2


def test_429_really_waits(fake):
    fake.add_order(ORDER_ID, 1001)
    fake.queue(429, {"errors": "Exceeded 2 calls per second for api client."}, headers={"Retry-After": "0.3"})
    client = ShopifyAdminClient(SHOP, TOKEN, base_url=fake.base_url)
    started = time.monotonic()
    assert ShopifyBackend(client).get_order("1001").number == "AUR-1001"
    assert time.monotonic() - started >= 0.3


def test_a_retry_after_beyond_the_limit_is_not_waited_for(fake, client, sleeps):
    fake.queue(429, {"errors": "Exceeded"}, headers={"Retry-After": "600"})
    with pytest.raises(BackendUnavailable, match="asked to retry after 600s"):
        client.find_order("#1001")
    assert len(fake.requests) == 1 and sleeps == []


def test_posts_are_never_retried(fake, shop, sleeps):
    fake.add_order(ORDER_ID, 1001)
    fake.queue(503, {"errors": "Service Unavailable"}, method="POST", times=3)
    with pytest.raises(BackendUnavailable, match="may or may not have been applied"):
        shop.cancel_order("1001", "please")
    assert len(fake.made("POST")) == 1 and sleeps == []


def test_timeout_is_retried_then_unavailable(fake, sleeps):
    fake.add_order(ORDER_ID, 1001)
    fake.queue(200, {"orders": []}, delay=1.0, times=3)
    client = ShopifyAdminClient(SHOP, TOKEN, base_url=fake.base_url, timeout=(1, 0.2), sleep=sleeps.append)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="timed out after 3 attempts"):
        ShopifyBackend(client).get_order("1001")
    assert time.monotonic() - started < 2.5
    assert len(fake.requests) == 3 and sleeps == [0.5, 1.0]


def test_post_timeout_is_unavailable_and_not_retried(fake, sleeps):
    delivered_order(fake)
    fake.queue(201, {"refund": {}}, method="POST", path="/refunds.json", delay=1.0)
    client = ShopifyAdminClient(SHOP, TOKEN, base_url=fake.base_url, timeout=(1, 0.2), sleep=sleeps.append)
    with pytest.raises(BackendUnavailable, match="timed out; the change may or may not have been applied after 1 attempt"):
        ShopifyBackend(client, clock=lambda: NOW).request_refund("1001", "stale")
    assert len(fake.made("POST", "/refunds.json")) == 1


def test_connection_refused_is_unavailable(sleeps):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ShopifyAdminClient(SHOP, TOKEN, base_url=f"http://127.0.0.1:{port}/admin/api/2024-10", retries=1, sleep=sleeps.append)
    with pytest.raises(BackendUnavailable, match="connection failed after 2 attempts"):
        ShopifyBackend(client).get_order("1001")
    assert sleeps == [0.5]


def test_a_body_that_is_not_json_is_unavailable(fake, shop):
    fake.queue(200, b"<html>maintenance</html>")
    with pytest.raises(BackendUnavailable, match="not JSON"):
        shop.get_order("1001")


def test_token_never_appears_in_errors_or_logs(fake, caplog):
    fake.add_order(ORDER_ID, 1001)
    client = ShopifyAdminClient(SHOP, TOKEN, base_url=fake.base_url, timeout=(1, 0.2), sleep=lambda s: None)
    shop = ShopifyBackend(client, clock=lambda: NOW)
    echo = {"errors": f"token {TOKEN} is not allowed"}  # a server that echoes the token back
    scenarios = [
        lambda: fake.queue(401, echo),
        lambda: fake.queue(403, echo),
        lambda: fake.queue(422, echo, method="POST"),
        lambda: fake.queue(400, echo),
        lambda: fake.queue(503, echo, times=3),
        lambda: fake.queue(200, {}, delay=1.0, times=3),
        lambda: fake.queue(402, echo),
    ]
    messages = []
    for arrange in scenarios:
        arrange()
        with pytest.raises(CommerceError) as excinfo:
            shop.cancel_order("1001", "please")
        messages.append(f"{excinfo.value!s} {excinfo.value!r} {excinfo.value.__cause__!r} {excinfo.value.__context__!r}")
    assert len(messages) == len(scenarios)
    assert "[token]" in " ".join(messages)  # the echoed token was masked
    assert TOKEN not in " ".join(messages)
    assert TOKEN not in caplog.text and caplog.text  # something was logged, never the token
