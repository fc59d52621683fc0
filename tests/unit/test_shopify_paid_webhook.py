"""POST /webhooks/shopify/orders-paid (bot/console/shopify_webhook.py, journey_state/checkout/shopify_paid.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.console import create_app
from bot.settings import load_settings
from journey_state.checkout.shopify_paid import checkout_ref, signature
from journey_state.identifiers import ChannelRef
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine
from journey_state.store.migrate import upgrade

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"JOURNEYBOT_API_TOKEN": "unit-test-token", "JOURNEYBOT_HOST": "127.0.0.1"}
SECRET = "shpss_unit_test_secret"
URL = "/webhooks/shopify/orders-paid"
ALICE = ChannelRef("rest", "alice")


def make_app(tmp_path, monkeypatch, secret: str | None = SECRET):
    if secret is None:
        monkeypatch.delenv("JOURNEYBOT_SHOPIFY_WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("JOURNEYBOT_SHOPIFY_WEBHOOK_SECRET", secret)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    upgrade(url)
    store = JourneyStore(make_engine(url), load_named_model(PROJECT / "data/journeys", "b2c"))
    return create_app(load_settings({**ENV, "JOURNEYBOT_VAR_DIR": str(tmp_path)}), store)


def order(token: str | None = None, **extra) -> dict:
    body = {"id": 820982911946154508, "name": "#1042", "email": "alice@example.com", "total_price": "29.00", "currency": "EUR",
            "note_attributes": [{"name": "checkout_ref", "value": token}] if token else [], **extra}
    return body


def post(client, body, secret: str = SECRET, topic: str = "orders/paid", raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    return client.post(URL, data=data, headers={"X-Shopify-Hmac-Sha256": signature(secret, data), "X-Shopify-Topic": topic,
                                                "Content-Type": "application/json"})


def test_a_signed_paid_order_is_recorded_once_and_closes_its_checkout_link(tmp_path, monkeypatch):
    app = make_app(tmp_path, monkeypatch)
    services = app.extensions["services"]
    token = services.checkout.issue(ALICE, "rest", "premium").token
    client = app.test_client()
    first = post(client, order(token))
    assert first.status_code == 201, first.get_data(as_text=True)
    again = post(client, order(token))
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    uid = services.store.contact_by_identity(ALICE)["id"]
    assert [e["event_type"] for e in services.store.timeline(uid) if e["type"] == "business_event"] == ["checkout_link_sent", "checkout_paid"]
    shop_contact = services.store.contact(first.get_json()["contact_id"])
    assert shop_contact["stage"] == "purchase"


def test_unsigned_wrongly_signed_or_unconfigured_calls_change_nothing(tmp_path, monkeypatch):
    app = make_app(tmp_path, monkeypatch)
    client = app.test_client()
    data = json.dumps(order()).encode()
    assert client.post(URL, data=data).status_code == 401
    assert post(client, order(), secret="another-secret").status_code == 401
    assert client.post(URL, data=data, headers={"X-Shopify-Hmac-Sha256": "\udc80not base64"}).status_code == 401
    assert post(client, order(), topic="orders/create").status_code == 422
    store = app.extensions["services"].store
    assert store.contact_by_identity(ChannelRef("rest", "alice")) is None
    (tmp_path / "off").mkdir()
    off = make_app(tmp_path / "off", monkeypatch, secret=None).test_client()
    assert post(off, order()).status_code == 403


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[" * 20000, 400),
        (b"[" * 70000, 413),
        (b"[]", 422),
        (json.dumps({"name": "#1"}).encode(), 422),
        (json.dumps(order(total_price="free")).encode(), 422),
        (json.dumps(order(email="not an email")).encode(), 422),
        (json.dumps(order(email="a\\udc80@example.com")).encode().replace(b"\\\\", b"\\"), 422),
    ],
    ids=["broken", "not-utf8", "deep", "huge", "list", "no-id", "no-total", "bad-email", "surrogate-email"],
)
def test_a_signed_body_that_is_not_an_order_is_a_4xx(tmp_path, monkeypatch, raw, status):
    client = make_app(tmp_path, monkeypatch).test_client()
    assert post(client, None, raw=raw).status_code == status


def test_an_order_naming_no_customer_is_acknowledged_but_not_recorded(tmp_path, monkeypatch):
    client = make_app(tmp_path, monkeypatch).test_client()
    response = post(client, order(email=None))
    assert response.status_code == 200 and response.get_json()["recorded"] is False


def test_the_reference_comes_from_a_note_attribute_or_the_landing_site():
    assert checkout_ref(order("tok-1")) == "tok-1"
    assert checkout_ref({"note_attributes": [{"name": "ref", "value": " tok-2 "}]}) == "tok-2"
    assert checkout_ref({"landing_site": "/cart/123:1?ref=tok-3&utm_source=chat"}) == "tok-3"
    assert checkout_ref({"landing_site": "/products/x", "note_attributes": "junk"}) is None
    assert checkout_ref({}) is None
