"""Touchpoints in the period by stage, channel, intent and emotion (one aggregate query).

The aggregate feeds this module's per-stage view (channels, top questions), the journey
map (emotion curve, fallbacks, complaints) and the dashboard's totals. The channel filter
applies to the touchpoint's own channel.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import COMPLAINT_INTENTS, FALLBACK_INTENTS, VALENCE, contact_scope, rate, unindexed
from journey_state.analytics.filters import Filters
from journey_state.analytics.periods import buckets as _buckets
from journey_state.analytics.periods import ceil_day as _ceil_day
from journey_state.model import JourneyModel
from journey_state.store.tables import touch_rollup, touchpoints

TOP = 5
NOT_QUESTIONS = frozenset({"greet", "goodbye", "thanks", "affirm", "deny", *FALLBACK_INTENTS})


@dataclass(frozen=True)
class TouchCounts:
    """(stage, channel, intent, emotion) -> touchpoints."""

    rows: tuple[tuple[str, str, str | None, str | None, int], ...]

    def by(self, *keys: int) -> Counter[Any]:
        counts: Counter[Any] = Counter()
        for row in self.rows:
            counts[tuple(row[k] for k in keys)] += row[4]
        return counts


def aggregate(conn: Connection, model: JourneyModel, f: Filters, join_contacts: bool = True) -> TouchCounts:
    """Touchpoint counts by (stage, channel, intent, emotion) in the period.

    Whole UTC months and days of the period come from touch_rollup (kept exact by triggers,
    journey_state/store/rollups.py); the partial days at either end from the raw touchpoints.
    `join_contacts` only matters for the raw part (see `_raw`).
    """
    counts: Counter[Any] = Counter()
    day0 = _ceil_day(f.start)
    day1 = f.end.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if day0 >= day1:  # less than a whole day: raw only
        _raw(conn, model, f, f.start, f.end, join_contacts, counts)
    else:
        _rolled(conn, model, f, day0, day1, counts)
        if f.start < day0:
            _raw(conn, model, f, f.start, day0, join_contacts, counts)
        if day1 < f.end:
            _raw(conn, model, f, day1, f.end, join_contacts, counts)
    return TouchCounts(tuple((*key, n) for key, n in sorted(counts.items(), key=lambda kv: tuple("" if v is None else v for v in kv[0])) if n))


def _rolled(conn: Connection, model: JourneyModel, f: Filters, day0: datetime, day1: datetime, counts: Counter[Any]) -> None:
    r = touch_rollup.c
    months, days = _buckets(day0, day1)
    # One query per bucket range, so that each is a range of the primary key (an OR is a scan).
    ranges = [and_(r.grain == "d", r.bucket >= a, r.bucket < b) for a, b in days]
    if months:
        ranges.append(and_(r.grain == "m", r.bucket >= months[0], r.bucket <= months[-1]))
    clauses = [r.journey_model == f.model, r.stage.in_(model.stage_ids)]
    if f.persona is not None:
        clauses.append(r.persona == f.persona)
    if f.channel is not None:
        clauses.append(r.channel == f.channel)
    cols = (r.stage, r.channel, r.intent, r.emotion)
    for bucket_range in ranges:
        for stage, channel, intent, emotion, n in conn.execute(select(*cols, func.sum(r.n)).where(bucket_range, *clauses).group_by(*cols)).all():
            counts[(stage, channel, intent or None, emotion or None)] += int(n)


def _raw(conn: Connection, model: JourneyModel, f: Filters, start: datetime, end: datetime, join_contacts: bool, counts: Counter[Any]) -> None:
    """One GROUP BY over the touchpoints in [start, end).

    `join_contacts=False` skips the join to contacts when the model's stage ids belong to no
    other model (then the stage alone says the model) and no persona filter is set.
    """
    # The period is the selective test (ix_touchpoints_at); keep SQLite off the stage indexes.
    stage = unindexed(touchpoints.c.stage, conn.dialect.name)
    clauses = [touchpoints.c.at >= start, touchpoints.c.at < end, stage.in_(model.stage_ids)]
    if join_contacts or f.persona is not None:
        # The channel filter is on the touchpoint's own channel, so the contact scope goes without it.
        clauses += contact_scope(Filters(f.start, f.end, f.model, None, f.persona), touchpoints.c.contact_id)
    if f.channel is not None:
        clauses.append(touchpoints.c.channel == f.channel)
    cols = (touchpoints.c.stage, touchpoints.c.channel, touchpoints.c.intent, touchpoints.c.emotion)
    for *key, n in conn.execute(select(*cols, func.count()).where(*clauses).group_by(*cols)).all():
        counts[tuple(key)] += n


def compute(model: JourneyModel, counts: TouchCounts) -> dict[str, Any]:
    per_stage = counts.by(0)
    channels = counts.by(0, 1)
    intents = counts.by(0, 2)
    stages = []
    for stage in model.stages:
        total = per_stage.get((stage.id,), 0)
        questions = sorted(((i, n) for (s, i), n in intents.items() if s == stage.id and i and i not in NOT_QUESTIONS), key=lambda x: (-x[1], x[0]))
        stages.append(
            {
                "stage": stage.id,
                "label": stage.label,
                "touchpoints": total,
                "channels": [
                    {"channel": c, "count": n, "share": rate(n, total)}
                    for (s, c), n in sorted(channels.items(), key=lambda x: (-x[1], x[0][1])) if s == stage.id
                ],
                "top_questions": [{"intent": i, "count": n, "share": rate(n, total)} for i, n in questions[:TOP]],
            }
        )
    by_channel = counts.by(1)
    return {
        "total": sum(per_stage.values()),
        "by_channel": [{"channel": c, "count": n} for (c,), n in sorted(by_channel.items(), key=lambda x: (-x[1], x[0][0]))],
        "stages": stages,
        "empty": not counts.rows,
    }


def emotion_curve(model: JourneyModel, counts: TouchCounts) -> list[dict[str, Any]]:
    """Mean valence per stage of the touchpoints with an emotion label (angry -2 .. excited +2)."""
    labelled: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    emotions = counts.by(0, 3)
    for (stage, emotion), n in emotions.items():
        if emotion in VALENCE:
            labelled[stage][0] += VALENCE[emotion] * n
            labelled[stage][1] += n
    curve = []
    for stage in model.stages:
        total, n = labelled.get(stage.id, (0, 0))
        mix = {e: emotions.get((stage.id, e), 0) for e in VALENCE}
        curve.append({"stage": stage.id, "label": stage.label, "valence": None if not n else round(total / n, 3), "labelled": n, "emotions": mix})
    return curve


def pain_counts(counts: TouchCounts) -> dict[str, dict[str, Counter[Any]]]:
    """Per stage: complaint and fallback touchpoints by channel."""
    out: dict[str, dict[str, Counter[Any]]] = defaultdict(lambda: {"complaints": Counter(), "fallbacks": Counter()})
    for stage, channel, intent, _emotion, n in counts.rows:
        if intent in COMPLAINT_INTENTS:
            out[stage]["complaints"][channel] += n
        elif intent in FALLBACK_INTENTS:
            out[stage]["fallbacks"][channel] += n
    return out
