"""Property: no body sent to POST /api/events gets a 5xx, and a rejected one stores nothing.

Hypothesis generates event bodies whose fields are hostile text (lone surrogates, NUL, control
and bidi characters, very long strings) or arbitrary JSON shapes (NaN, Infinity, 1e300, deep
lists), plus bodies that are not JSON objects or not JSON at all. On SQLite and PostgreSQL:
PostgreSQL refuses NUL, and a row count that moves after a 4xx is a half-applied request.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.console import create_app
from bot.settings import load_settings
from journey_state.business_events import EVENT_TYPES
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine
from journey_state.store.tables import business_events, contacts, touchpoints

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "property-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

HOSTILE_PIECES = ["\udc80", "\ud800", "\x00", "\x1b[31m", "\u202e", "\x7f", "\x85", "\ufeff", " ", "\n", "'; DROP TABLE contacts; --", "<svg/onload=alert(1)>", "x" * 300]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=8)), max_size=5).map("".join)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1e300, -1e300, 10**400]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
json_shapes = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)), max_leaves=12)
field = st.one_of(hostile_text, json_shapes)
contact = st.one_of(
    st.fixed_dictionaries({"channel": st.one_of(st.just("web"), field), "external_id": field}),
    st.fixed_dictionaries({"email": st.one_of(field, hostile_text.map(lambda t: f"{t}@example.com"))}),
    st.fixed_dictionaries({"phone": st.one_of(field, hostile_text.map(lambda t: f"+49151{t}"))}),
    json_shapes,
)
payload = st.one_of(
    st.fixed_dictionaries({}, optional={"order_id": field, "amount": st.one_of(numbers, field), "currency": field, "rating": st.one_of(numbers, field), "note": field}),
    json_shapes,
    st.integers(min_value=20, max_value=60).map(lambda n: {"deep": json.loads("[" * n + "]" * n)}),
)
event_bodies = st.fixed_dictionaries(
    {},
    optional={
        "idempotency_key": st.one_of(hostile_text, field),
        "type": st.one_of(st.sampled_from(sorted(EVENT_TYPES)), field),
        "contact": contact,
        "occurred_at": st.one_of(st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-05-01T10:00:00Z", "2026-05-01"]), field),
        "payload": payload,
    },
)
raw_bodies = st.one_of(
    event_bodies.map(json.dumps),
    json_shapes.map(json.dumps),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    st.integers(min_value=500, max_value=6000).map(lambda n: "[" * n + "]" * n),
)
content_types = st.sampled_from(["application/json", "application/json", "application/json", "text/plain", "application/x-www-form-urlencoded", ""])


@pytest.fixture
def client_and_store(migrated_url, tmp_path):
    store = JourneyStore(make_engine(migrated_url), load_named_model(PROJECT / "data/journeys", "b2c"))
    settings_ = load_settings({"JOURNEYBOT_API_TOKEN": TOKEN, "JOURNEYBOT_VAR_DIR": str(tmp_path)})
    yield create_app(settings_, store).test_client(), store
    store.engine.dispose()


def counts(store) -> tuple[int, ...]:
    with store.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (contacts, business_events, touchpoints))


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=raw_bodies, content_type=content_types)
def test_hostile_event_bodies_never_5xx_and_rejected_ones_store_nothing(client_and_store, body, content_type):
    client, store = client_and_store
    before = counts(store)
    response = client.post("/api/events", data=body.encode("utf-8", "surrogatepass"), content_type=content_type, headers=AUTH)
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json and response.get_json().get("error" if response.status_code >= 400 else "contact_id")
    if response.status_code >= 400:
        assert counts(store) == before, f"a {response.status_code} changed stored rows"
