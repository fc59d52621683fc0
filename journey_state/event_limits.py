"""Bounds a business event must lie within, from data/business/events.yml (optional; sane defaults).

Typed with pydantic so a bad value is refused at start-up with the file and key named,
instead of letting every event through or rejecting every event.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import validator

from journey_state.config_files import StrictModel, read_yaml, validate

EVENTS_FILE = "events.yml"


class EventLimits(StrictModel):
    """What POST /api/events accepts for amounts and times."""

    # Larger than any plausible order, small enough that sums in analytics stay exact floats.
    max_amount: float = 1_000_000.0
    # Nothing journeybot tracks happened before e-commerce; year 1 is a typo or an attack.
    earliest_occurred_at: datetime = datetime(2000, 1, 1, tzinfo=timezone.utc)
    # Shop clocks drift; a day covers every time zone mistake without accepting year 9999.
    max_future_skew_hours: float = 24.0

    @validator("max_amount")
    def _positive_finite(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError("must be a positive finite number")
        return value

    @validator("max_future_skew_hours")
    def _at_most_a_week(cls, value: float) -> float:
        if not 0 <= value <= 24 * 7:
            raise ValueError("must be from 0 to 168 hours")
        return value

    @validator("earliest_occurred_at")
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    @property
    def max_future_skew(self) -> timedelta:
        return timedelta(hours=self.max_future_skew_hours)


DEFAULT_LIMITS = EventLimits()


def load_event_limits(business_dir: str | Path) -> EventLimits:
    """The limits in `business_dir`/events.yml, or the defaults when there is no such file."""
    path = Path(business_dir) / EVENTS_FILE
    if not path.exists():
        return DEFAULT_LIMITS
    return validate(EventLimits, read_yaml(path) or {}, path,
                    expected="expected a mapping (max_amount, earliest_occurred_at, max_future_skew_hours)")
