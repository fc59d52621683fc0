"""Bot attribution (CORRELATION, not causation): did contacts who got a bot answer or an offer
in stage S reach a later stage within N days more often than those in S who did not?

Population of stage S: contacts with a touchpoint in S in the period. A contact converts
when it enters a later stage within N days of its first touchpoint in S. Exposed to intent I
(the bot's answer to I) / offer O: had a touchpoint with intent I / was shown O in stage S in
the period. `lift` = exposed conversion rate - unexposed conversion rate. The final stage
has no next stage and is left out.
"""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import exists, func, literal, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import contact_scope, epoch, flag, rate, stage_index, unindexed
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import offer_events, touchpoints, transitions

DEFAULT_DAYS = 14
TOP = 10
CAVEAT = (
    "Correlation, not causation: contacts who ask a question or are shown an offer differ from "
    "those who do not in many ways; a positive lift does not prove the answer or offer caused it."
)


def _touch_clauses(f: Filters, model: JourneyModel, join_contacts: bool, dialect: str) -> list:
    # On SQLite the period and stage tests stay off the indexes: the grouping by (contact,
    # stage) then streams along ix_touchpoints_contact_stage, 2-3x faster than reading the
    # range of another index and sorting it.
    at, stage = unindexed(touchpoints.c.at, dialect), unindexed(touchpoints.c.stage, dialect)
    clauses = [at >= f.start, at < f.end, stage.in_(model.stage_ids[:-1])]
    if join_contacts or f.persona is not None:
        clauses += contact_scope(Filters(f.start, f.end, f.model, None, f.persona), touchpoints.c.contact_id)
    if f.channel is not None:
        clauses.append(touchpoints.c.channel == f.channel)
    return clauses


SEP = "\x1f"  # joins a (contact, stage)'s intents on PostgreSQL; never part of an intent name


class _Row(NamedTuple):
    kind: str  # stage | intent | offer
    stage: str
    item: str | None
    n: int
    conv: int


def _converted(model: JourneyModel, dialect: str, days: int, contact_id, stage, first_at):
    """1 when the contact entered a later stage than `stage` within `days` of `first_at`."""
    return flag(
        exists().where(
            transitions.c.contact_id == contact_id,
            transitions.c.kind == "stage",
            transitions.c.at >= first_at,
            stage_index(transitions.c.to_value, model) > stage_index(stage, model),
            epoch(transitions.c.at, dialect) - epoch(first_at, dialect) <= days * 86400.0,
        )
    )


def compute(conn: Connection, model: JourneyModel, f: Filters, days: int = DEFAULT_DAYS, min_exposed: int = 1, join_contacts: bool = True) -> dict:
    """One pass over the period's touchpoints gives, per (contact, stage), the first touch,
    the conversion after it, the set of intents asked and the set of offers shown; grouped
    by (stage, converted, intents, offers) only a few hundred rows come back, and the
    exposures per intent and offer are summed here."""
    dialect = conn.dialect.name
    t, o = touchpoints.c, offer_events.c

    def distinct_list(column):
        # SQLite's group_concat(DISTINCT ...) takes no separator: it is ",", which intent and offer names never contain.
        return func.group_concat(column.distinct()) if dialect == "sqlite" else func.string_agg(column.distinct(), literal(SEP))

    first = (
        select(t.contact_id, t.stage, func.min(t.at).label("first_at"), distinct_list(t.intent).label("asked"))
        .where(*_touch_clauses(f, model, join_contacts, dialect))
        .group_by(t.contact_id, t.stage)
        .subquery("first_touch")
    )
    oclauses = [o.contact_id == first.c.contact_id, o.stage == first.c.stage, o.kind == "shown", o.at >= f.start, o.at < f.end]
    if f.channel is not None:
        oclauses.append(o.channel == f.channel)
    offered = select(distinct_list(o.offer_id)).where(*oclauses).scalar_subquery()
    population = select(
        first.c.stage, _converted(model, dialect, days, first.c.contact_id, first.c.stage, first.c.first_at).label("conv"), first.c.asked, offered.label("offered")
    ).subquery()
    p = population.c
    sep = "," if dialect == "sqlite" else SEP
    totals: dict[str, list[int]] = {}
    exposed: dict[tuple[str, str, str], list[int]] = {}
    for stage, conv, asked, offers, n in conn.execute(select(p.stage, p.conv, p.asked, p.offered, func.count()).group_by(p.stage, p.conv, p.asked, p.offered)):
        keys = [(stage, totals)]
        keys += [(("intent", stage, i), exposed) for i in (asked.split(sep) if asked else ())]
        keys += [(("offer", stage, i), exposed) for i in (offers.split(sep) if offers else ())]
        for key, into in keys:
            entry = into.setdefault(key, [0, 0])
            entry[0] += n
            entry[1] += n * conv
    rows = [_Row("stage", stage, None, n, c) for stage, (n, c) in totals.items()]
    rows += [_Row(kind, stage, item, n, c) for (kind, stage, item), (n, c) in sorted(exposed.items())]

    base = {r.stage: (r.n, int(r.conv or 0)) for r in rows if r.kind == "stage"}
    stages = []
    for stage in model.stages[:-1]:
        n, conv = base.get(stage.id, (0, 0))
        items = {"intent": [], "offer": []}
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
