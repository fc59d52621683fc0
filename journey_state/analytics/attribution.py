"""Bot attribution (CORRELATION, not causation): did contacts who got a bot answer or an offer
in stage S reach a later stage within N days more often than those in S who did not?

Population of stage S: contacts whose first touchpoint in S (on the filtered channel) falls
in the period. A contact converts when it enters a later stage within N days of that first
touchpoint. Exposed to intent I (the bot's answer to I) / offer O: asked I / was shown O in
stage S (on that channel). `lift` = exposed conversion rate - unexposed conversion rate. The
final stage has no next stage and is left out. N is one of facts.WINDOWS.

The counts come from attribution_rollup (whole UTC months and days of the period) and
attribution_facts (the partial days at either end), both kept by journey_state/analytics/facts.py.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Connection

from journey_state.analytics import periods
from journey_state.analytics._sql import rate
from journey_state.analytics.facts import WINDOWS, split_items
from journey_state.analytics.filters import AnalyticsFilterError, Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import attribution_facts, attribution_rollup

DEFAULT_DAYS = 14
TOP = 10
CAVEAT = (
    "Correlation, not causation: contacts who ask a question or are shown an offer differ from "
    "those who do not in many ways; a positive lift does not prove the answer or offer caused it."
)


class _Row(NamedTuple):
    kind: str  # stage | intent | offer
    stage: str
    item: str | None
    n: int
    conv: int


def counts(conn: Connection, f: Filters, days: int) -> dict[tuple[str, str, str], list[int]]:
    """(kind, stage, item) -> [contacts whose first touchpoint in the stage is in the period,
    of which converted within `days`]."""
    whole, partial = periods.split(f.start, f.end)
    r, a = attribution_rollup.c, attribution_facts.c
    out: dict[tuple[str, str, str], list[int]] = {}
    if whole:
        cols = (r.kind, r.stage, r.item)
        totals = periods.read_days(conn, attribution_rollup, periods.scope(attribution_rollup, f), whole, cols, sums=(r.n, r[f"c{days}"]))
        for key, (n, conv) in totals.items():
            out[key] = [n, conv]
    for start, end in partial:
        for stage, conv, exposures in conn.execute(select(a.stage, a.conv_window, a.exposures).where(*periods.scope(attribution_facts, f), a.first_at >= start, a.first_at < end)).all():
            hit = int(0 < conv <= days)
            for kind, item in (("stage", ""), *split_items(exposures)):
                entry = out.setdefault((kind, stage, item), [0, 0])
                entry[0] += 1
                entry[1] += hit
    return out


def compute(conn: Connection, model: JourneyModel, f: Filters, days: int = DEFAULT_DAYS, min_exposed: int = 1) -> dict[str, Any]:
    if days not in WINDOWS:
        raise AnalyticsFilterError("attribution_days", f"{days} is not an attribution window; use one of {', '.join(map(str, WINDOWS))}")
    totals = {key: v for key, v in counts(conn, f, days).items() if v[0]}
    rows = [_Row(kind, stage, item or None, n, c) for (kind, stage, item), (n, c) in sorted(totals.items())]

    base = {r.stage: (r.n, int(r.conv or 0)) for r in rows if r.kind == "stage"}
    stages = []
    for stage in model.stages[:-1]:
        n, conv = base.get(stage.id, (0, 0))
        items: dict[str, list[dict[str, Any]]] = {"intent": [], "offer": []}
        for r in rows:
            if r.kind == "stage" or r.stage != stage.id or r.n < min_exposed:
                continue
            e_conv = int(r.conv or 0)
            u_n, u_conv = n - r.n, conv - e_conv
            e_rate, u_rate = rate(e_conv, r.n), rate(u_conv, u_n)
            items[r.kind].append(
                {
                    ("intent" if r.kind == "intent" else "offer_id"): r.item,
                    "exposed": r.n,
                    "exposed_converted": e_conv,
                    "exposed_rate": e_rate,
                    "unexposed": u_n,
                    "unexposed_converted": u_conv,
                    "unexposed_rate": u_rate,
                    "lift": None if e_rate is None or u_rate is None else round(e_rate - u_rate, 4),
                }
            )
        for key in items:
            items[key].sort(key=lambda x: (-(x["lift"] if x["lift"] is not None else -9), -x["exposed"]))
        stages.append(
            {
                "stage": stage.id,
                "next_stage": model.stages[stage.index + 1].id,
                "contacts": n,
                "converted": conv,
                "conversion_rate": rate(conv, n),
                "answers": items["intent"][:TOP],
                "offers": items["offer"][:TOP],
            }
        )
    return {"kind": "correlation", "caveat": CAVEAT, "window_days": days, "stages": stages, "empty": not base}
