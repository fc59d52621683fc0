"""Analytics metrics, checked exactly on five hand-built journeys (March 2026) on SQLite and PostgreSQL.

Journeys are written through the real store; times are offsets from T0 = Monday
2026-03-02 10:00 UTC. created_at is backdated to the first message (the store stamps the
wall clock) and personas are set directly: neither has a store API.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, update

from journey_state.business_events import BusinessEvent
from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef
from journey_state.store import JourneyStore, make_engine
from journey_state.store import contacts as contact_rows
from journey_state.store.programs import ProgramsStore
from journey_state.store.referral_records import issue_code
from journey_state.store.signals import Touch
from journey_state.store.tables import contacts, handoffs

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
PERIOD = {"from": "2026-03-02", "to": "2026-03-29"}


def t(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


class Builder:
    def __init__(self, url: str, model, business_dir, journeys_dir):
        self.store = JourneyStore(make_engine(url), model)
        self.programs = ProgramsStore.load(self.store, business_dir, journeys_dir)
        self.refs: dict[str, ChannelRef] = {}
        self.uids: dict[str, str] = {}
        self.n = 0

    def say(self, who: str, intent: str | None, at: datetime, emotion: str | None = None, text: str = "") -> None:
        ref = self.refs[who]
        self.n += 1
        signal = Signal(f"m{self.n}", Source.CONVERSATION, at, intent=intent, emotion=emotion, excerpt=text or intent or "")
        out = self.store.record_signal(ref, signal, Touch(ref.channel, f"m{self.n}", intent, 0.9, emotion, text or intent or ""))
        if who not in self.uids:
            self.uids[who] = out.contact_uid

    def new(self, who: str, channel: str, persona: str, at: datetime, emotion: str | None = None) -> None:
        self.refs[who] = ChannelRef(channel, f"{who}-ext")
        self.say(who, "greet", at, emotion)
        with self.store.engine.begin() as conn:
            conn.execute(update(contacts).where(contacts.c.uid == self.uids[who]).values(created_at=at, persona=persona))

    def event(self, who: str, kind: str, at: datetime) -> None:
        self.n += 1
        self.store.record_event(BusinessEvent(f"e{self.n}", kind, self.refs[who], at, {}))

    def handoff(self, who: str, trigger: str, reason: str, created: datetime, wait_s: float, handling_s: float | None) -> int:
        with self.store.engine.begin() as conn:
            cid = contact_rows.by_uid(conn, self.uids[who]).id
            return conn.execute(
                insert(handoffs).values(
                    contact_id=cid, channel=self.refs[who].channel, sender_id=self.refs[who].external_id, trigger=trigger, priority=1,
                    status="closed" if handling_s is not None else "assigned", agent="ann", reason=reason, created_at=created,
                    claimed_at=created + timedelta(seconds=wait_s),
                    closed_at=None if handling_s is None else created + timedelta(seconds=wait_s + handling_s),
                )
            ).inserted_primary_key[0]

    def issue_code(self, who: str, at: datetime) -> str:
        def work(conn):
            row = contact_rows.by_uid(conn, self.uids[who], lock=True)
            return issue_code(conn, self.store.model, self.programs.referrals, row, at=at).code

        return self.store.write(work)


def build(url: str, model, business_dir, journeys_dir) -> Builder:
    b = Builder(url, model, business_dir, journeys_dir)
    p = b.programs
    # A: web, all the way to advocacy (promoter), refers E.
    b.new("A", "socketio", "p1", t(), "neutral")
    b.say("A", "ask_pricing", t(hours=2), "happy")
    p.record_offer_shown(b.uids["A"], "first_bag_free", "socketio", at=t(hours=3))
    p.record_offer_redeemed(b.uids["A"], "first_bag_free", "socketio", at=t(hours=5))
    b.say("A", "place_order", t(days=1))
    b.event("A", "order_delivered", t(days=3))
    p.record_feedback(b.uids["A"], "nps", 10, reference="a-nps", channel="socketio", at=t(days=4))
    p.record_feedback(b.uids["A"], "csat", 4, reference="a-csat", channel="socketio", at=t(days=4, hours=1))
    code = b.issue_code("A", t(days=4, hours=2))
    # B: WhatsApp, stalls in consideration; asks for a human.
    b.new("B", "whatsapp", "p2", t(hours=1))
    b.say("B", "ask_features", t(hours=5), "angry")
    b.handoff("B", "explicit_request", "asked for a human", t(hours=5, minutes=30), 1200, None)
    p.record_feedback(b.uids["B"], "nps", 9, reference="b-nps", channel="whatsapp", at=t(hours=6))
    p.record_offer_shown(b.uids["B"], "first_bag_free", "whatsapp", at=t(hours=6))
    p.record_offer_shown(b.uids["B"], "first_bag_free", "whatsapp", at=t(hours=7))
    # C: WhatsApp, never leaves awareness.
    b.new("C", "whatsapp", "p1", t(days=1), "sad")
    b.say("C", "nlu_fallback", t(days=1, minutes=1))
    b.say("C", "thanks", t(days=9), "happy")
    # D: Telegram, buys, complains, detractor, handoff with low CSAT.
    b.new("D", "telegram", "p2", t(days=8), "neutral")
    b.say("D", "ask_pricing", t(days=8, hours=3))
    b.say("D", "place_order", t(days=10), "excited")
    p.record_offer_shown(b.uids["D"], "premium_yearly", "telegram", at=t(days=10, hours=1))
    p.record_feedback(b.uids["D"], "nps", 3, reference="d-nps", channel="telegram", at=t(days=11))
    b.say("D", "complaint", t(days=11, minutes=30), "angry", "The bag was damaged")
    handoff_id = b.handoff("D", "complaint", "bag damaged", t(days=11, hours=1), 600, 1800)
    p.record_feedback(b.uids["D"], "csat", 2, reference="d-csat", channel="telegram", handoff_id=handoff_id, at=t(days=11, hours=2))
    # E: web, referred by A, orders straight from awareness.
    b.new("E", "socketio", "p2", t(days=12))
    p.attribute_referral(b.uids["E"], code, at=t(days=12, minutes=1))
    b.say("E", "place_order", t(days=13), "happy")
    return b


# -- the tests ------------------------------------------------------------------------------

import pytest  # noqa: E402

from journey_state.analytics import AnalyticsFilterError, dashboard, parse_filters  # noqa: E402
from journey_state.analytics._sql import median, nps, percentile  # noqa: E402

MODELS = ["b2b", "b2c"]


def filters(**extra):
    return parse_filters({**PERIOD, "model": "b2c", **extra}, MODELS, "b2c")


@pytest.fixture
def built(migrated_url, b2c_model, business_dir, journeys_dir):
    b = build(migrated_url, b2c_model, business_dir, journeys_dir)
    yield b
    b.store.engine.dispose()


@pytest.fixture
def dash(built, journeys_dir):
    return dashboard.compute(built.store.engine, built.store.model, filters(), journeys_dir)


def by_stage(items, key="stage"):
    return {i[key]: i for i in items}


def test_funnel_counts_conversions_and_drop_off(dash):
    f = dash["funnel"]
    assert f["population"] == 5
    stages = by_stage(f["stages"])
    assert [s["reached"] for s in f["stages"]] == [5, 4, 3, 1, 1]  # E skipped consideration but passed it
    assert [s["entered_in_period"] for s in f["stages"]] == [5, 3, 3, 1, 1]
    assert [s["stalled"] for s in f["stages"]] == [1, 1, 2, 0, 0]
    assert [s["conversion_to_next"] for s in f["stages"]] == [0.8, 0.75, 0.3333, 1.0, None]
    assert [s["drop_off_rate"] for s in f["stages"]] == [0.2, 0.25, 0.6667, 0.0, 0.0]
    assert [s["current"] for s in f["stages"]] == [1, 1, 2, 0, 1]
    assert stages["purchase"]["at_risk"] == 1 and f["at_risk"] == 1  # D: detractor after purchase
    assert f["dormant"] == 0


def test_funnel_filters_by_channel_and_persona(built, journeys_dir):
    engine, model = built.store.engine, built.store.model
    whatsapp = dashboard.compute(engine, model, filters(channel="whatsapp"), journeys_dir)["funnel"]
    assert [s["reached"] for s in whatsapp["stages"]] == [2, 1, 0, 0, 0]  # B and C
    p1 = dashboard.compute(engine, model, filters(persona="p1"), journeys_dir)["funnel"]
    assert [s["reached"] for s in p1["stages"]] == [2, 1, 1, 1, 1]  # A and C
    later = dashboard.compute(engine, model, parse_filters({"from": "2026-03-09", "to": "2026-03-29"}, MODELS, "b2c"), journeys_dir)["funnel"]
    assert later["population"] == 2  # D and E first came in the second week


def test_time_in_stage_median_and_p90(dash):
    t = by_stage(dash["time_in_stage"]["stages"])
    assert t["awareness"]["count"] == 4 and t["awareness"]["ongoing"] == 1  # C never left
    assert t["awareness"]["median_s"] == 12600.0  # (10800 + 14400) / 2
    assert t["awareness"]["p90_s"] == 86400.0  # nearest rank 4 of 4: E
    assert (t["consideration"]["count"], t["consideration"]["median_s"], t["consideration"]["p90_s"]) == (2, 120600.0, 162000.0)
    assert (t["purchase"]["count"], t["purchase"]["median_s"], t["purchase"]["ongoing"]) == (1, 172800.0, 2)
    assert (t["retention"]["median_s"], t["retention"]["median_h"]) == (86400.0, 24.0)
    assert (t["advocacy"]["count"], t["advocacy"]["median_s"], t["advocacy"]["ongoing"]) == (0, None, 1)


def test_weekly_cohorts(dash):
    c = dash["cohorts"]
    assert c["retention_stage"] == "retention"
    first, second = c["cohorts"]
    assert (first["week"], first["size"], second["week"], second["size"]) == ("2026-03-02", 3, "2026-03-09", 2)
    assert [w["active_rate"] for w in first["weeks"]] == [1.0, 0.6667, 0.0, 0.0]  # A and C came back in week 1
    assert [w["retained_rate"] for w in first["weeks"]] == [0.3333] * 4  # A reached retention in week 0
    assert [w["active"] for w in second["weeks"]] == [2, 0, 0]
    assert [w["retained"] for w in second["weeks"]] == [0, 0, 0]


def test_nps_and_csat_arithmetic(dash):
    fb = dash["feedback"]
    assert fb["overall"] == {"nps": 33.3, "nps_answers": 3, "promoters": 2, "passives": 0, "detractors": 1, "csat": 3.0, "csat_answers": 2}
    stages = by_stage(fb["by_stage"])
    assert (stages["consideration"]["nps"], stages["purchase"]["nps"], stages["purchase"]["csat"]) == (100.0, -100.0, 2.0)
    assert (stages["retention"]["nps"], stages["advocacy"]["csat"]) == (100.0, 4.0)  # A answered NPS in retention, CSAT after it
    channels = by_stage(fb["by_channel"], "channel")
    assert (channels["socketio"]["nps"], channels["socketio"]["csat"], channels["telegram"]["nps"]) == (100.0, 4.0, -100.0)
    assert [(w["week"], w["nps"], w["csat"]) for w in fb["by_week"]] == [("2026-03-02", 100.0, 4.0), ("2026-03-09", -100.0, 2.0)]


def test_touchpoints_and_top_questions(dash):
    tp = dash["touchpoints"]
    assert tp["total"] == 14
    stages = by_stage(tp["stages"])
    assert [(c["channel"], c["count"]) for c in stages["awareness"]["channels"]] == [("whatsapp", 4), ("socketio", 2), ("telegram", 1)]
    assert stages["awareness"]["top_questions"] == []  # greetings, thanks and fallbacks are not questions
    assert [(q["intent"], q["count"]) for q in stages["consideration"]["top_questions"]] == [("ask_pricing", 2), ("ask_features", 1)]
    assert [(q["intent"], q["count"]) for q in stages["purchase"]["top_questions"]] == [("place_order", 3), ("complaint", 1)]


def test_offers_and_referrals(dash):
    offers = by_stage(dash["offers"]["offers"], "offer_id")
    assert {k: offers["first_bag_free"][k] for k in ("impressions", "reach", "redemptions", "redemption_rate")} == {"impressions": 3, "reach": 2, "redemptions": 1, "redemption_rate": 0.5}
    assert offers["first_bag_free"]["stages"] == [{"stage": "consideration", "impressions": 3, "reach": 2, "redemptions": 1, "redemption_rate": 0.5}]
    assert (offers["premium_yearly"]["impressions"], offers["premium_yearly"]["redemption_rate"]) == (1, 0.0)
    r = dash["referrals"]
    assert (r["codes_issued"], r["referred_contacts"], r["referred_reached_purchase"], r["referred_purchase_rate"]) == (1, 1, 1, 1.0)


def test_handoffs(dash):
    h = dash["handoffs"]
    assert h["count"] == 2
    assert (h["wait"]["median_s"], h["wait"]["p90_s"]) == (900.0, 1200.0)
    assert (h["handling"]["count"], h["handling"]["median_s"]) == (1, 1800.0)
    assert h["by_trigger"] == [{"trigger": "complaint", "count": 1, "share": 0.5}, {"trigger": "explicit_request", "count": 1, "share": 0.5}]
    stages = by_stage(h["by_stage"])
    assert stages["consideration"]["top_reasons"] == [{"reason": "asked for a human", "count": 1}]
    assert stages["purchase"]["top_reasons"] == [{"reason": "bag damaged", "count": 1}]
    assert (h["csat_after"], h["csat_after_answers"]) == (2.0, 1)


def test_attribution_is_labelled_correlation(dash):
    a = dash["attribution"]
    assert a["kind"] == "correlation" and "not causation" in a["caveat"]
    stages = by_stage(a["stages"])
    aw = stages["awareness"]
    assert (aw["contacts"], aw["converted"], aw["conversion_rate"]) == (5, 4, 0.8)
    answers = by_stage(aw["answers"], "intent")
    assert answers["nlu_fallback"] == {"intent": "nlu_fallback", "exposed": 1, "exposed_converted": 0, "exposed_rate": 0.0, "unexposed": 4, "unexposed_converted": 4, "unexposed_rate": 1.0, "lift": -1.0}
    assert answers["greet"]["lift"] is None and answers["greet"]["unexposed"] == 0
    co = stages["consideration"]
    assert (co["contacts"], co["converted"]) == (3, 2)
    assert co["answers"][0] == {"intent": "ask_pricing", "exposed": 2, "exposed_converted": 2, "exposed_rate": 1.0, "unexposed": 1, "unexposed_converted": 0, "unexposed_rate": 0.0, "lift": 1.0}
    assert co["offers"] == [{"offer_id": "first_bag_free", "exposed": 2, "exposed_converted": 1, "exposed_rate": 0.5, "unexposed": 1, "unexposed_converted": 1, "unexposed_rate": 1.0, "lift": -0.5}]
    pu = stages["purchase"]
    assert (pu["contacts"], pu["converted"]) == (3, 1)
    assert [(o["offer_id"], o["lift"]) for o in pu["offers"]] == [("premium_yearly", -0.5)]
    assert stages["retention"]["contacts"] == 0 and "advocacy" not in stages


def test_journey_map(dash):
    m = dash["journey_map"]
    cols = by_stage(m["columns"])
    assert [c["valence"] for c in m["emotion_curve"]] == [0.0, -0.5, 0.333, None, None]
    assert cols["awareness"]["pain_points"]["fallbacks"] == 1 and cols["awareness"]["pain_points"]["fallback_rate"] == 0.1429
    assert cols["awareness"]["pain_points"]["fallbacks_by_channel"] == {"whatsapp": 1}
    assert cols["purchase"]["pain_points"]["top_complaints"] == [{"text": "the bag was damaged", "count": 1}]
    assert cols["purchase"]["pain_points"]["handoff_reasons"] == [{"reason": "bag damaged", "count": 1}]
    assert [x["stage"] for x in m["moments_of_truth"]] == ["purchase", "awareness"]
    assert any("fallbacks, most on whatsapp" in o for o in m["opportunities"])
    assert any(o.startswith("Most drop-off is in Purchase (2 contacts, 67%)") for o in m["opportunities"])
    assert m["segment"] == "all contacts"


def test_empty_period_and_unknown_values_give_empty_results(built, journeys_dir):
    engine, model = built.store.engine, built.store.model
    for f in (parse_filters({"from": "2025-01-01", "to": "2025-01-31"}, MODELS, "b2c"), filters(channel="pigeon"), filters(persona="nobody")):
        d = dashboard.compute(engine, model, f, journeys_dir)
        assert d["empty"] is True
        assert d["funnel"]["population"] == 0 and d["funnel"]["stages"][1]["conversion_to_next"] is None
        assert d["feedback"]["overall"]["nps"] is None and d["time_in_stage"]["stages"][0]["median_s"] is None


def test_bad_filters_have_clear_messages():
    with pytest.raises(AnalyticsFilterError, match="from: the period is empty or inverted"):
        parse_filters({"from": "2026-03-10", "to": "2026-03-01"}, MODELS, "b2c")
    with pytest.raises(AnalyticsFilterError, match=r"model: unknown journey model 'b2x' \(available: b2b, b2c\)"):
        parse_filters({"model": "b2x"}, MODELS, "b2c")
    with pytest.raises(AnalyticsFilterError, match="to: 'yesterday' is not a date"):
        parse_filters({"to": "yesterday"}, MODELS, "b2c")
    with pytest.raises(AnalyticsFilterError, match=r"channel: .* is not a valid channel name"):
        parse_filters({"channel": "what's app"}, MODELS, "b2c")
    f = parse_filters({"from": "2026-03-02", "to": "2026-03-29"}, MODELS, "b2c")
    assert (f.start, f.end) == (datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 30, tzinfo=timezone.utc))


def test_statistics_helpers():
    assert median([3, 1, 2]) == 2 and median([1, 2, 3, 4]) == 2.5 and median([]) is None
    assert percentile(list(range(1, 11)), 90) == 9 and percentile([5], 90) == 5
    assert nps(promoters=5, detractors=2, answers=10) == 30.0 and nps(0, 0, 0) is None
