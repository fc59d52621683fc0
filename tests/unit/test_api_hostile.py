"""Hostile input to the journey API answers 4xx with a JSON message, never a 500, and stores nothing.

Runs on SQLite and PostgreSQL: PostgreSQL refuses NUL, and no UTF-8 store takes a lone surrogate.
Identifiers (idempotency keys, external ids, order ids, emails) are rejected with a 422 naming the
field; free text (a stage override's reason, other payload text) is cleaned.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.console import create_app
from bot.settings import load_settings
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine
from journey_state.store.tables import business_events, contacts, touchpoints

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "hostile-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def store(migrated_url):
    store = JourneyStore(make_engine(migrated_url), load_named_model(PROJECT / "data/journeys", "b2c"))
    yield store
    store.engine.dispose()


@pytest.fixture
def client(store, tmp_path):
    settings = load_settings({"JOURNEYBOT_API_TOKEN": TOKEN, "JOURNEYBOT_VAR_DIR": str(tmp_path)})
    return create_app(settings, store).test_client()


def event(**overrides):
    body = {
        "idempotency_key": "evt-1",
        "type": "order_paid",
        "contact": {"channel": "whatsapp", "external_id": "+4915112345678"},
        "occurred_at": "2026-05-01T10:00:00Z",
        "payload": {"order_id": "AUR-1001", "amount": 29},
    }
    body.update(overrides)
    return body


def rows(store) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (contacts, business_events, touchpoints))


def post_raw(client, body: str, path: str = "/api/events", content_type: str = "application/json"):
    return client.post(path, data=body.encode("utf-8", "surrogatepass"), content_type=content_type, headers=AUTH)


def assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["message"]
    if field is not None:
        assert field in error["details"]["fields"], error
        assert field in error["message"]
    return error


# JSON text (json.dumps keeps "\udc80" as an escape, exactly what an attacker sends).
SURROGATE, NUL = "\udc80", "\x00"


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
@pytest.mark.parametrize(
    "field, body",
    [
        ("idempotency_key", lambda bad: event(idempotency_key=f"k{bad}")),
        ("contact.external_id", lambda bad: event(contact={"channel": "web", "external_id": f"u{bad}"})),
        ("contact.channel", lambda bad: event(contact={"channel": f"w{bad}", "external_id": "u1"})),
        ("contact.email", lambda bad: event(contact={"email": f"a{bad}@example.com"})),
        ("payload.order_id", lambda bad: event(payload={"order_id": f"AUR-1{bad}", "amount": 1})),
    ],
)
def test_unstorable_identifiers_in_events_are_422_naming_the_field(client, store, field, body, bad):
    before = rows(store)
    assert_error(post_raw(client, json.dumps(body(bad))), 422, field)
    assert rows(store) == before


def test_unstorable_free_text_in_a_payload_is_cleaned(client, store):
    response = post_raw(client, json.dumps(event(payload={"order_id": "AUR-1", "note": f"gift{SURROGATE}{NUL}", f"k{SURROGATE}": 1})))
    assert response.status_code == 201, response.get_json()
    with store.engine.connect() as conn:
        assert conn.execute(select(business_events.c.payload)).scalar_one() == {"order_id": "AUR-1", "note": "gift\ufffd", "k\ufffd": 1}


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
def test_unstorable_identifier_values_and_names_are_422(client, store, bad):
    uid = client.post("/api/events", json=event(), headers=AUTH).get_json()["contact_id"]
    before = rows(store)
    path = f"/api/contacts/{uid}/identifiers"
    assert_error(post_raw(client, json.dumps({"kind": "email", "value": f"a{bad}@example.com"}), path), 422, "value")
    assert_error(post_raw(client, json.dumps({"kind": f"email{bad}", "value": "a@example.com"}), path), 422, "kind")
    stage = f"/api/contacts/{uid}/stage"
    assert_error(post_raw(client, json.dumps({"stage": "retention", "agent": f"ana{bad}"}), stage), 422, "agent")
    assert rows(store) == before
    # A reason is free text: cleaned, and the override applies.
    response = post_raw(client, json.dumps({"stage": "retention", "agent": "ana", "reason": f"asked{bad}"}), stage)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("bad", ["%00", "%ED%B2%80", "x%00y"])
def test_unstorable_ids_in_paths_are_404(client, bad):
    for path in (f"/api/contacts/{bad}", f"/api/contacts/{bad}/timeline", f"/api/contacts/{bad}/export", f"/api/contacts/by-channel/rest/{bad}"):
        assert client.get(path, headers=AUTH).status_code in (400, 404), path
    assert client.delete(f"/api/contacts/{bad}", headers=AUTH).status_code == 404


DEEP = {"idempotency_key": "deep", "payload": {"a": "[" * 40 + "]" * 40}}


@pytest.mark.parametrize("path", ["/api/events", "/api/contacts/" + "0" * 32 + "/stage", "/api/contacts/" + "0" * 32 + "/identifiers"])
@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000, json.dumps(DEEP).replace('"[', "[").replace(']"', "]")],
    ids=["arrays_5000", "objects_5000", "payload_40"],
)
def test_deeply_nested_json_is_a_4xx(client, store, path, body):
    before = rows(store)
    response = post_raw(client, body, path)
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:200]
    assert response.get_json()["error"]["message"]
    assert rows(store) == before


def test_a_mebibyte_body_is_413(client, store):
    response = post_raw(client, json.dumps(event(payload={"note": "x" * (1 << 20)})))
    assert_error(response, 413)
    assert rows(store) == (0, 0, 0)


@pytest.mark.parametrize("path", ["/api/events", "/api/contacts/" + "0" * 32 + "/stage", "/api/contacts/" + "0" * 32 + "/identifiers"])
@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("{", "application/json", 400),
        ("not json", "application/json", 400),
        ("\xff\xfe", "application/json", 400),
        ('{"a": 1}', "text/plain", 415),
        ("a=b", "application/x-www-form-urlencoded", 415),
        ("[]", "application/json", 422),
        ("null", "application/json", 422),
        ('"hi"', "application/json", 422),
        ("42", "application/json", 422),
    ],
)
def test_non_object_and_non_json_bodies_are_4xx(client, store, path, body, content_type, status):
    before = rows(store)
    error = assert_error(post_raw(client, body, path, content_type), status)
    if status == 422:
        assert error["details"]["fields"] == {"(body)": "must be a JSON object"}
    assert rows(store) == before


@pytest.mark.parametrize("path", ["/api/analytics/dashboard", "/api/analytics/funnel", "/api/analytics/journey-map"])
@pytest.mark.parametrize(
    "query, param",
    [
        ({"to": "9999-12-31T23:59:59Z"}, "to"),
        ({"to": "9999-12-31"}, "to"),
        ({"from": "0001-01-01"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "to"),
        ({"to": "9999-12-31T23:59:59-23:59"}, "to"),
    ],
)
def test_analytics_dates_out_of_range_are_422_with_the_accepted_range(client, path, query, param):
    response = client.get(path, query_string=query, headers=AUTH)
    error = assert_error(response, 422)
    assert error["details"]["param"] == param
    assert "2000-01-01" in error["message"] or "is not a date" in error["message"]


def test_405_answers_carry_allow(client):
    response = client.get("/api/events", headers=AUTH)
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]
    response = client.put("/api/contacts/x", headers=AUTH)
    assert response.status_code == 405 and {"GET", "DELETE"} <= set(response.headers["Allow"].replace(" ", "").split(","))


def test_staff_pages_answer_html_errors(client):
    response = client.get("/staff/takeover")
    assert response.status_code == 405 and response.mimetype == "text/html" and "POST" in response.headers["Allow"]
    response = client.get("/staff/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    # Under /api errors stay JSON.
    assert client.get("/api/nope").get_json()["error"]["code"] == "not_found"


# -- business events: idempotency, amounts, time window --------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"payload": {"order_id": "AUR-1001", "amount": 30}},
        {"payload": {"order_id": "AUR-1002", "amount": 29}},
        {"payload": {}},
        {"occurred_at": "2026-05-02T10:00:00Z"},
    ],
    ids=["amount", "order_id", "no_payload", "occurred_at"],
)
def test_same_key_with_a_different_payload_is_409_and_changes_nothing(client, store, change):
    first = client.post("/api/events", json=event(), headers=AUTH)
    assert first.status_code == 201
    before = rows(store)
    contact_before = client.get(f"/api/contacts/{first.get_json()['contact_id']}", headers=AUTH).get_json()
    error = assert_error(client.post("/api/events", json=event(**change), headers=AUTH), 409)
    assert "evt-1" in error["message"]
    assert rows(store) == before
    assert client.get(f"/api/contacts/{first.get_json()['contact_id']}", headers=AUTH).get_json() == contact_before
    with store.engine.connect() as conn:
        assert conn.execute(select(business_events.c.payload)).scalar_one() == {"order_id": "AUR-1001", "amount": 29}
    # The exact same request is still a harmless replay.
    replay = client.post("/api/events", json=event(), headers=AUTH)
    assert replay.status_code == 200 and replay.get_json()["duplicate"] is True


def test_replay_without_occurred_at_is_a_duplicate_not_a_conflict(client):
    body = event()
    del body["occurred_at"]
    assert client.post("/api/events", json=body, headers=AUTH).status_code == 201
    assert client.post("/api/events", json=body, headers=AUTH).status_code == 200


@pytest.mark.parametrize("amount", ["-1", "-0.01", "NaN", "Infinity", "-Infinity", "1e300", "1000000.01", "1" + "0" * 400])
def test_amounts_out_of_bounds_are_422(client, store, amount):
    body = json.dumps(event()).replace('"amount": 29', f'"amount": {amount}')
    assert_error(post_raw(client, body), 422, "payload.amount")
    assert rows(store) == (0, 0, 0)


def test_amount_bound_comes_from_the_business_configuration(store, tmp_path):
    business = tmp_path / "business"
    business.mkdir()
    for source in (PROJECT / "data/business").iterdir():
        (business / source.name).write_bytes(source.read_bytes())
    (business / "events.yml").write_text("max_amount: 100\n")
    settings = load_settings({"JOURNEYBOT_API_TOKEN": TOKEN, "JOURNEYBOT_VAR_DIR": str(tmp_path), "JOURNEYBOT_BUSINESS_DIR": str(business)})
    client = create_app(settings, store).test_client()
    assert client.post("/api/events", json=event(payload={"amount": 100}), headers=AUTH).status_code == 201
    error = assert_error(client.post("/api/events", json=event(idempotency_key="k2", payload={"amount": 100.5}), headers=AUTH), 422, "payload.amount")
    assert "100" in error["message"]


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "future"])
def test_occurred_at_outside_the_window_is_422(client, store, occurred_at):
    if occurred_at == "future":
        occurred_at = (datetime.now(timezone.utc) + timedelta(hours=25)).isoformat()
    error = assert_error(client.post("/api/events", json=event(occurred_at=occurred_at), headers=AUTH), 422, "occurred_at")
    assert "2000-01-01" in error["message"]
    assert rows(store) == (0, 0, 0)


def test_a_slightly_future_event_never_puts_last_activity_in_the_future(client):
    ahead = datetime.now(timezone.utc) + timedelta(hours=23)
    response = client.post("/api/events", json=event(occurred_at=ahead.isoformat()), headers=AUTH)
    assert response.status_code == 201, response.get_json()
    after = datetime.now(timezone.utc)
    contact = client.get(f"/api/contacts/{response.get_json()['contact_id']}", headers=AUTH).get_json()
    assert datetime.fromisoformat(contact["last_activity_at"]) <= after
    assert all(datetime.fromisoformat(t["at"]) <= after for t in contact["transitions"])
