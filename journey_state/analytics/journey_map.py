"""The journey map from real data: stages as columns with touchpoints, emotion, pain points;
moments of truth (largest drop-off) and opportunities derived from the numbers.

Built from the other metrics of the same filter set; `persona` in the filters makes it the
map of one segment.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import COMPLAINT_INTENTS, contact_scope, rate
from journey_state.analytics.filters import Filters
from journey_state.analytics.touchpoints import TouchCounts, emotion_curve, pain_counts
from journey_state.model import JourneyModel
from journey_state.store.tables import touchpoints

TOP_COMPLAINTS = 3
MOMENTS = 2
NEGATIVE_VALENCE = -0.3
FALLBACK_SHARE = 0.1


def top_complaints(conn: Connection, model: JourneyModel, f: Filters) -> dict[str, list[dict[str, Any]]]:
    """The most frequent complaint texts per stage (exact excerpt match, case-folded)."""
    clauses = [
        *contact_scope(Filters(f.start, f.end, f.model, None, f.persona), touchpoints.c.contact_id),
        touchpoints.c.stage.in_(model.stage_ids),
        touchpoints.c.intent.in_(COMPLAINT_INTENTS),
        touchpoints.c.at >= f.start,
        touchpoints.c.at < f.end,
    ]
    if f.channel is not None:
        clauses.append(touchpoints.c.channel == f.channel)
    text = func.lower(touchpoints.c.excerpt)
    rows = conn.execute(select(touchpoints.c.stage, text, func.count()).where(*clauses).group_by(touchpoints.c.stage, text)).all()
    out: dict[str, Counter[Any]] = {}
    for stage, excerpt, n in rows:
        out.setdefault(stage, Counter())[excerpt or "(no text)"] += n
    return {s: [{"text": t, "count": n} for t, n in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:TOP_COMPLAINTS]] for s, c in out.items()}


def compute(
    model: JourneyModel,
    f: Filters,
    counts: TouchCounts,
    touch: dict[str, Any],
    funnel: dict[str, Any],
    handoffs: dict[str, Any],
    attribution: dict[str, Any],
    complaints: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    curve = {c["stage"]: c for c in emotion_curve(model, counts)}
    pains = pain_counts(counts)
    touch_by_stage = {s["stage"]: s for s in touch["stages"]}
    funnel_by_stage = {s["stage"]: s for s in funnel["stages"]}
    handoff_by_stage = {s["stage"]: s for s in handoffs["by_stage"]}
    columns = []
    for stage in model.stages:
        t, fn, pain = touch_by_stage[stage.id], funnel_by_stage[stage.id], pains.get(stage.id)
        fallbacks = sum(pain["fallbacks"].values()) if pain else 0
        complaints_n = sum(pain["complaints"].values()) if pain else 0
        columns.append(
            {
                "stage": stage.id,
                "label": stage.label,
                "description": stage.description,
                "touchpoints": t["touchpoints"],
                "channels": t["channels"],
                "top_questions": t["top_questions"],
                "emotion": curve[stage.id],
                "pain_points": {
                    "complaints": complaints_n,
                    "top_complaints": complaints.get(stage.id, []),
                    "fallbacks": fallbacks,
                    "fallback_rate": rate(fallbacks, t["touchpoints"]),
                    "fallbacks_by_channel": dict(pain["fallbacks"]) if pain else {},
                    "handoffs": handoff_by_stage[stage.id]["count"],
                    "handoff_reasons": handoff_by_stage[stage.id]["top_reasons"],
                },
                "reached": fn["reached"],
                "stalled": fn["stalled"],
                "drop_off_rate": fn["drop_off_rate"],
            }
        )
    moments = sorted((c for c in columns[:-1] if c["stalled"]), key=lambda c: (-c["stalled"], c["stage"]))[:MOMENTS]
    return {
        "model": model.id,
        "segment": f.persona or "all contacts",
        "columns": columns,
        "emotion_curve": [{"stage": c["stage"], "valence": c["emotion"]["valence"]} for c in columns],
        "moments_of_truth": [{"stage": c["stage"], "label": c["label"], "stalled": c["stalled"], "drop_off_rate": c["drop_off_rate"]} for c in moments],
        "opportunities": opportunities(columns, moments, attribution),
        "empty": funnel["empty"] and not touch["total"],
    }


def opportunities(columns: list[dict[str, Any]], moments: list[dict[str, Any]], attribution: dict[str, Any]) -> list[str]:
    """Plain-language suggestions, each backed by a number from the map."""
    ideas: list[str] = []
    lifts = {s["stage"]: s for s in attribution["stages"]}
    for moment in moments:
        stage = lifts.get(moment["stage"])
        worst = [a for a in (stage["answers"] if stage else []) if a["lift"] is not None and a["lift"] < 0 and a["exposed"] >= 3]
        worst.sort(key=lambda a: a["lift"])
        rate_text = f"{moment['drop_off_rate']:.0%}" if moment["drop_off_rate"] is not None else "n/a"
        if worst:
            a = worst[0]
            channels = moment["channels"][0]["channel"] if moment["channels"] else "any channel"
            ideas.append(
                f"Most drop-off is in {moment['label']} ({moment['stalled']} contacts, {rate_text}); those who asked "
                f"'{a['intent']}' there advanced less often ({a['exposed_rate']:.0%} vs {a['unexposed_rate']:.0%}), mostly on "
                f"{channels}: review that answer."
            )
        else:
            ideas.append(f"Most drop-off is in {moment['label']} ({moment['stalled']} contacts, {rate_text}): look at what these contacts ask there.")
    for c in columns:
        p = c["pain_points"]
        if p["fallback_rate"] is not None and p["fallback_rate"] >= FALLBACK_SHARE and p["fallbacks_by_channel"]:
            channel = max(p["fallbacks_by_channel"].items(), key=lambda kv: (kv[1], kv[0]))[0]
            ideas.append(f"{p['fallback_rate']:.0%} of touchpoints in {c['label']} are fallbacks, most on {channel}: add training examples or answers.")
        valence = c["emotion"]["valence"]
        if valence is not None and valence <= NEGATIVE_VALENCE:
            top = p["top_complaints"][0]["text"] if p["top_complaints"] else None
            ideas.append(f"Emotion dips in {c['label']} (valence {valence:+.2f})" + (f"; the top complaint is \"{top}\"." if top else "."))
        if p["handoff_reasons"]:
            reason = p["handoff_reasons"][0]
            ideas.append(f"{p['handoffs']} handoffs in {c['label']}, most often for \"{reason['reason']}\" ({reason['count']}): a bot answer could cover it.")
    return ideas
