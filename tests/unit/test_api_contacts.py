"""Contact routes of the journey API: timeline, export, erasure, stage override, identifiers, events by email."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.console import create_app
from bot.settings import load_settings
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "contacts-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(migrated_url):
    store = JourneyStore(make_engine(migrated_url), load_named_model(PROJECT / "data/journeys", "b2c"))
    return create_app(load_settings({"JOURNEYBOT_API_TOKEN": TOKEN}), store).test_client()


def post_event(client, key, type_, contact, **extra):
    return client.post("/api/events", headers=AUTH, json={"idempotency_key": key, "type": type_, "contact": contact, **extra})


def test_contact_lifecycle_over_the_api(client):
    created = post_event(client, "o-1", "order_placed", {"email": "Zoe@Example.com"}, payload={"order_id": "AUR-7", "amount": 29.0})
    assert created.status_code == 201, created.get_json()
    uid = created.get_json()["contact_id"]

    contact = client.get(f"/api/contacts/{uid}", headers=AUTH).get_json()
    assert contact["stage"] == "purchase" and contact["identifiers"] == [{"kind": "email", "value": "zoe@example.com"}]

    delivered = post_event(client, "o-1-delivered", "order_delivered", {"email": "zoe@example.com"})
    assert delivered.get_json()["stage"] == "retention"

    override = client.post(f"/api/contacts/{uid}/stage", headers=AUTH, json={"stage": "advocacy", "agent": "sam", "reason": "referred 3 friends"})
    assert override.status_code == 200 and override.get_json()["stage"] == "advocacy"

    timeline = client.get(f"/api/contacts/{uid}/timeline", headers=AUTH).get_json()
    kinds = [(i["type"], i.get("to")) for i in timeline["items"]]
    assert kinds == [
        ("business_event", None), ("transition", "purchase"),
        ("business_event", None), ("transition", "retention"),
        ("transition", "advocacy"),
    ]

    export = client.get(f"/api/contacts/{uid}/export", headers=AUTH).get_json()
    assert export["contact"]["stage"] == "advocacy" and len(export["business_events"]) == 2

    receipt = client.delete(f"/api/contacts/{uid}", headers=AUTH)
    assert receipt.status_code == 200 and receipt.get_json()["deleted"]["contacts"] == 1
    for path in (f"/api/contacts/{uid}", f"/api/contacts/{uid}/timeline", f"/api/contacts/{uid}/export"):
        gone = client.get(path, headers=AUTH)
        assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "contact_not_found"
    assert client.delete(f"/api/contacts/{uid}", headers=AUTH).status_code == 404


def test_identifier_verification_merges_contacts(client):
    a = post_event(client, "a-1", "order_paid", {"channel": "telegram", "external_id": "5551"}).get_json()["contact_id"]
    b = post_event(client, "b-1", "review_posted", {"channel": "whatsapp", "external_id": "+4915100000001"}, payload={"rating": 5}).get_json()["contact_id"]
    first = client.post(f"/api/contacts/{a}/identifiers", headers=AUTH, json={"kind": "phone", "value": "+49 151 00000001"})
    assert first.status_code == 200 and first.get_json()["merged"] is False
    second = client.post(f"/api/contacts/{b}/identifiers", headers=AUTH, json={"kind": "phone", "value": "0049 15100000001"})
    body = second.get_json()
    assert body["merged"] is True and body["contact_id"] == a and body["merged_contact_id"] == b
    assert {i["channel"] for i in body["contact"]["identities"]} == {"telegram", "whatsapp"}
    assert body["contact"]["stage"] == "advocacy"  # the furthest of purchase and advocacy
    assert client.get(f"/api/contacts/{b}", headers=AUTH).get_json()["id"] == a


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("stage", {"stage": "legend", "agent": "sam"}, "stage"),
        ("stage", {"stage": "purchase"}, "agent"),
        ("stage", {"stage": 5, "agent": "sam"}, "stage"),
        ("identifiers", {"kind": "email", "value": "nope"}, "value"),
        ("identifiers", {"kind": "fax", "value": "+4912345678"}, "kind"),
        ("identifiers", {"value": "a@b.co"}, "kind"),
    ],
)
def test_bad_contact_requests_are_422_naming_the_field(client, path, body, field):
    uid = post_event(client, "x-1", "order_paid", {"channel": "rest", "external_id": "x"}).get_json()["contact_id"]
    response = client.post(f"/api/contacts/{uid}/{path}", headers=AUTH, json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]["fields"]
    assert client.get(f"/api/contacts/{uid}", headers=AUTH).get_json()["stage"] == "purchase"


def test_idempotency_key_reused_for_another_event_is_409(client):
    assert post_event(client, "k", "order_paid", {"channel": "rest", "external_id": "y"}).status_code == 201
    conflict = post_event(client, "k", "order_refunded", {"channel": "rest", "external_id": "y"})
    assert conflict.status_code == 409 and "already used for a order_paid event" in conflict.get_json()["error"]["message"]
    other_contact = post_event(client, "k", "order_paid", {"channel": "rest", "external_id": "someone-else"})
    assert other_contact.status_code == 409
    # The conflicting request created nothing.
    assert client.get("/api/contacts/by-channel/rest/someone-else", headers=AUTH).status_code == 404


def test_wrong_payload_types_are_named(client):
    response = post_event(client, "p-1", "order_paid", {"channel": "rest", "external_id": "z"}, payload={"amount": "29", "rating": 9})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {"payload.amount", "payload.rating"}


def test_paid_orders_earn_loyalty_points_once(client):
    contact = {"channel": "rest", "external_id": "points-1"}
    first = post_event(client, "pay-1", "order_paid", contact, payload={"order_id": "AUR-501", "amount": 29.0, "currency": "EUR"})
    earned = first.get_json()["loyalty_points"]
    assert earned["earned"] > 0 and earned["balance"] == earned["earned"]
    replay = post_event(client, "pay-1", "order_paid", contact, payload={"order_id": "AUR-501", "amount": 29.0, "currency": "EUR"})
    assert replay.get_json()["loyalty_points"] == {"earned": 0, "balance": earned["balance"]}
    uid = first.get_json()["contact_id"]
    assert client.get(f"/api/contacts/{uid}", headers=AUTH).get_json()["loyalty_points"] == earned["balance"]
    refund = post_event(client, "refund-1", "order_refunded", contact, payload={"order_id": "AUR-501"})
    assert refund.get_json()["loyalty_points"] == {"earned": -earned["earned"], "balance": 0}
