"""Bot attribution (CORRELATION, not causation): did contacts who got a bot answer or an offer
in stage S reach a later stage within N days more often than those in S who did not?

Population of stage S: contacts with a touchpoint in S in the period. A contact converts
when it enters a later stage within N days of its first touchpoint in S. Exposed to intent I
(the bot's answer to I) / offer O: had a touchpoint with intent I / was shown O in stage S in
the period. `lift` = exposed conversion rate - unexposed conversion rate. The final stage
has no next stage and is left out.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, func, literal, null, select, union_all
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import contact_scope, epoch, flag, rate, stage_index
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import offer_events, touchpoints, transitions

DEFAULT_DAYS = 14
TOP = 10
CAVEAT = (
    "Correlation, not causation: contacts who ask a question or are shown an offer differ from "
    "those who do not in many ways; a positive lift does not prove the answer or offer caused it."
)


def _touch_clauses(f: Filters, model: JourneyModel, join_contacts: bool) -> list:
    clauses = [touchpoints.c.at >= f.start, touchpoints.c.at < f.end, touchpoints.c.stage.in_(model.stage_ids[:-1])]
    if join_contacts or f.persona is not None:
        clauses += contact_scope(Filters(f.start, f.end, f.model, None, f.persona), touchpoints.c.contact_id)
    if f.channel is not None:
        clauses.append(touchpoints.c.channel == f.channel)
    return clauses


def compute(conn: Connection, model: JourneyModel, f: Filters, days: int = DEFAULT_DAYS, min_exposed: int = 1, join_contacts: bool = True) -> dict:
    dialect = conn.dialect.name
    tclauses = _touch_clauses(f, model, join_contacts)
    first = (
        select(touchpoints.c.contact_id, touchpoints.c.stage, func.min(touchpoints.c.at).label("first_at"))
        .where(*tclauses)
        .group_by(touchpoints.c.contact_id, touchpoints.c.stage)
        .subquery("first_touch")
    )
    converted = exists().where(
        transitions.c.contact_id == first.c.contact_id,
        transitions.c.kind == "stage",
        transitions.c.at >= first.c.first_at,
        stage_index(transitions.c.to_value, model) > stage_index(first.c.stage, model),
        epoch(transitions.c.at, dialect) - epoch(first.c.first_at, dialect) <= days * 86400.0,
    )
    st = select(first.c.contact_id, first.c.stage, flag(converted).label("converted")).cte("stage_population")
    intents = select(touchpoints.c.contact_id, touchpoints.c.stage, touchpoints.c.intent.label("item")).where(*tclauses, touchpoints.c.intent.is_not(None)).distinct().subquery()
    oclauses = [offer_events.c.kind == "shown", offer_events.c.at >= f.start, offer_events.c.at < f.end]
    if f.channel is not None:
        oclauses.append(offer_events.c.channel == f.channel)
    offers = select(offer_events.c.contact_id, offer_events.c.stage, offer_events.c.offer_id.label("item")).where(*oclauses).distinct().subquery()

    def exposed(kind: str, sub):
        on = and_(sub.c.contact_id == st.c.contact_id, sub.c.stage == st.c.stage)
        return (
            select(literal(kind).label("kind"), st.c.stage, sub.c.item, func.count().label("n"), func.sum(st.c.converted).label("conv"))
            .select_from(st.join(sub, on))
            .group_by(st.c.stage, sub.c.item)
        )

    totals = select(literal("stage").label("kind"), st.c.stage, null().label("item"), func.count().label("n"), func.sum(st.c.converted).label("conv")).group_by(st.c.stage)
    rows = conn.execute(union_all(totals, exposed("intent", intents), exposed("offer", offers))).all()

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
