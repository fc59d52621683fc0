"""Business events (orders, subscriptions, reviews, referrals) as journey signals."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from journey_state.engine import Signal, Source
from journey_state.event_limits import DEFAULT_LIMITS, EventLimits
from journey_state.identifiers import (
    MAX_EXTERNAL_ID,
    ChannelRef,
    ContactRef,
    InvalidIdentifier,
    identifier,
)
from journey_state.text import TooDeep, clean_json, storable_problem

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
    "checkout_ref": (str,),  # the token of the chat's checkout link this order paid for ({token} in commerce.yml)
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number"}
# Payload strings that name something (an order, a code): rejected when unstorable, since a
# cleaned id would silently name another order. Other payload text is cleaned.
PAYLOAD_IDENTIFIERS = ("order_id", "currency", "plan", "referral_code", "checkout_ref")


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
    # False when the body had no occurred_at (receipt time used): a retry then has another
    # "now", which must not count as a different event under the same idempotency key.
    occurred_at_given: bool = True

    def to_signal(self) -> Signal:
        excerpt = ", ".join(f"{k}={v}" for k, v in list(self.payload.items())[:4])
        return Signal(
            id=f"event:{self.idempotency_key}",
            source=Source.EVENT,
            at=self.occurred_at,
            event=self.type,
            excerpt=f"{self.type}: {excerpt}" if excerpt else self.type,
        )


def _text(body: Mapping[str, Any], key: str, problems: dict[str, str], limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        problems[key] = "is required"
    elif not isinstance(value, str) or not value.strip():
        problems[key] = "must be a non-empty string"
    elif len(value) > limit:
        problems[key] = f"must be at most {limit} characters"
    elif (problem := storable_problem(value)) is not None:
        # An identifier: rejected, never cleaned (see journey_state.text).
        problems[key] = problem
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
        if (problem := storable_problem(raw)) is not None:
            problems[f"contact.{kind}"] = problem
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


def _occurred_at(raw_at: Any, now: datetime, limits: EventLimits, problems: dict[str, str]) -> datetime:
    if raw_at is None:
        return now
    try:
        if not isinstance(raw_at, str):
            raise ValueError
        at = datetime.fromisoformat(raw_at.replace("Z", "+00:00"))
    except ValueError:
        problems["occurred_at"] = "must be an ISO 8601 timestamp, e.g. 2026-01-31T12:00:00Z"
        return now
    if at.tzinfo is None:
        problems["occurred_at"] = "must include a timezone, e.g. 2026-01-31T12:00:00Z"
        return now
    at = at.astimezone(timezone.utc)
    latest = now + limits.max_future_skew
    if not limits.earliest_occurred_at <= at <= latest:
        problems["occurred_at"] = (
            f"must lie between {limits.earliest_occurred_at.isoformat()} and {latest.isoformat()} "
            f"(at most {limits.max_future_skew_hours:g} hours ahead of now)"
        )
    return at


def _payload_problems(payload: Mapping[str, Any], limits: EventLimits, problems: dict[str, str]) -> None:
    for name, types in PAYLOAD_FIELDS.items():
        value = payload.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            problems[f"payload.{name}"] = f"must be {_TYPE_NAMES[types[0]]}, got {type(value).__name__}"
    for name in PAYLOAD_IDENTIFIERS:
        value = payload.get(name)
        if isinstance(value, str) and (problem := storable_problem(value)) is not None:
            problems[f"payload.{name}"] = problem
    amount = payload.get("amount")
    # JSON has no NaN or Infinity, but Python's parser accepts them. A comparison (not
    # math.isfinite, which overflows on a 400-digit int) refuses NaN, ±Infinity and 1e300 alike.
    if isinstance(amount, (int, float)) and not isinstance(amount, bool) and not 0 <= amount <= limits.max_amount:
        problems["payload.amount"] = f"must be a finite number from 0 to {limits.max_amount:g}"
    rating = payload.get("rating")
    if isinstance(rating, int) and not isinstance(rating, bool) and not 1 <= rating <= 5:
        problems["payload.rating"] = "must be between 1 and 5"


def parse_event(body: Any, now: datetime | None = None, limits: EventLimits = DEFAULT_LIMITS) -> BusinessEvent:
    """Validate a POST /api/events body; raise EventValidationError listing every problem."""
    if not isinstance(body, Mapping):
        raise EventValidationError({"(body)": "must be a JSON object"})
    problems: dict[str, str] = {}
    key = _text(body, "idempotency_key", problems, MAX_KEY)
    event_type = _text(body, "type", problems, 64)
    if event_type is not None and event_type not in EVENT_TYPES:
        problems["type"] = f"unknown event type {event_type!r} (known: {', '.join(sorted(EVENT_TYPES))})"

    ref = _contact_ref(body.get("contact"), problems)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    occurred_at = _occurred_at(body.get("occurred_at"), now, limits, problems)

    payload = body.get("payload", {})
    cleaned: dict[str, Any] = {}
    if not isinstance(payload, Mapping):
        problems["payload"] = "must be a JSON object"
    else:
        _payload_problems(payload, limits, problems)
        try:
            cleaned = clean_json(dict(payload))
        except TooDeep as exc:
            problems["payload"] = str(exc)

    if problems:
        raise EventValidationError(problems)
    assert key is not None and event_type is not None and ref is not None  # each missing one is a problem
    return BusinessEvent(key, event_type, ref, occurred_at, cleaned, occurred_at_given=body.get("occurred_at") is not None)
