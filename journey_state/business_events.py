"""Business events (orders, subscriptions, reviews, referrals) as journey signals."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from journey_state.engine import Signal, Source
from journey_state.store.repository import MAX_EXTERNAL_ID, ChannelRef

EVENT_TYPES = frozenset(
    {
        "order_placed",
        "order_paid",
        "order_delivered",
        "order_refunded",
        "order_cancelled",
        "subscription_renewed",
        "review_posted",
        "referral_signup",
    }
)
MAX_KEY = 200


class EventValidationError(ValueError):
    """The event body is invalid; `problems` maps field paths to messages."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class BusinessEvent:
    idempotency_key: str
    type: str
    contact: ChannelRef
    occurred_at: datetime
    payload: Mapping[str, Any]

    def to_signal(self) -> Signal:
        excerpt = ", ".join(f"{k}={v}" for k, v in list(self.payload.items())[:4])
        return Signal(
            id=f"event:{self.idempotency_key}",
            source=Source.EVENT,
            at=self.occurred_at,
            event=self.type,
            excerpt=f"{self.type}: {excerpt}" if excerpt else self.type,
        )


def _text(body: Mapping, key: str, problems: dict, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        problems[key] = "is required"
    elif not isinstance(value, str) or not value.strip():
        problems[key] = "must be a non-empty string"
    elif len(value) > limit:
        problems[key] = f"must be at most {limit} characters"
    else:
        return value.strip()
    return None


def parse_event(body: Any, now: datetime | None = None) -> BusinessEvent:
    """Validate a POST /api/events body; raise EventValidationError listing every problem."""
    if not isinstance(body, Mapping):
        raise EventValidationError({"(body)": "must be a JSON object"})
    problems: dict[str, str] = {}
    key = _text(body, "idempotency_key", problems, MAX_KEY)
    event_type = _text(body, "type", problems, 64)
    if event_type is not None and event_type not in EVENT_TYPES:
        problems["type"] = f"unknown event type {event_type!r} (known: {', '.join(sorted(EVENT_TYPES))})"

    contact = body.get("contact")
    ref = None
    if not isinstance(contact, Mapping):
        problems["contact"] = "is required: an object with channel and external_id"
    else:
        channel = _text(contact, "channel", sub := {}, 32)
        external = _text(contact, "external_id", sub, MAX_EXTERNAL_ID)
        problems.update({f"contact.{k}": v for k, v in sub.items()})
        if channel and external:
            ref = ChannelRef(channel, external)

    occurred_at = now or datetime.now(timezone.utc)
    raw_at = body.get("occurred_at")
    if raw_at is not None:
        try:
            if not isinstance(raw_at, str):
                raise ValueError
            occurred_at = datetime.fromisoformat(raw_at.replace("Z", "+00:00"))
            if occurred_at.tzinfo is None:
                problems["occurred_at"] = "must include a timezone, e.g. 2026-01-31T12:00:00Z"
        except ValueError:
            problems["occurred_at"] = "must be an ISO 8601 timestamp, e.g. 2026-01-31T12:00:00Z"

    payload = body.get("payload", {})
    if not isinstance(payload, Mapping):
        problems["payload"] = "must be a JSON object"

    if problems:
        raise EventValidationError(problems)
    return BusinessEvent(key, event_type, ref, occurred_at.astimezone(timezone.utc), dict(payload))
