"""Loyalty points: settings (data/business/programs.yml, section `loyalty`) and pure helpers.

Points are kept in a ledger (store table loyalty_ledger); every credit carries a reference
that makes it idempotent per contact: `order:<order_id>` for a purchase,
`order:<order_id>:reversed` for its refund, `referral:<code>:<referred uid>` for referral
rewards. The balance is the sum of the ledger.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import root_validator, validator

from journey_state.business_events import EVENT_TYPES, BusinessEvent
from journey_state.config_files import (
    KeyProblem,
    StrictModel,
    config_error,
    read_yaml,
    validate,
    whole_number,
)

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


class ProgramsFile(StrictModel):
    """programs.yml's top level; each section is validated by its own module."""

    loyalty: Any = None
    referrals: Any = None


def read_programs(business_dir: str | Path) -> tuple[str, Mapping[str, Any]]:
    """(path, document) of programs.yml, with its top-level keys checked."""
    path = Path(business_dir) / PROGRAMS_FILE
    source = str(path)
    data = read_yaml(path)
    validate(ProgramsFile, data, source, expected=f"expected a mapping with {', '.join(PROGRAM_SECTIONS)}")
    return source, data


def _event_types(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("expected a list of business event types")
    for i, item in enumerate(value):
        if item not in EVENT_TYPES:
            raise KeyProblem([i], f"unknown event type {item!r} (known: {', '.join(sorted(EVENT_TYPES))})")
    return value


class EarnSection(StrictModel):
    on_events: frozenset[str] = frozenset()
    points_per_currency_unit: float = 0
    points_per_order: int = 0

    required_keys: ClassVar[Mapping[str, str]] = {"on_events": "required: the business event types that earn points"}

    _types = validator("on_events", pre=True, allow_reuse=True)(_event_types)

    @validator("points_per_currency_unit", pre=True)
    def _rate(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a number of points, 0 or more, got {value!r}")
        return value

    @validator("points_per_order", pre=True)
    def _per_order(cls, value: Any) -> int:
        return whole_number(value)

    @root_validator(skip_on_failure=True)
    def _earns_something(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values["points_per_currency_unit"] == 0 and values["points_per_order"] == 0:
            raise ValueError("set points_per_currency_unit or points_per_order: as it is, nothing earns points")
        return values


class LoyaltySection(StrictModel):
    currency: str = "EUR"
    earn: EarnSection
    reverse_on: frozenset[str] = frozenset()

    @validator("currency", pre=True)
    def _currency(cls, value: Any) -> Any:
        if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
            raise ValueError(f"expected a 3-letter currency code like EUR, got {value!r}")
        return value.strip().upper()

    _types = validator("reverse_on", pre=True, allow_reuse=True)(_event_types)

    @root_validator(skip_on_failure=True)
    def _earn_or_reverse(cls, values: dict[str, Any]) -> dict[str, Any]:
        both = values["earn"].on_events & values["reverse_on"]
        if both:
            raise KeyProblem(["reverse_on"], f"{sorted(both)[0]!r} cannot both earn and reverse points")
        return values


def parse_loyalty(data: Any, source: str) -> LoyaltySettings:
    raw = validate(LoyaltySection, data, source, at=["loyalty"])
    earn = raw.earn
    return LoyaltySettings(raw.currency, earn.on_events, float(earn.points_per_currency_unit), earn.points_per_order, raw.reverse_on)


def load_loyalty(business_dir: str | Path) -> LoyaltySettings:
    source, data = read_programs(business_dir)
    if "loyalty" not in data:
        raise config_error(source, "loyalty", "required: the loyalty programme settings")
    return parse_loyalty(data["loyalty"], source)
