"""Validated analytics filters: date range, journey model, channel, persona."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366
_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
# Dates outside this window hold no journey data, and near year 1 or 9999 the period's date
# arithmetic overflows; refusing them keeps every computation in range.
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE = timedelta(days=366)


class AnalyticsFilterError(ValueError):
    """A filter value that cannot be used; the message names the parameter and what is expected."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True)
class Filters:
    """Half-open period [start, end) in UTC, plus optional equality filters."""

    start: datetime
    end: datetime
    model: str
    channel: str | None = None
    persona: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "model": self.model,
            "channel": self.channel,
            "persona": self.persona,
        }


def _instant(param: str, raw: str, end_of_day: bool, now: datetime) -> datetime:
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            value = datetime.combine(day, time(), timezone.utc)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: an offset that pushes the time past year 9999
        raise AnalyticsFilterError(param, f"{raw!r} is not a date; use YYYY-MM-DD or an ISO 8601 time such as 2026-05-01T00:00:00Z") from None
    latest = now + MAX_FUTURE
    if not EARLIEST <= value <= latest:
        raise AnalyticsFilterError(
            param, f"{raw!r} is out of range; accepted dates are {EARLIEST.date().isoformat()} to {latest.date().isoformat()}"
        )
    # A bare `to` date includes that whole day.
    return value + timedelta(days=1) if end_of_day and len(text) == 10 else value


def _name(param: str, raw: str | None) -> str | None:
    if raw is None or not str(raw).strip():
        return None
    value = str(raw).strip()
    if not _NAME.match(value):
        raise AnalyticsFilterError(param, f"{raw!r} is not a valid {param} name (letters, digits, _ . : - ; at most 64)")
    return value


def parse_filters(
    raw: Mapping[str, str | None],
    models: Iterable[str],
    default_model: str,
    now: datetime | None = None,
) -> Filters:
    """Filters from query-string-like values (`from`, `to`, `model`, `channel`, `persona`).

    Defaults: the last 30 days up to now, the configured journey model. An unknown model,
    a malformed date or an inverted range raise AnalyticsFilterError; an unknown channel or
    persona is valid and simply matches nothing (the metrics come back empty).
    """
    now = now or datetime.now(timezone.utc)
    raw_to, raw_from = raw.get("to"), raw.get("from")
    end = _instant("to", raw_to, end_of_day=True, now=now) if raw_to else now
    start = _instant("from", raw_from, end_of_day=False, now=now) if raw_from else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise AnalyticsFilterError("from", f"the period is empty or inverted: from {start.isoformat()} is not before to {end.isoformat()}")
    if end - start > timedelta(days=MAX_DAYS):
        raise AnalyticsFilterError("from", f"the period is longer than {MAX_DAYS} days; choose a shorter range")
    available = sorted(models)
    model = _name("model", raw.get("model")) or default_model
    if model not in available:
        raise AnalyticsFilterError("model", f"unknown journey model {model!r} (available: {', '.join(available) or 'none'})")
    return Filters(start=start, end=end, model=model, channel=_name("channel", raw.get("channel")), persona=_name("persona", raw.get("persona")))
