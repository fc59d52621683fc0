"""POST /api/events bodies (journey_state/business_events.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from journey_state.business_events import (
    EVENT_TYPES,
    MAX_EXTERNAL_ID,
    MAX_KEY,
    BusinessEvent,
    EventValidationError,
    parse_event,
)
from journey_state.engine import Source
from journey_state.store import ChannelRef

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PROJECT_BUSINESS = Path(__file__).resolve().parents[2] / "data" / "business"


def body(**changes):
    data = {
        "idempotency_key": "shop-order-1001-paid",
        "type": "order_paid",
        "contact": {"channel": "telegram", "external_id": "12345"},
        "occurred_at": "2026-02-28T10:15:00Z",
        "payload": {"order_id": "1001", "amount": 29},
    }
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def problems(data) -> dict[str, str]:
    with pytest.raises(EventValidationError) as info:
        parse_event(data, now=NOW)
    assert str(info.value)  # the message summarises every problem
    for field, message in info.value.problems.items():
        assert f"{field}: {message}" in str(info.value)
    return info.value.problems


def test_valid_body():
    event = parse_event(body(), now=NOW)
    assert event == BusinessEvent(
        idempotency_key="shop-order-1001-paid",
        type="order_paid",
        contact=ChannelRef("telegram", "12345"),
        occurred_at=datetime(2026, 2, 28, 10, 15, tzinfo=timezone.utc),
        payload={"order_id": "1001", "amount": 29},
    )


def test_to_signal():
    signal = parse_event(body(), now=NOW).to_signal()
    assert signal.id == "event:shop-order-1001-paid"
    assert signal.source is Source.EVENT
    assert signal.event == "order_paid" and signal.intent is None
    assert signal.at == datetime(2026, 2, 28, 10, 15, tzinfo=timezone.utc)
    assert signal.signal_type == "event"
    assert signal.excerpt == "order_paid: order_id=1001, amount=29"


def test_to_signal_without_payload():
    signal = parse_event(body(payload=...), now=NOW).to_signal()
    assert signal.excerpt == "order_paid"


def test_text_fields_are_stripped():
    event = parse_event(
        body(idempotency_key="  k1 ", type=" order_paid ", contact={"channel": " web ", "external_id": " u1 "}), now=NOW
    )
    assert (event.idempotency_key, event.type, event.contact) == ("k1", "order_paid", ChannelRef("web", "u1"))


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_known_type_is_accepted(event_type):
    assert parse_event(body(type=event_type), now=NOW).type == event_type


def test_occurred_at_defaults_to_now():
    assert parse_event(body(occurred_at=...), now=NOW).occurred_at == NOW
    before = datetime.now(timezone.utc)
    occurred = parse_event(body(occurred_at=...)).occurred_at
    assert before <= occurred <= datetime.now(timezone.utc)
    assert occurred.tzinfo is not None


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("2026-02-28T10:15:00Z", datetime(2026, 2, 28, 10, 15, tzinfo=timezone.utc)),
        ("2026-02-28T10:15:00+00:00", datetime(2026, 2, 28, 10, 15, tzinfo=timezone.utc)),
        ("2026-02-28T12:15:00+02:00", datetime(2026, 2, 28, 10, 15, tzinfo=timezone.utc)),
        ("2026-02-28T05:15:00-05:00", datetime(2026, 2, 28, 10, 15, tzinfo=timezone.utc)),
        ("2026-02-28T10:15:00.250Z", datetime(2026, 2, 28, 10, 15, 0, 250000, tzinfo=timezone.utc)),
        ("2026-03-01T00:15:00+14:00", datetime(2026, 2, 28, 10, 15, tzinfo=timezone.utc)),
    ],
)
def test_occurred_at_with_z_and_offsets_is_normalised_to_utc(raw, expected):
    occurred = parse_event(body(occurred_at=raw), now=NOW).occurred_at
    assert occurred == expected
    assert occurred.utcoffset() == timedelta(0)


@pytest.mark.parametrize("raw", ["2026-02-28T10:15:00", "2026-02-28"])
def test_naive_timestamp_is_rejected(raw):
    found = problems(body(occurred_at=raw))
    assert list(found) == ["occurred_at"]
    assert "timezone" in found["occurred_at"]


@pytest.mark.parametrize("raw", ["yesterday", "28/02/2026 10:15", "", 1772273700, ["2026-02-28T10:15:00Z"]])
def test_unparseable_timestamp_is_rejected(raw):
    found = problems(body(occurred_at=raw))
    assert list(found) == ["occurred_at"]
    assert "ISO 8601" in found["occurred_at"]


@pytest.mark.parametrize("field", ["idempotency_key", "type"])
def test_required_text_fields(field):
    assert problems(body(**{field: ...})) == {field: "is required"}
    assert problems(body(**{field: "   "})) == {field: "must be a non-empty string"}
    assert problems(body(**{field: 42})) == {field: "must be a non-empty string"}


def test_idempotency_key_length_limit():
    assert parse_event(body(idempotency_key="k" * MAX_KEY), now=NOW).idempotency_key == "k" * MAX_KEY
    assert problems(body(idempotency_key="k" * (MAX_KEY + 1))) == {
        "idempotency_key": f"must be at most {MAX_KEY} characters"
    }


def test_unknown_type_lists_known_types():
    found = problems(body(type="order_shipped"))
    assert list(found) == ["type"]
    assert found["type"].startswith("unknown event type 'order_shipped' (known: ")
    for known in EVENT_TYPES:
        assert known in found["type"]


@pytest.mark.parametrize("contact", [..., None, "telegram:12345", ["telegram", "12345"]])
def test_contact_must_be_an_object(contact):
    assert list(problems(body(contact=contact))) == ["contact"]


@pytest.mark.parametrize("field", ["channel", "external_id"])
def test_contact_fields(field):
    contact = {"channel": "telegram", "external_id": "12345"}
    del contact[field]
    assert problems(body(contact=contact)) == {f"contact.{field}": "is required"}
    contact[field] = ""
    assert problems(body(contact=contact)) == {f"contact.{field}": "must be a non-empty string"}


def test_contact_length_limits():
    assert problems(body(contact={"channel": "c" * 33, "external_id": "1"})) == {"contact.channel": "must be at most 32 characters"}
    too_long = {"channel": "web", "external_id": "x" * (MAX_EXTERNAL_ID + 1)}
    assert problems(body(contact=too_long)) == {"contact.external_id": f"must be at most {MAX_EXTERNAL_ID} characters"}


@pytest.mark.parametrize("payload", [[], "order 1001", 3])
def test_payload_must_be_an_object(payload):
    assert list(problems(body(payload=payload))) == ["payload"]


def test_all_problems_are_reported_at_once():
    found = problems(
        {
            "type": "order_shipped",
            "contact": {"channel": "", "external_id": 7},
            "occurred_at": "2026-02-28T10:15:00",
            "payload": [],
        }
    )
    assert set(found) == {"idempotency_key", "type", "contact.channel", "contact.external_id", "occurred_at", "payload"}


@pytest.mark.parametrize("raw", [None, [], "order_paid", 3])
def test_body_must_be_an_object(raw):
    assert problems(raw) == {"(body)": "must be a JSON object"}


# -- bounds from data/business/events.yml (journey_state/event_limits.py) ------------------------


def test_event_limits_default_and_shipped_file_agree(tmp_path):
    from journey_state.event_limits import DEFAULT_LIMITS, load_event_limits

    assert load_event_limits(tmp_path) == DEFAULT_LIMITS  # no file: the defaults
    assert load_event_limits(PROJECT_BUSINESS) == DEFAULT_LIMITS


@pytest.mark.parametrize(
    "text, key",
    [("max_amount: -5\n", "max_amount"), ("max_amount: .inf\n", "max_amount"), ("max_amount: lots\n", "max_amount"),
     ("max_future_skew_hours: 10000\n", "max_future_skew_hours"), ("maximum: 5\n", "maximum"), ("- 1\n", "expected a mapping")],
)
def test_bad_event_limits_name_the_file_and_key(tmp_path, text, key):
    from journey_state.event_limits import load_event_limits
    from journey_state.replies import BusinessConfigError

    (tmp_path / "events.yml").write_text(text)
    with pytest.raises(BusinessConfigError, match=key) as info:
        load_event_limits(tmp_path)
    assert "events.yml" in str(info.value)


def test_limits_bound_amount_and_time():
    from journey_state.event_limits import EventLimits

    limits = EventLimits(max_amount=50, max_future_skew_hours=1)
    assert parse_event(body(payload={"amount": 50}), now=NOW, limits=limits).payload["amount"] == 50
    assert set(problems_with(body(payload={"amount": 50.01}), limits)) == {"payload.amount"}
    assert set(problems_with(body(occurred_at="2026-03-01T13:00:01Z"), limits)) == {"occurred_at"}
    assert parse_event(body(occurred_at="2026-03-01T13:00:00Z"), now=NOW, limits=limits).occurred_at == NOW + timedelta(hours=1)


def problems_with(data, limits) -> dict[str, str]:
    with pytest.raises(EventValidationError) as info:
        parse_event(data, now=NOW, limits=limits)
    return info.value.problems
