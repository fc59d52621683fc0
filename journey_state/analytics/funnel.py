"""Funnel by stage for the contacts whose first contact falls in the period.

`reached` counts contacts whose furthest stage (by the end of the period) is that stage or
a later one, so the funnel never widens; `stalled` are those whose furthest stage is this
one (they dropped off here); `entered_in_period` counts contacts with a stage transition
into the stage inside the period, whenever they first came. `at_risk`/`dormant` are the
contacts' current flags, by current stage.
"""
from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import contact_scope, flag, rate, stage_index
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import contacts, transitions


def population(f: Filters) -> list:
    return [*contact_scope(f), contacts.c.created_at >= f.start, contacts.c.created_at < f.end]


def furthest_stage(f: Filters, model: JourneyModel):
    """Subquery: (contact_id, furthest stage index by the end of the period) for the population."""
    initial = model.index(model.initial_stage)
    reached = func.max(stage_index(transitions.c.to_value, model))
    return (
        select(contacts.c.id.label("contact_id"), func.coalesce(reached, initial).label("furthest"))
        .select_from(
            contacts.outerjoin(
                transitions,
                and_(transitions.c.contact_id == contacts.c.id, transitions.c.kind == "stage", transitions.c.at < f.end),
            )
        )
        .where(*population(f))
        .group_by(contacts.c.id)
        .subquery()
    )


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict:
    initial = model.index(model.initial_stage)
    far = furthest_stage(f, model)
    by_furthest = dict(conn.execute(select(far.c.furthest, func.count()).group_by(far.c.furthest)).all())
    current = {
        row.stage: row
        for row in conn.execute(
            select(
                contacts.c.stage,
                func.count().label("n"),
                func.sum(flag(contacts.c.at_risk.is_(True))).label("at_risk"),
                func.sum(flag(contacts.c.dormant.is_(True))).label("dormant"),
            )
            .where(*population(f))
            .group_by(contacts.c.stage)
        )
    }
    entered = dict(
        conn.execute(
            select(transitions.c.to_value, func.count(transitions.c.contact_id.distinct()))
            .where(*contact_scope(f, transitions.c.contact_id), transitions.c.kind == "stage", transitions.c.at >= f.start, transitions.c.at < f.end)
            .group_by(transitions.c.to_value)
        ).all()
    )
    total = sum(by_furthest.values())
    entered[model.initial_stage] = entered.get(model.initial_stage, 0) + total  # new contacts enter the initial stage
    stages = []
    for stage in model.stages:
        reached = sum(n for idx, n in by_furthest.items() if idx >= stage.index) if stage.index >= initial else total
        stalled = by_furthest.get(stage.index, 0) if stage.index < len(model.stages) - 1 else 0
        now = current.get(stage.id)
        stages.append(
            {
                "stage": stage.id,
                "label": stage.label,
                "reached": reached,
                "entered_in_period": entered.get(stage.id, 0),
                "stalled": stalled,
                "drop_off_rate": rate(stalled, reached),
                "current": now.n if now else 0,
                "at_risk": int(now.at_risk or 0) if now else 0,
                "dormant": int(now.dormant or 0) if now else 0,
            }
        )
    for here, after in zip(stages, stages[1:]):
        here["conversion_to_next"] = rate(after["reached"], here["reached"])
    stages[-1]["conversion_to_next"] = None
    return {
        "population": total,
        "stages": stages,
        "at_risk": sum(s["at_risk"] for s in stages),
        "dormant": sum(s["dormant"] for s in stages),
        "empty": total == 0,
    }
