"""Weekly cohorts by first contact: share still active, and share that reached retention, in later weeks.

Weeks start on Monday 00:00 UTC. A contact counts as active in week k (k weeks after its
cohort week) when its last activity is in week k or later (rolling retention); it has
reached retention by week k when it entered the model's retention stage (or a later one)
by the end of week k. Only weeks that have begun before the end of the period are shown.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import RETENTION_STAGE, WEEK_S, contact_scope, epoch, milestone, rate, stage_index, whole
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import contacts, transitions

MAX_WEEKS = 12


def week_start(at: datetime) -> datetime:
    day = at.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict:
    dialect = conn.dialect.name
    base = week_start(f.start)
    base_s = base.timestamp()
    retention = milestone(model, RETENTION_STAGE, "retention")
    cohort = whole((epoch(contacts.c.created_at, dialect) - base_s) / WEEK_S, dialect)
    last_week = whole((epoch(contacts.c.last_activity_at, dialect) - base_s) / WEEK_S, dialect)
    in_cohort = [*contact_scope(f), contacts.c.created_at >= f.start, contacts.c.created_at < f.end]

    active = conn.execute(
        select(cohort.label("cohort"), last_week.label("week"), func.count()).where(*in_cohort).group_by(cohort, last_week)
    ).all()
    first_retained = (
        select(contacts.c.id, contacts.c.created_at, func.min(transitions.c.at).label("at"))
        .join(transitions, transitions.c.contact_id == contacts.c.id)
        .where(*in_cohort, transitions.c.kind == "stage", stage_index(transitions.c.to_value, model) >= model.index(retention))
        .group_by(contacts.c.id, contacts.c.created_at)
        .subquery()
    )
    r_cohort = whole((epoch(first_retained.c.created_at, dialect) - base_s) / WEEK_S, dialect)
    r_week = whole((epoch(first_retained.c.at, dialect) - base_s) / WEEK_S, dialect)
    retained = conn.execute(select(r_cohort, r_week, func.count()).group_by(r_cohort, r_week)).all()

    sizes: dict[int, int] = {}
    for c, _, n in active:
        sizes[c] = sizes.get(c, 0) + n
    observable = int((f.end.timestamp() - base_s - 1) // WEEK_S)  # index of the last week begun before the end
    cohorts = []
    for c in sorted(sizes):
        weeks = min(MAX_WEEKS, observable - c)
        row = {"week": (base + timedelta(weeks=c)).date().isoformat(), "size": sizes[c], "weeks": []}
        for k in range(weeks + 1):
            still = sum(n for cc, w, n in active if cc == c and w is not None and w - cc >= k)
            reached = sum(n for cc, w, n in retained if cc == c and w - cc <= k)
            row["weeks"].append({"week": k, "active": still, "active_rate": rate(still, sizes[c]), "retained": reached, "retained_rate": rate(reached, sizes[c])})
        cohorts.append(row)
    return {"retention_stage": retention, "cohorts": cohorts, "empty": not cohorts}
