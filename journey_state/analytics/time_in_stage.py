"""Time in stage: median and p90 (nearest rank) of completed stays that began in the period.

The ranks are picked in SQL (LIMIT/OFFSET along an index on the duration), so only a few
rows per stage come back.

A stay begins when the contact enters a stage (its creation for the initial stage) and ends
at its next stage transition; stays still open at the end of the period count as `ongoing`.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import duration_stats, ranked_stats
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import channel_identities, stage_stays


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict:
    """Read from stage_stays (journey_state/store/rollups.py, kept exact by triggers): a stay
    that ends at or after the end of the period is ongoing, as if later transitions were unseen."""
    ss = stage_stays.c
    clauses = [ss.journey_model == f.model, ss.entered_at >= f.start, ss.entered_at < f.end]
    if f.persona is not None:
        clauses.append(ss.persona == f.persona)
    if f.channel is not None:
        clauses.append(ss.contact_id.in_(select(channel_identities.c.contact_id).where(channel_identities.c.channel == f.channel)))
    is_open = case((or_(ss.left_at.is_(None), ss.left_at >= f.end), 1), else_=0)
    counts: dict[str, int] = defaultdict(int)
    ongoing: dict[str, int] = defaultdict(int)
    stored: dict[str, set[str]] = defaultdict(set)  # model stage -> stage values stored for it
    for raw, open_, total in conn.execute(select(ss.stage, is_open, func.count()).where(*clauses).group_by(ss.stage, is_open)):
        stage_id = raw or model.initial_stage  # "" is the creation stay, in the initial stage
        (ongoing if open_ else counts)[stage_id] += total
        stored[stage_id].add(raw)
    closed = and_(ss.left_at.is_not(None), ss.left_at < f.end)

    def at_ranks(stage_id: str, first: int, last: int) -> list[float]:
        """Seconds of the closed stays at ranks first..last (1-based), read in index order.

        With one stored value the index gives the order; the initial stage stored both as ""
        and by name needs a sort."""
        values = sorted(stored[stage_id])
        match = ss.stage == values[0] if len(values) == 1 else ss.stage.in_(values)
        # The period test goes through coalesce() so that SQLite walks the seconds index
        # (ix_stage_stays_seconds) instead of sorting the range of ix_stage_stays_entered.
        entered = func.coalesce(ss.entered_at, ss.entered_at)
        period = [entered >= f.start, entered < f.end, *clauses[3:]]
        query = (
            select(ss.seconds)
            .where(ss.journey_model == f.model, match, closed, *period)
            .order_by(ss.seconds)
            .offset(first - 1)
            .limit(last - first + 1)
        )
        return [max(0.0, float(v)) for v in conn.execute(query).scalars()]

    def stats(stage_id: str) -> dict:
        total = counts.get(stage_id, 0)
        if not total:
            return duration_stats([])
        # Nearest ranks: the two middle ones (median) and ceil(0.9 n) (p90).
        middle = at_ranks(stage_id, (total + 1) // 2, (total + 2) // 2)
        p90 = at_ranks(stage_id, (9 * total + 9) // 10, (9 * total + 9) // 10)
        return ranked_stats(total, (middle[0] + middle[-1]) / 2, p90[0])

    stages = [
        {"stage": s.id, "label": s.label, **stats(s.id), "ongoing": ongoing.get(s.id, 0)}
        for s in model.stages
    ]
    return {"stages": stages, "empty": not any(s["count"] or s["ongoing"] for s in stages)}
