"""Handoffs to human agents created in the period: volume, waits, handling, triggers, CSAT after.

wait = claimed_at - created_at (claimed handoffs); handling = closed_at - claimed_at (closed
ones). The stage of a handoff is the contact's stage when it was created (from the last
stage transition before it; the initial stage if none). CSAT after handoff averages the
CSAT answers linked to those handoffs.
"""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import contact_scope, duration_stats, epoch, rate
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import feedback, handoffs, transitions

TOP_REASONS = 5


def stage_at_creation(model: JourneyModel):
    last = (
        select(transitions.c.to_value)
        .where(transitions.c.contact_id == handoffs.c.contact_id, transitions.c.kind == "stage", transitions.c.at <= handoffs.c.created_at)
        .order_by(transitions.c.at.desc(), transitions.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(last, model.initial_stage)


def filtered(f: Filters) -> list:
    clauses = [*contact_scope(f, handoffs.c.contact_id), handoffs.c.created_at >= f.start, handoffs.c.created_at < f.end]
    if f.channel is not None:
        clauses.append(handoffs.c.channel == f.channel)
    return clauses


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict:
    dialect = conn.dialect.name
    rows = conn.execute(
        select(
            handoffs.c.id,
            handoffs.c.trigger,
            handoffs.c.reason,
            stage_at_creation(model).label("stage"),
            (epoch(handoffs.c.claimed_at, dialect) - epoch(handoffs.c.created_at, dialect)).label("wait"),
            (epoch(handoffs.c.closed_at, dialect) - epoch(handoffs.c.claimed_at, dialect)).label("handling"),
        ).where(*filtered(f))
    ).all()
    csat_n, csat_avg = conn.execute(
        select(func.count(feedback.c.id), func.avg(feedback.c.score))
        .select_from(handoffs.join(feedback, feedback.c.handoff_id == handoffs.c.id))
        .where(*filtered(f), feedback.c.kind == "csat")
    ).one()
    triggers = Counter(r.trigger for r in rows)
    reasons: dict[str, Counter] = {}
    for r in rows:
        reasons.setdefault(r.stage, Counter())[(r.reason or r.trigger).strip()[:120]] += 1
    total = len(rows)
    return {
        "count": total,
        "wait": duration_stats([max(0.0, float(r.wait)) for r in rows if r.wait is not None]),
        "handling": duration_stats([max(0.0, float(r.handling)) for r in rows if r.handling is not None]),
        "by_trigger": [{"trigger": t, "count": n, "share": rate(n, total)} for t, n in sorted(triggers.items(), key=lambda x: (-x[1], x[0]))],
        "by_stage": [
            {"stage": s.id, "count": sum(reasons.get(s.id, Counter()).values()), "top_reasons": [{"reason": k, "count": n} for k, n in reasons.get(s.id, Counter()).most_common(TOP_REASONS)]}
            for s in model.stages
        ],
        "csat_after": None if not csat_n else round(float(csat_avg), 2),
        "csat_after_answers": int(csat_n),
        "empty": total == 0,
    }
