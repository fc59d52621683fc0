"""Time in stage: median and p90 (nearest rank) of completed stays that began in the period.

The ranks are picked in SQL (window functions), so only a few rows per stage come back.

A stay begins when the contact enters a stage (its creation for the initial stage) and ends
at its next stage transition; stays still open at the end of the period count as `ongoing`.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import contact_scope, duration_stats, epoch, ranked_stats
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import contacts, transitions


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict:
    dialect = conn.dialect.name
    entries = union_all(
        select(contacts.c.id.label("contact_id"), literal(model.initial_stage).label("stage"), contacts.c.created_at.label("at"), literal(0).label("seq"))
        .where(*contact_scope(f), contacts.c.created_at < f.end),
        select(transitions.c.contact_id, transitions.c.to_value, transitions.c.at, transitions.c.id)
        .where(*contact_scope(f, transitions.c.contact_id), transitions.c.kind == "stage", transitions.c.at < f.end),
    ).subquery()
    left = func.lead(entries.c.at).over(partition_by=entries.c.contact_id, order_by=(entries.c.at, entries.c.seq))
    stays = select(entries.c.stage, entries.c.at.label("entered"), left.label("left")).subquery()
    seconds = epoch(stays.c.left, dialect) - epoch(stays.c.entered, dialect)
    is_open = case((stays.c.left.is_(None), 1), else_=0)
    in_period = select(stays.c.stage, is_open.label("open"), seconds.label("seconds")).where(stays.c.entered >= f.start, stays.c.entered < f.end).subquery()
    part = (in_period.c.stage, in_period.c.open)
    ranked = select(
        in_period.c.stage,
        in_period.c.open,
        in_period.c.seconds,
        func.row_number().over(partition_by=part, order_by=in_period.c.seconds).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).subquery()
    n, rn = ranked.c.n, ranked.c.rn
    # Only the rows at the ranks we need come back: the two middle ones (median) and the
    # nearest rank ceil(0.9 n) (p90); for open stays just their count. Integer operands:
    # "/" is integer division on SQLite and PostgreSQL alike.
    wanted = or_(rn == (n + 1) / 2, rn == (n + 2) / 2, rn == (9 * n + 9) / 10)
    rows = conn.execute(
        select(ranked.c.stage, ranked.c.open, rn, n, ranked.c.seconds).where(or_(and_(ranked.c.open == 1, rn == 1), and_(ranked.c.open == 0, wanted)))
    ).all()
    at_rank: dict[str, dict[int, float]] = defaultdict(dict)
    counts: dict[str, int] = defaultdict(int)
    ongoing: dict[str, int] = defaultdict(int)
    for stage, open_, r, total, value in rows:
        if open_:
            ongoing[stage] = total
        else:
            counts[stage] = total
            at_rank[stage][r] = max(0.0, float(value))

    def stats(stage: str) -> dict:
        total = counts.get(stage, 0)
        if not total:
            return duration_stats([])
        ranks = at_rank[stage]
        med = (ranks[(total + 1) // 2] + ranks[(total + 2) // 2]) / 2
        return ranked_stats(total, med, ranks[(9 * total + 9) // 10])

    stages = [
        {"stage": s.id, "label": s.label, **stats(s.id), "ongoing": ongoing.get(s.id, 0)}
        for s in model.stages
    ]
    return {"stages": stages, "empty": not any(s["count"] or s["ongoing"] for s in stages)}
