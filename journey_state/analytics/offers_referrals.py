"""Offers (impressions, reach, redemptions per offer and stage) and referrals in the period.

redemption_rate = redemptions / reach, where reach is the number of contacts shown the
offer (an offer is redeemed at most once per contact). The stage of an event is the
contact's stage when it happened. Referred contacts "reached purchase" when they entered
the model's purchase stage or a later one by the end of the period.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import PURCHASE_STAGE, contact_scope, flag, milestone, rate, stage_index
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import offer_events, referral_attributions, referral_codes, transitions


def offers(conn: Connection, model: JourneyModel, f: Filters) -> dict:
    clauses = [*contact_scope(f, offer_events.c.contact_id), offer_events.c.at >= f.start, offer_events.c.at < f.end]
    if f.channel is not None:
        clauses.append(offer_events.c.channel == f.channel)
    cols = (offer_events.c.offer_id, offer_events.c.stage, offer_events.c.kind)
    rows = conn.execute(
        select(*cols, func.count(), func.count(offer_events.c.contact_id.distinct())).where(*clauses).group_by(*cols)
    ).all()
    reach_total = dict(
        conn.execute(
            select(offer_events.c.offer_id, func.count(offer_events.c.contact_id.distinct()))
            .where(*clauses, offer_events.c.kind == "shown")
            .group_by(offer_events.c.offer_id)
        ).all()
    )
    per_offer: dict[str, dict] = defaultdict(lambda: {"impressions": 0, "redemptions": 0, "stages": defaultdict(lambda: {"impressions": 0, "reach": 0, "redemptions": 0})})
    for offer_id, stage, kind, n, contacts_n in rows:
        entry, at_stage = per_offer[offer_id], per_offer[offer_id]["stages"][stage]
        if kind == "shown":
            entry["impressions"] += n
            at_stage["impressions"] += n
            at_stage["reach"] += contacts_n
        elif kind == "redeemed":
            entry["redemptions"] += n
            at_stage["redemptions"] += n
    order = {s.id: s.index for s in model.stages}
    result = []
    for offer_id in sorted(per_offer):
        entry = per_offer[offer_id]
        reach = reach_total.get(offer_id, 0)
        result.append(
            {
                "offer_id": offer_id,
                "impressions": entry["impressions"],
                "reach": reach,
                "redemptions": entry["redemptions"],
                "redemption_rate": rate(entry["redemptions"], reach),
                "stages": [
                    {"stage": s, **v, "redemption_rate": rate(v["redemptions"], v["reach"])}
                    for s, v in sorted(entry["stages"].items(), key=lambda kv: order.get(kv[0], 99))
                ],
            }
        )
    return {"offers": result, "empty": not result}


def referrals(conn: Connection, model: JourneyModel, f: Filters) -> dict:
    purchase = milestone(model, PURCHASE_STAGE, "purchase")
    issued = conn.execute(
        select(func.count())
        .select_from(referral_codes)
        .where(*contact_scope(f, referral_codes.c.contact_id), referral_codes.c.created_at >= f.start, referral_codes.c.created_at < f.end)
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
        .where(*contact_scope(f, referral_attributions.c.referred_contact_id), referral_attributions.c.at >= f.start, referral_attributions.c.at < f.end)
    ).one()
    return {
        "codes_issued": int(issued),
        "referred_contacts": int(referred),
        "referred_reached_purchase": int(purchased),
        "purchase_stage": purchase,
        "referred_purchase_rate": rate(int(purchased), int(referred)),
        "empty": not (issued or referred),
    }
