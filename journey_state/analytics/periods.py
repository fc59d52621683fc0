"""A period split into rollup buckets: whole UTC months, days and weeks read from a rollup
table, and the partial days (or weeks) at either end, which callers read from raw rows."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, overload

from sqlalchemy import Table, and_, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from journey_state.analytics.filters import Filters

ALL = "*"  # the persona of rollup rows summed over all personas (persona names cannot contain it)


def floor_day(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def ceil_day(at: datetime) -> datetime:
    day = floor_day(at)
    return day if day == at else day + timedelta(days=1)


def month_after(day: datetime) -> datetime:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def buckets(day0: datetime, day1: datetime) -> tuple[list[str], list[tuple[str, str]]]:
    """Whole months inside [day0, day1) and the day ranges around them, as rollup buckets."""
    first = day0 if day0.day == 1 else month_after(day0)
    months, at = [], first
    while month_after(at) <= day1:
        months.append(at.strftime("%Y-%m"))
        at = month_after(at)
    if not months:
        return [], [(day0.date().isoformat(), day1.date().isoformat())]
    days = [(day0.date().isoformat(), first.date().isoformat()), (at.date().isoformat(), day1.date().isoformat())]
    return months, [(a, b) for a, b in days if a < b]


def split(start: datetime, end: datetime, unit: str = "day") -> tuple[tuple[datetime, datetime] | None, list[tuple[datetime, datetime]]]:
    """([first, last) of whole days or Monday-weeks inside [start, end) or None, the partial ranges around them)."""
    first = ceil_day(start)
    last = floor_day(end)
    if unit == "week":
        first += timedelta(days=(7 - first.weekday()) % 7)
        last -= timedelta(days=last.weekday())
    if first >= last:
        return None, [(start, end)]
    return (first, last), [(a, b) for a, b in ((start, first), (last, end)) if a < b]


@overload
def read_days(
    conn: Connection, table: Table, scope: Sequence[ColumnElement], whole: tuple[datetime, datetime], cols: Sequence[ColumnElement]
) -> Counter[tuple[Any, ...]]: ...


@overload
def read_days(
    conn: Connection,
    table: Table,
    scope: Sequence[ColumnElement],
    whole: tuple[datetime, datetime],
    cols: Sequence[ColumnElement],
    sums: Sequence[ColumnElement],
) -> dict[tuple[Any, ...], list[int]]: ...


def read_days(
    conn: Connection,
    table: Table,
    scope: Sequence[ColumnElement],
    whole: tuple[datetime, datetime],
    cols: Sequence[ColumnElement],
    sums: Sequence[ColumnElement] | None = None,
) -> Counter[tuple[Any, ...]] | dict[tuple[Any, ...], list[int]]:
    """Sum of `n` (or of each of `sums`, as lists) by `cols` over the whole days [whole) of a d/m
    rollup: months from grain "m", the days around them from grain "d"; one query per bucket
    range (each a primary-key range)."""
    r = table.c
    months, days = buckets(*whole)
    ranges = [and_(r.grain == "d", r.bucket >= a, r.bucket < b) for a, b in days]
    if months:
        ranges.append(and_(r.grain == "m", r.bucket >= months[0], r.bucket <= months[-1]))
    totals = [func.sum(c) for c in (sums or (r.n,))]
    out: dict[tuple[Any, ...], Any] = {} if sums else Counter()
    for bucket_range in ranges:
        for row in conn.execute(select(*cols, *totals).where(bucket_range, *scope).group_by(*cols)).all():
            key, values = tuple(row[: len(cols)]), [int(v) for v in row[len(cols):]]
            if sums:
                out[key] = [a + b for a, b in zip(out.get(key, [0] * len(values)), values, strict=True)]
            else:
                out[key] += values[0]
    return out


def read_weeks(
    conn: Connection, table: Table, scope: Sequence[ColumnElement], whole: tuple[datetime, datetime], cols: Sequence[ColumnElement]
) -> Counter[tuple[Any, ...]]:
    """Sum of `n` by `cols` over the whole weeks [whole) of grain "w" (buckets are Mondays)."""
    r = table.c
    a, b = whole[0].date().isoformat(), whole[1].date().isoformat()
    out: Counter[tuple[Any, ...]] = Counter()
    for *key, n in conn.execute(select(*cols, func.sum(r.n)).where(r.grain == "w", r.bucket >= a, r.bucket < b, *scope).group_by(*cols)).all():
        out[tuple(key)] += int(n)
    return out


def scope(table: Table, f: Filters) -> list[ColumnElement]:
    """Journey model, channel ("" for any) and persona clauses on a facts or rollup table. The
    rollups also hold every count summed over personas (persona ALL), read when none is asked."""
    c = table.c
    clauses = [c.journey_model == f.model, c.channel == (f.channel or "")]
    if table.name.endswith("_rollup"):
        clauses.append(c.persona == (ALL if f.persona is None else f.persona))
    elif f.persona is not None:
        clauses.append(c.persona == f.persona)
    return clauses
