"""Journey API through Flask's test client, on a real SQLite store."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.console import create_app
from bot.settings import load_settings
from journey_state.engine import Signal, Source
from journey_state.model import load_named_model
from journey_state.store import ChannelRef, JourneyStore, make_engine
from journey_state.store.migrate import upgrade

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "unit-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    return JourneyStore(make_engine(url), load_named_model(PROJECT / "data/journeys", "b2c"))


@pytest.fixture()
def client(store, tmp_path):
    settings = load_settings({"JOURNEYBOT_API_TOKEN": TOKEN, "JOURNEYBOT_VAR_DIR": str(tmp_path)})
    return create_app(settings, store).test_client()


def event(**overrides):
    body = {
        "idempotency_key": "evt-1",
        "type": "order_paid",
        "contact": {"channel": "whatsapp", "external_id": "+4915112345678"},
        "occurred_at": "2026-05-01T10:00:00Z",
        "payload": {"order": "AUR-1001", "total": 29},
    }
    body.update(overrides)
    return body


def test_contact_by_channel_returns_stage_and_transitions(client, store):
    at = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    store.record_signal(ChannelRef("rest", "ann"), Signal("m1", Source.CONVERSATION, at, intent="ask_pricing", excerpt="price?", confidence=0.9))
    response = client.get("/api/contacts/by-channel/rest/ann", headers=AUTH)
    assert response.status_code == 200
    body = response.get_json()
    assert body["stage"] == "consideration"
    assert body["transitions"] == [
        {
            "kind": "stage",
            "from": "awareness",
            "to": "consideration",
            "at": "2026-05-01T09:00:00+00:00",
            "evidence": {
                "signal_type": "intent",
                "source": "conversation",
                "signal_id": "m1",
                "excerpt": "price?",
                "confidence": 0.9,
                "rule": "evaluates_offer",
            },
        }
    ]


def test_sender_ids_with_slashes_and_unicode_are_found(client, store):
    at = datetime(2026, 5, 1, tzinfo=timezone.utc)
    store.record_signal(ChannelRef("web", "a/b ü"), Signal("m1", Source.CONVERSATION, at, intent="greet"))
    assert client.get("/api/contacts/by-channel/web/a/b ü", headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "missing Authorization header"),
        ({"Authorization": "Basic abc"}, "must be 'Bearer <token>'"),
        ({"Authorization": "Bearer"}, "must be 'Bearer <token>'"),
        ({"Authorization": "Bearer wrong"}, "invalid API token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "invalid API token"),
    ],
)
def test_bad_tokens_get_401(client, headers, message):
    for method, path in (("get", "/api/contacts/by-channel/rest/ann"), ("post", "/api/events")):
        response = getattr(client, method)(path, headers=headers, json=event())
        assert response.status_code == 401
        assert message in response.get_json()["error"]["message"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_contact_is_404_json(client):
    response = client.get("/api/contacts/by-channel/rest/nobody", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["error"] == {"code": "contact_not_found", "message": "no contact with rest id 'nobody'"}


def test_unknown_route_and_method_are_json(client):
    assert client.get("/api/nothing", headers=AUTH).get_json()["error"]["code"] == "not_found"
    response = client.delete("/api/events", headers=AUTH)
    assert response.status_code == 405 and response.is_json


def test_event_applied_once(client):
    first = client.post("/api/events", headers=AUTH, json=event())
    assert first.status_code == 201
    assert first.get_json()["stage"] == "purchase"
    assert first.get_json()["transitions"][0]["evidence"]["signal_id"] == "event:evt-1"
    again = client.post("/api/events", headers=AUTH, json=event())
    assert again.status_code == 200
    assert again.get_json()["duplicate"] is True and again.get_json()["transitions"] == []
    contact = client.get("/api/contacts/by-channel/whatsapp/+4915112345678", headers=AUTH).get_json()
    assert len(contact["transitions"]) == 1


def test_bad_bodies_are_4xx_and_store_nothing(client):
    cases = [
        (dict(data="{nope", content_type="application/json"), 400, "malformed_json"),
        (dict(data="type=order_paid", content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
        (dict(json=[1, 2]), 422, "invalid_event"),
        (dict(json=event(type="order_teleported")), 422, "invalid_event"),
        (dict(json=event(contact={"channel": "rest"})), 422, "invalid_event"),
        (dict(json=event(occurred_at="yesterday")), 422, "invalid_event"),
        (dict(json=event(payload="text")), 422, "invalid_event"),
        (dict(json=event(payload={"blob": "x" * 70_000})), 413, "request_entity_too_large"),
    ]
    for kwargs, status, code in cases:
        response = client.post("/api/events", headers=AUTH, **kwargs)
        assert response.status_code == status, (kwargs, response.get_json())
        assert response.get_json()["error"]["code"] == code
    assert client.get("/api/contacts/by-channel/whatsapp/+4915112345678", headers=AUTH).status_code == 404


def test_validation_error_lists_every_field(client):
    response = client.post("/api/events", headers=AUTH, json={"type": "nope", "contact": {}})
    fields = response.get_json()["error"]["details"]["fields"]
    assert set(fields) == {"idempotency_key", "type", "contact.channel", "contact.external_id"}


def test_unreachable_database_is_503_not_a_traceback(tmp_path):
    settings = load_settings({"JOURNEYBOT_API_TOKEN": TOKEN})
    broken = JourneyStore(make_engine(f"sqlite:///{tmp_path}/no-such-dir/x.db"), load_named_model(PROJECT / "data/journeys", "b2c"))
    client = create_app(settings, broken).test_client()
    response = client.get("/api/contacts/by-channel/rest/ann", headers=AUTH)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "store_unavailable"


def test_console_refuses_to_start_without_a_token():
    with pytest.raises(SystemExit, match="JOURNEYBOT_API_TOKEN"):
        create_app(load_settings({}))
