"""Business events (orders, subscriptions, reviews, referrals) as journey signals."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from journey_state.engine import Signal, Source
from journey_state.identifiers import MAX_EXTERNAL_ID, ChannelRef, ContactRef, InvalidIdentifier, identifier

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

# Known payload fields and their JSON types. Other fields are kept as they are.
_NUMBER = (int, float)
PAYLOAD_FIELDS: dict[str, tuple[type, ...]] = {
    "order_id": (str,),
    "amount": _NUMBER,
    "currency": (str,),
    "plan": (str,),
    "rating": (int,),
    "referral_code": (str,),
    "reason": (str,),
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number"}


class EventValidationError(ValueError):
    """The event body is invalid; `problems` maps field paths to messages."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class BusinessEvent:
    idempotency_key: str
    type: str
    contact: ContactRef
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


def _contact_ref(contact: Any, problems: dict[str, str]) -> ContactRef | None:
    """A channel identity ({channel, external_id}) or a verified {email} or {phone}."""
    if not isinstance(contact, Mapping):
        problems["contact"] = "is required: {channel, external_id}, {email} or {phone}"
        return None
    kinds = [k for k in ("email", "phone") if k in contact]
    if kinds and ("channel" in contact or "external_id" in contact or len(kinds) > 1):
        problems["contact"] = "give exactly one of {channel, external_id}, {email} or {phone}"
        return None
    if kinds:
        kind = kinds[0]
        raw = contact[kind]
        if not isinstance(raw, str):
            problems[f"contact.{kind}"] = "must be a string"
            return None
        try:
            return identifier(kind, raw)
        except InvalidIdentifier as exc:
            problems[f"contact.{kind}"] = str(exc)
            return None
    sub: dict[str, str] = {}
    channel = _text(contact, "channel", sub, 32)
    external = _text(contact, "external_id", sub, MAX_EXTERNAL_ID)
    problems.update({f"contact.{k}": v for k, v in sub.items()})
    return ChannelRef(channel, external) if channel and external else None


def parse_event(body: Any, now: datetime | None = None) -> BusinessEvent:
    """Validate a POST /api/events body; raise EventValidationError listing every problem."""
    if not isinstance(body, Mapping):
        raise EventValidationError({"(body)": "must be a JSON object"})
    problems: dict[str, str] = {}
    key = _text(body, "idempotency_key", problems, MAX_KEY)
    event_type = _text(body, "type", problems, 64)
    if event_type is not None and event_type not in EVENT_TYPES:
        problems["type"] = f"unknown event type {event_type!r} (known: {', '.join(sorted(EVENT_TYPES))})"

    ref = _contact_ref(body.get("contact"), problems)

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
    else:
        for name, types in PAYLOAD_FIELDS.items():
            value = payload.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
                problems[f"payload.{name}"] = f"must be {_TYPE_NAMES[types[0]]}, got {type(value).__name__}"
        rating = payload.get("rating")
        if isinstance(rating, int) and not isinstance(rating, bool) and not 1 <= rating <= 5:
            problems["payload.rating"] = "must be between 1 and 5"

    if problems:
        raise EventValidationError(problems)
    return BusinessEvent(key, event_type, ref, occurred_at.astimezone(timezone.utc), dict(payload))
