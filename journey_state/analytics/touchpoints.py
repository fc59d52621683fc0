"""Touchpoints in the period by stage, channel, intent and emotion (one aggregate query).

The aggregate feeds this module's per-stage view (channels, top questions), the journey
map (emotion curve, fallbacks, complaints) and the dashboard's totals. The channel filter
applies to the touchpoint's own channel.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import COMPLAINT_INTENTS, FALLBACK_INTENTS, VALENCE, contact_scope, rate
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import touchpoints

TOP = 5
NOT_QUESTIONS = frozenset({"greet", "goodbye", "thanks", "affirm", "deny", *FALLBACK_INTENTS})


@dataclass(frozen=True)
class TouchCounts:
    """(stage, channel, intent, emotion) -> touchpoints."""

    rows: tuple[tuple[str, str, str | None, str | None, int], ...]

    def by(self, *keys: int) -> Counter:
        counts: Counter = Counter()
        for row in self.rows:
            counts[tuple(row[k] for k in keys)] += row[4]
        return counts


def aggregate(conn: Connection, model: JourneyModel, f: Filters, join_contacts: bool = True) -> TouchCounts:
    """One GROUP BY over the period's touchpoints.

    `join_contacts=False` skips the join to contacts when the model's stage ids belong to no
    other model (then the stage alone says the model) and no persona filter is set.
    """
    clauses = [touchpoints.c.at >= f.start, touchpoints.c.at < f.end, touchpoints.c.stage.in_(model.stage_ids)]
    if join_contacts or f.persona is not None:
        # The channel filter is on the touchpoint's own channel, so the contact scope goes without it.
        clauses += contact_scope(Filters(f.start, f.end, f.model, None, f.persona), touchpoints.c.contact_id)
    if f.channel is not None:
        clauses.append(touchpoints.c.channel == f.channel)
    cols = (touchpoints.c.stage, touchpoints.c.channel, touchpoints.c.intent, touchpoints.c.emotion)
    rows = conn.execute(select(*cols, func.count()).where(*clauses).group_by(*cols)).all()
    return TouchCounts(tuple(tuple(r) for r in rows))


def compute(model: JourneyModel, counts: TouchCounts) -> dict:
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


def emotion_curve(model: JourneyModel, counts: TouchCounts) -> list[dict]:
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


def pain_counts(counts: TouchCounts) -> dict[str, dict[str, Counter]]:
    """Per stage: complaint and fallback touchpoints by channel."""
    out: dict[str, dict[str, Counter]] = defaultdict(lambda: {"complaints": Counter(), "fallbacks": Counter()})
    for stage, channel, intent, _emotion, n in counts.rows:
        if intent in COMPLAINT_INTENTS:
            out[stage]["complaints"][channel] += n
        elif intent in FALLBACK_INTENTS:
            out[stage]["fallbacks"][channel] += n
    return out
