"""Loyalty points: settings (data/business/programs.yml, section `loyalty`) and pure helpers.

Points are kept in a ledger (store table loyalty_ledger); every credit carries a reference
that makes it idempotent per contact: `order:<order_id>` for a purchase,
`order:<order_id>:reversed` for its refund, `referral:<code>:<referred uid>` for referral
rewards. The balance is the sum of the ledger.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from journey_state.business_events import EVENT_TYPES, BusinessEvent
from journey_state.config_files import config_error, read_yaml

PROGRAMS_FILE = "programs.yml"
PROGRAM_SECTIONS = ("loyalty", "referrals")
MAX_REFERENCE = 200  # loyalty_ledger.reference
MAX_POINTS_PER_CREDIT = 1_000_000  # keeps absurd amounts inside the ledger's integer column


@dataclass(frozen=True)
class LoyaltySettings:
    currency: str = "EUR"
    earn_on: frozenset[str] = frozenset({"order_paid", "subscription_renewed"})
    points_per_currency_unit: float = 1.0
    points_per_order: int = 0
    reverse_on: frozenset[str] = frozenset({"order_refunded"})


def points_for_order(settings: LoyaltySettings, event_type: str, payload: Mapping[str, Any]) -> int:
    """Points a purchase event earns: whole currency units x rate (rounded down) + the flat bonus.

    Zero for events that are not purchases, and for amounts in another currency
    (a missing currency means the configured one). Negative or missing amounts earn
    only the flat bonus. Capped at MAX_POINTS_PER_CREDIT.
    """
    if event_type not in settings.earn_on:
        return 0
    currency = payload.get("currency")
    if isinstance(currency, str) and currency.strip().upper() != settings.currency:
        return 0
    amount = payload.get("amount")
    earned = 0
    if isinstance(amount, (int, float)) and not isinstance(amount, bool) and math.isfinite(amount) and amount > 0:
        earned = math.floor(math.floor(amount) * settings.points_per_currency_unit)
    return min(earned + settings.points_per_order, MAX_POINTS_PER_CREDIT)


def order_key(event: BusinessEvent) -> str:
    """What identifies the order: its order_id, else the event's idempotency key."""
    order_id = event.payload.get("order_id")
    key = order_id.strip() if isinstance(order_id, str) and order_id.strip() else f"event:{event.idempotency_key}"
    return key[: MAX_REFERENCE - len("order::reversed")]


def order_reference(event: BusinessEvent) -> str:
    return f"order:{order_key(event)}"


def reversal_reference(event: BusinessEvent) -> str:
    return f"order:{order_key(event)}:reversed"


# -- configuration ---------------------------------------------------------------------


def read_programs(business_dir: str | Path) -> tuple[str, Mapping[str, Any]]:
    """(path, document) of programs.yml, with its top-level keys checked."""
    path = Path(business_dir) / PROGRAMS_FILE
    source = str(path)
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise config_error(source, "(top level)", f"expected a mapping with {', '.join(PROGRAM_SECTIONS)}")
    unknown = set(data) - set(PROGRAM_SECTIONS)
    if unknown:
        raise config_error(source, sorted(unknown)[0], f"unknown key (use {', '.join(PROGRAM_SECTIONS)})")
    return source, data


def section(data: Any, source: str, key: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise config_error(source, key, "expected a mapping")
    unknown = set(data) - allowed
    if unknown:
        raise config_error(source, f"{key}.{sorted(unknown)[0]}", f"unknown key (use {', '.join(sorted(allowed))})")
    return data


def whole(raw: Any, source: str, key: str, minimum: int = 0) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise config_error(source, key, f"expected a whole number, got {raw!r}")
    if raw < minimum:
        raise config_error(source, key, f"must be at least {minimum}, got {raw}")
    return raw


def _event_types(raw: Any, source: str, key: str) -> frozenset[str]:
    if not isinstance(raw, list):
        raise config_error(source, key, "expected a list of business event types")
    for i, item in enumerate(raw):
        if item not in EVENT_TYPES:
            raise config_error(source, f"{key}[{i}]", f"unknown event type {item!r} (known: {', '.join(sorted(EVENT_TYPES))})")
    return frozenset(raw)


def parse_loyalty(data: Any, source: str) -> LoyaltySettings:
    key = "loyalty"
    data = section(data, source, key, {"currency", "earn", "reverse_on"})
    currency = data.get("currency", "EUR")
    if not isinstance(currency, str) or len(currency.strip()) != 3 or not currency.strip().isalpha():
        raise config_error(source, f"{key}.currency", f"expected a 3-letter currency code like EUR, got {currency!r}")
    earn = section(data.get("earn"), source, f"{key}.earn", {"on_events", "points_per_currency_unit", "points_per_order"})
    if "on_events" not in earn:
        raise config_error(source, f"{key}.earn.on_events", "required: the business event types that earn points")
    earn_on = _event_types(earn["on_events"], source, f"{key}.earn.on_events")
    rate = earn.get("points_per_currency_unit", 0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0:
        raise config_error(source, f"{key}.earn.points_per_currency_unit", f"expected a number of points, 0 or more, got {rate!r}")
    per_order = whole(earn.get("points_per_order", 0), source, f"{key}.earn.points_per_order")
    if rate == 0 and per_order == 0:
        raise config_error(source, f"{key}.earn", "set points_per_currency_unit or points_per_order: as it is, nothing earns points")
    reverse_on = _event_types(data.get("reverse_on", []), source, f"{key}.reverse_on")
    both = earn_on & reverse_on
    if both:
        raise config_error(source, f"{key}.reverse_on", f"{sorted(both)[0]!r} cannot both earn and reverse points")
    return LoyaltySettings(currency.strip().upper(), earn_on, float(rate), per_order, reverse_on)


def load_loyalty(business_dir: str | Path) -> LoyaltySettings:
    source, data = read_programs(business_dir)
    if "loyalty" not in data:
        raise config_error(source, "loyalty", "required: the loyalty programme settings")
    return parse_loyalty(data["loyalty"], source)
