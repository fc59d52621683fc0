"""Funnel by stage for the contacts whose first contact falls in the period.

`reached` counts contacts whose furthest stage (by the end of the period) is that stage or
a later one, so the funnel never widens; `stalled` are those whose furthest stage is this
one (they dropped off here); `entered_in_period` counts the stage transitions into the stage
inside the period (a contact that enters twice counts twice), whenever the contact first
came, plus the new contacts for the initial stage. `at_risk`/`dormant` are the contacts'
current flags, by current stage. The counts come from the per-contact facts
(journey_state/analytics/facts.py).
"""
from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection

from journey_state.analytics import facts, periods
from journey_state.analytics._sql import rate, unindexed
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import channel_identities, contact_facts, contact_rollup, stage_reached, stage_stays


def counts(conn: Connection, f: Filters) -> Counter[Any]:
    """(kind, value) -> contacts created in the period by current state ("current", "<stage>|<at
    risk><dormant>") and by furthest stage index ("furthest"), and stage entries in the period
    ("entered", stage); from contact_rollup and, for partial days, contact_facts and stage_stays."""
    whole, partial = periods.split(f.start, f.end)
    r, cf, ss = contact_rollup.c, contact_facts.c, stage_stays.c
    kinds = r.kind.in_(("current", "furthest", "entered"))
    out = periods.read_days(conn, contact_rollup, [*periods.scope(contact_rollup, f), kinds], whole, (r.kind, r.value)) if whole else Counter()
    for start, end in partial:
        people = select(cf.stage, cf.at_risk, cf.dormant, cf.furthest).where(*periods.scope(contact_facts, f), cf.created_at >= start, cf.created_at < end)
        for stage, at_risk, dormant, furthest in conn.execute(people).all():
            out[("current", facts.current_value(stage, at_risk, dormant))] += 1
            out[("furthest", str(furthest))] += 1
        entries = [ss.journey_model == f.model, ss.seq > 0, ss.entered_at >= start, ss.entered_at < end]
        if f.persona is not None:
            entries.append(ss.persona == f.persona)
        if f.channel is not None:
            ci = channel_identities.c
            entries.append(exists().where(ci.contact_id == ss.contact_id, ci.channel == f.channel))
        for stage, n in conn.execute(select(ss.stage, func.count()).where(*entries).group_by(ss.stage)).all():
            out[("entered", stage)] += n
    return out


def late(conn: Connection, f: Filters) -> Counter[Any]:
    """Stage index -> contacts created in the period that first reached it only after the period."""
    sr = stage_reached.c
    created = unindexed(sr.created_at, conn.dialect.name)  # the selective test is reached_at (ix_stage_reached_late)
    query = select(sr.idx, func.count()).where(*periods.scope(stage_reached, f), sr.reached_at >= f.end, created >= f.start, created < f.end)
    return Counter(dict(conn.execute(query.group_by(sr.idx)).all()))


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict[str, Any]:
    initial = model.index(model.initial_stage)
    got = counts(conn, f)
    furthest = Counter({int(v): n for (kind, v), n in got.items() if kind == "furthest"})
    after_end = late(conn, f)
    # Reached by the end of the period: furthest stage now at or past it, less those who got there later.
    reached = {s.index: sum(n for k, n in furthest.items() if k >= s.index) - after_end[s.index] for s in model.stages}
    total = sum(furthest.values())
    by_furthest = {k: n - reached.get(k + 1, 0) for k, n in reached.items()}
    current: dict[str, list[int]] = {}
    for (kind, value), n in got.items():
        if kind == "current":
            stage, flags = value.rsplit("|", 1)
            entry = current.setdefault(stage, [0, 0, 0])
            entry[0] += n
            entry[1] += n * (flags[0] == "1")
            entry[2] += n * (flags[1] == "1")
    entered = {v: n for (kind, v), n in got.items() if kind == "entered"}
    entered[model.initial_stage] = entered.get(model.initial_stage, 0) + total  # new contacts enter the initial stage
    stages: list[dict[str, Any]] = []
    for stage in model.stages:
        reached_n = reached.get(stage.index, 0) if stage.index >= initial else total
        stalled = by_furthest.get(stage.index, 0) if stage.index < len(model.stages) - 1 else 0
        now = current.get(stage.id, (0, 0, 0))
        stages.append(
            {
                "stage": stage.id,
                "label": stage.label,
                "reached": reached_n,
                "entered_in_period": entered.get(stage.id, 0),
                "stalled": stalled,
                "drop_off_rate": rate(stalled, reached_n),
                "current": now[0],
                "at_risk": now[1],
                "dormant": now[2],
            }
        )
    for here, after in pairwise(stages):
        here["conversion_to_next"] = rate(after["reached"], here["reached"])
    stages[-1]["conversion_to_next"] = None
    return {
        "population": total,
        "stages": stages,
        "at_risk": sum(s["at_risk"] for s in stages),
        "dormant": sum(s["dormant"] for s in stages),
        "empty": total == 0,
    }
