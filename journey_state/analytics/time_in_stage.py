"""Time in stage: median and p90 (nearest rank) of completed stays that began in the period.

A stay begins when the contact enters a stage (its creation for the initial stage) and ends
at its next stage transition; stays still open at the end of the period count as `ongoing`.

Exact without reading every stay: contact_rollup counts the stays per day of entry, stage
and duration bucket (journey_state/analytics/facts.py); the buckets locate each wanted rank,
and only that bucket's stays are read back from stage_stays, along its duration index.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection

from journey_state.analytics import periods
from journey_state.analytics._sql import duration_stats, ranked_stats, unindexed
from journey_state.analytics.facts import duration_bucket, duration_range
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import channel_identities, contact_rollup, stage_stays

OPEN = -1


def _stay_scope(f: Filters) -> list[Any]:
    ss = stage_stays.c
    clauses = [ss.journey_model == f.model]
    if f.persona is not None:
        clauses.append(ss.persona == f.persona)
    if f.channel is not None:
        # A probe per stay read: an IN (subquery) list was built again for every rank query.
        ci = channel_identities.c
        clauses.append(exists().where(ci.contact_id == ss.contact_id, ci.channel == f.channel))
    return clauses


def bucket_counts(conn: Connection, model: JourneyModel, f: Filters) -> Counter[Any]:
    """(stage, duration bucket or OPEN) -> stays that began in the period, open or closed as seen from its end."""
    ss, r = stage_stays.c, contact_rollup.c
    out: Counter[Any] = Counter()
    whole, partial = periods.split(f.start, f.end)
    if whole:
        for (value,), n in periods.read_days(conn, contact_rollup, [*periods.scope(contact_rollup, f), r.kind == "stay"], whole, (r.value,)).items():
            stage, bucket = value.rsplit("|", 1)
            out[(stage, int(bucket))] += n
        # Stays closed after the end of the period were still open at its end.
        entered = unindexed(ss.entered_at, conn.dialect.name)  # the selective test is left_at (ix_stage_stays_left)
        later = select(ss.stage, ss.seconds, func.count()).where(*_stay_scope(f), ss.left_at >= f.end, entered >= whole[0], entered < whole[1])
        for stage, seconds, n in conn.execute(later.group_by(ss.stage, ss.seconds)).all():
            out[(stage or model.initial_stage, duration_bucket(seconds))] -= n
            out[(stage or model.initial_stage, OPEN)] += n
    for start, end in partial:
        raw = select(ss.stage, ss.left_at, ss.seconds).where(*_stay_scope(f), ss.entered_at >= start, ss.entered_at < end)
        for stage, left_at, seconds in conn.execute(raw).all():
            closed = left_at is not None and left_at < f.end
            out[(stage or model.initial_stage, duration_bucket(seconds) if closed else OPEN)] += 1
    return out


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict[str, Any]:
    ss = stage_stays.c
    counts = bucket_counts(conn, model, f)

    def at_rank(stage_id: str, rank: int) -> float:
        """Seconds of the closed stay at `rank` (1-based, by duration) in the stage."""
        seen = 0
        for bucket in sorted(b for (s, b), n in counts.items() if s == stage_id and b != OPEN and n):
            n = counts[(stage_id, bucket)]
            if seen + n >= rank:
                break
            seen += n
        low, high = duration_range(bucket)
        stored = [stage_id, ""] if stage_id == model.initial_stage else [stage_id]  # "" is the creation stay
        # The period test goes through coalesce() so that SQLite walks the duration index
        # (ix_stage_stays_seconds) instead of the range of ix_stage_stays_entered.
        entered = func.coalesce(ss.entered_at, ss.entered_at)
        left = unindexed(ss.left_at, conn.dialect.name)  # nor the range of ix_stage_stays_left
        clauses = [ss.stage.in_(stored), left.is_not(None), left < f.end, entered >= f.start, entered < f.end, *_stay_scope(f)]
        if low is not None:
            clauses.append(ss.seconds >= low)
        if high is not None:
            clauses.append(ss.seconds < high)
        value = conn.execute(select(ss.seconds).where(*clauses).order_by(ss.seconds).offset(rank - seen - 1).limit(1)).scalar_one()
        return max(0.0, float(value))

    def stats(stage_id: str) -> dict[str, Any]:
        total = sum(n for (s, b), n in counts.items() if s == stage_id and b != OPEN)
        if not total:
            return duration_stats([])
        # Nearest ranks: the two middle ones (median) and ceil(0.9 n) (p90).
        low, high = at_rank(stage_id, (total + 1) // 2), at_rank(stage_id, (total + 2) // 2)
        return ranked_stats(total, (low + high) / 2, at_rank(stage_id, (9 * total + 9) // 10))

    stages = [{"stage": s.id, "label": s.label, **stats(s.id), "ongoing": counts.get((s.id, OPEN), 0)} for s in model.stages]
    return {"stages": stages, "empty": not any(s["count"] or s["ongoing"] for s in stages)}
