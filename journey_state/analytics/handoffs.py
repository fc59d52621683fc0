"""Handoffs to human agents created in the period: volume, waits, handling, triggers, CSAT after.

wait = claimed_at - created_at (claimed handoffs); handling = closed_at - claimed_at (closed
ones). The stage of a handoff is the contact's stage when it was created (its stay in
stage_stays at that time; the initial stage if none). CSAT after handoff averages the
CSAT answers linked to those handoffs.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from journey_state.analytics._sql import duration_stats, epoch, rate
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import channel_identities, contacts, feedback, handoffs, stage_stays

TOP_REASONS = 5


def stage_at_creation(model: JourneyModel) -> ColumnElement:
    """The contact's stage when the handoff was created: its stay in stage_stays that holds that
    time; "" (the creation stay) and no stay at all mean the initial stage. A scalar subquery
    along the stays' primary key (a few rows per contact): as a join, PostgreSQL hashed every
    stay (measured 180 ms for 6k handoffs, about 30 ms this way)."""
    ss = stage_stays.c
    stay = (
        select(ss.stage)
        .where(ss.contact_id == handoffs.c.contact_id, ss.entered_at <= handoffs.c.created_at, or_(ss.left_at.is_(None), ss.left_at > handoffs.c.created_at))
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(func.nullif(stay, ""), model.initial_stage)


def _contact(column: ColumnElement) -> ColumnElement:
    return select(column).where(contacts.c.id == handoffs.c.contact_id).scalar_subquery()


def filtered(f: Filters) -> list[Any]:
    # The contact's model and persona as scalar subqueries: one primary-key lookup per handoff.
    # As a join (or EXISTS), PostgreSQL scanned and hashed every contact (measured 75 of 155 ms).
    clauses = [_contact(contacts.c.journey_model) == f.model, handoffs.c.created_at >= f.start, handoffs.c.created_at < f.end]
    if f.persona is not None:
        clauses.append(_contact(contacts.c.persona) == f.persona)
    if f.channel is not None:
        ci = channel_identities.c
        clauses += [handoffs.c.channel == f.channel, exists().where(ci.contact_id == handoffs.c.contact_id, ci.channel == f.channel)]
    return clauses


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict[str, Any]:
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
    # CSAT answers linked to a handoff are few (ix_feedback_handoff); matched here to the handoffs
    # above. As a join, PostgreSQL misjudged the filtered handoffs as one row and scanned the
    # feedback once per handoff (measured 7.9 s with a persona filter).
    ids = {r[0] for r in rows}
    linked = select(feedback.c.handoff_id, feedback.c.score).where(feedback.c.handoff_id.is_not(None), feedback.c.kind == "csat")
    csat = [score for handoff_id, score in conn.execute(linked).all() if handoff_id in ids]
    csat_n, csat_avg = len(csat), (sum(csat) / len(csat) if csat else None)
    triggers: Counter[Any] = Counter()
    reasons: dict[str, Counter[Any]] = defaultdict(Counter)
    waits, handling = [], []
    for _id, trigger, reason, stage, wait, handled in rows:  # positions: attribute access per row cost ~20 ms here
        triggers[trigger] += 1
        reasons[stage][(reason or trigger).strip()[:120]] += 1
        if wait is not None:
            waits.append(max(0.0, float(wait)))
        if handled is not None:
            handling.append(max(0.0, float(handled)))
    total = len(rows)
    return {
        "count": total,
        "wait": duration_stats(waits),
        "handling": duration_stats(handling),
        "by_trigger": [{"trigger": t, "count": n, "share": rate(n, total)} for t, n in sorted(triggers.items(), key=lambda x: (-x[1], x[0]))],
        "by_stage": [
            {"stage": s.id, "count": sum(reasons.get(s.id, Counter()).values()), "top_reasons": [{"reason": k, "count": n} for k, n in reasons.get(s.id, Counter()).most_common(TOP_REASONS)]}
            for s in model.stages
        ],
        "csat_after": None if csat_avg is None else round(float(csat_avg), 2),
        "csat_after_answers": int(csat_n),
        "empty": total == 0,
    }
