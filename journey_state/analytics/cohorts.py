"""Weekly cohorts by first contact: share still active, and share that reached retention, in later weeks.

Weeks start on Monday 00:00 UTC. A contact counts as active in week k (k weeks after its
cohort week) when its last activity is in week k or later (rolling retention); it has
reached retention by week k when it entered the model's retention stage (or a later one)
by the end of week k. Only weeks that have begun before the end of the period are shown.
The counts come from the per-contact facts (journey_state/analytics/facts.py).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from journey_state.analytics import facts, periods
from journey_state.analytics._sql import RETENTION_STAGE, milestone, rate
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import contact_facts, contact_rollup

MAX_WEEKS = 12


def week_start(at: datetime) -> datetime:
    day = at.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def counts(conn: Connection, f: Filters) -> Counter[Any]:
    """("active" | "retained", cohort Monday, Monday of the last activity / of reaching retention)
    -> contacts created in the period; from contact_rollup (whole weeks, then the whole days of
    the partial weeks) and contact_facts (the partial days at either end)."""
    whole_weeks, partial_weeks = periods.split(f.start, f.end, unit="week")
    r, cf = contact_rollup.c, contact_facts.c
    scope = [*periods.scope(contact_rollup, f), r.kind.in_(("active", "retained"))]
    out = periods.read_weeks(conn, contact_rollup, scope, whole_weeks, (r.kind, r.bucket, r.value)) if whole_weeks else Counter()
    for week_start_, week_end in partial_weeks:
        whole_days, partial_days = periods.split(week_start_, week_end)
        if whole_days:
            a, b = whole_days[0].date().isoformat(), whole_days[1].date().isoformat()
            by_day = select(r.kind, r.bucket, r.value, func.sum(r.n)).where(r.grain == facts.DAY, r.bucket >= a, r.bucket < b, *scope)
            for kind, day, value, n in conn.execute(by_day.group_by(r.kind, r.bucket, r.value)).all():
                out[(kind, facts.monday_of(day), value)] += int(n)
        for start, end in partial_days:
            people = select(cf.created_at, cf.last_activity_at, cf.retained_at).where(*periods.scope(contact_facts, f), cf.created_at >= start, cf.created_at < end)
            for created_at, last, retained in conn.execute(people).all():
                week = facts.monday(created_at)
                out[("active", week, facts.monday(last) if last is not None else "")] += 1
                if retained is not None:
                    out[("retained", week, facts.monday(retained))] += 1
    return out


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict[str, Any]:
    base = week_start(f.start)
    retention = milestone(model, RETENTION_STAGE, "retention")

    def index(monday: str) -> int:
        return (date.fromisoformat(monday) - base.date()).days // 7

    active: list[tuple[int, int | None, int]] = []
    retained: list[tuple[int, int, int]] = []
    for (kind, cohort, value), n in counts(conn, f).items():
        if kind == "active":
            active.append((index(cohort), index(value) if value else None, n))
        elif n:
            retained.append((index(cohort), index(value), n))

    sizes: Counter[Any] = Counter()
    last_seen: dict[int, Counter[int]] = defaultdict(Counter)  # cohort -> weeks after it -> contacts last active then
    first_retained: dict[int, Counter[int]] = defaultdict(Counter)  # cohort -> weeks after it -> contacts retained then
    for c, w, n in active:
        sizes[c] += n
        if w is not None:
            last_seen[c][w - c] += n
    for c, w, n in retained:
        first_retained[c][w - c] += n
    observable = (f.end - base - timedelta(microseconds=1)) // timedelta(weeks=1)  # the last week begun before the end
    cohorts = []
    for c in sorted(k for k, n in sizes.items() if n):
        weeks = min(MAX_WEEKS, observable - c)
        row: dict[str, Any] = {"week": (base + timedelta(weeks=c)).date().isoformat(), "size": sizes[c], "weeks": []}
        for k in range(weeks + 1):
            still = sum(n for after, n in last_seen[c].items() if after >= k)
            reached = sum(n for after, n in first_retained[c].items() if after <= k)
            row["weeks"].append({"week": k, "active": still, "active_rate": rate(still, sizes[c]), "retained": reached, "retained_rate": rate(reached, sizes[c])})
        cohorts.append(row)
    return {"retention_stage": retention, "cohorts": cohorts, "empty": not cohorts}
