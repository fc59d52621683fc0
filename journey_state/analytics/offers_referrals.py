"""Offers (impressions, reach, redemptions per offer and stage) and referrals in the period.

Impressions and redemptions are the events in the period. Reach counts the contacts shown
the offer for the first time in the period (per stage: for the first time in that stage),
and redemption_rate is the share of them who have redeemed it (an offer is redeemed at most
once per contact), so a period's rate follows the contacts it reached. The stage of an event
is the contact's stage when it happened. Counts come from the per-contact facts
(journey_state/analytics/facts.py), the partial days at either end from offer_events. Referred contacts "reached purchase" when they entered
the model's purchase stage or a later one by the end of the period.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import exists, func, literal, select
from sqlalchemy.engine import Connection

from journey_state.analytics import periods
from journey_state.analytics._sql import PURCHASE_STAGE, contact_scope, flag, milestone, rate, row_scope, stage_index
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import contact_rollup, offer_events, referral_attributions, referral_codes, transitions


def offer_counts(conn: Connection, model: JourneyModel, f: Filters, join_contacts: bool = True) -> Counter[Any]:
    """Offer tokens (journey_state/analytics/facts.offer_tokens, without the day) -> count in the
    period: whole days from contact_rollup, the partial days at either end from offer_events."""
    r, o = contact_rollup.c, offer_events.c
    out: Counter[Any] = Counter()
    whole, partial = periods.split(f.start, f.end)
    if whole:
        for (value,), n in periods.read_days(conn, contact_rollup, [*periods.scope(contact_rollup, f), r.kind == "offer"], whole, (r.value,)).items():
            out[value] += n
    same_channel = [] if f.channel is None else [o.channel == f.channel]
    for start, end in partial:
        scope = [*row_scope(f, model, o.contact_id, o.stage, join_contacts), *same_channel]
        events = select(o.offer_id, o.stage, o.kind, func.count()).where(*scope, o.at >= start, o.at < end).group_by(o.offer_id, o.stage, o.kind)
        for offer_id, stage, kind, n in conn.execute(events).all():
            out[f"e|{offer_id}|{stage}|{kind}"] += n
        # First impressions in [start, end): no earlier impression of the offer (in the stage).
        earlier, also = offer_events.alias("earlier"), offer_events.alias("redeemed")
        for per_stage in (True, False):
            e = earlier.c
            before = [e.contact_id == o.contact_id, e.offer_id == o.offer_id, e.kind == "shown", e.at < o.at]
            before += [e.stage == o.stage] if per_stage else []
            before += [] if f.channel is None else [e.channel == f.channel]
            later = [also.c.contact_id == o.contact_id, also.c.offer_id == o.offer_id, also.c.kind == "redeemed"]
            later += [] if f.channel is None else [also.c.channel == f.channel]
            first = (
                select(o.contact_id, o.offer_id, o.stage if per_stage else literal(""), flag(exists().where(*later)))
                .where(*scope, o.kind == "shown", o.at >= start, o.at < end, ~exists().where(*before))
                .distinct()
            )
            for _cid, offer_id, stage, redeemed in conn.execute(first).all():
                out[f"r|{offer_id}|{stage}|{redeemed}" if per_stage else f"t|{offer_id}|{redeemed}"] += 1
    return out


def offers(conn: Connection, model: JourneyModel, f: Filters, join_contacts: bool = True) -> dict[str, Any]:
    events: Counter[Any] = Counter()
    reach: Counter[Any] = Counter()
    redeemers: Counter[Any] = Counter()
    for token, n in offer_counts(conn, model, f, join_contacts).items():
        if not n:
            continue
        part = token.split("|")
        if part[0] == "e":
            events[tuple(part[1:])] += n
        elif part[0] == "r":
            reach[(part[1], part[2])] += n
            redeemers[(part[1], part[2])] += n * (part[3] == "1")
        else:
            reach[(part[1],)] += n
            redeemers[(part[1],)] += n * (part[2] == "1")
    rows = [(offer_id, stage, kind, n) for (offer_id, stage, kind), n in events.items()]
    per_offer: dict[str, dict[str, Any]] = defaultdict(lambda: {"impressions": 0, "redemptions": 0, "stages": defaultdict(lambda: {"impressions": 0, "reach": 0, "redemptions": 0})})
    for offer_id, stage, kind, n in rows:
        entry, at_stage = per_offer[offer_id], per_offer[offer_id]["stages"][stage]
        if kind == "shown":
            entry["impressions"] += n
            at_stage["impressions"] += n
        elif kind == "redeemed":
            entry["redemptions"] += n
            at_stage["redemptions"] += n
    for key, n in reach.items():
        if len(key) == 2 and n:
            per_offer[key[0]]["stages"][key[1]]["reach"] = n
    order = {s.id: s.index for s in model.stages}
    result = []
    for offer_id in sorted(per_offer):
        entry = per_offer[offer_id]
        result.append(
            {
                "offer_id": offer_id,
                "impressions": entry["impressions"],
                "reach": reach[(offer_id,)],
                "redemptions": entry["redemptions"],
                "redemption_rate": rate(redeemers[(offer_id,)], reach[(offer_id,)]),
                "stages": [
                    {"stage": s, **v, "redemption_rate": rate(redeemers[(offer_id, s)], v["reach"])}
                    for s, v in sorted(entry["stages"].items(), key=lambda kv: order.get(kv[0], 99))
                ],
            }
        )
    return {"offers": result, "empty": not result}


def referrals(conn: Connection, model: JourneyModel, f: Filters) -> dict[str, Any]:
    # The contact tests are EXISTS subqueries so that the (few) referral rows drive the query;
    # as a join, SQLite started from the contacts (measured 0.3 s with a channel filter).
    purchase = milestone(model, PURCHASE_STAGE, "purchase")
    issued = conn.execute(
        select(func.count())
        .select_from(referral_codes)
        .where(exists().where(*contact_scope(f, referral_codes.c.contact_id)), referral_codes.c.created_at >= f.start, referral_codes.c.created_at < f.end)
    ).scalar_one()
    bought = exists().where(
        transitions.c.contact_id == referral_attributions.c.referred_contact_id,
        transitions.c.kind == "stage",
        transitions.c.at < f.end,
        stage_index(transitions.c.to_value, model) >= model.index(purchase),
    )
    referred, purchased = conn.execute(
        select(func.count(), func.coalesce(func.sum(flag(bought)), 0))
        .select_from(referral_attributions)
        .where(exists().where(*contact_scope(f, referral_attributions.c.referred_contact_id)), referral_attributions.c.at >= f.start, referral_attributions.c.at < f.end)
    ).one()
    return {
        "codes_issued": int(issued),
        "referred_contacts": int(referred),
        "referred_reached_purchase": int(purchased),
        "purchase_stage": purchase,
        "referred_purchase_rate": rate(int(purchased), int(referred)),
        "empty": not (issued or referred),
    }
