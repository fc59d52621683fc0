"""Offers, feedback, referrals and loyalty in the store (journey_state/store/programs.py and its per-program modules), SQLite and PostgreSQL."""
from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select, update

from journey_state.business_events import BusinessEvent
from journey_state.engine import Signal, Source
from journey_state.errors import ContactNotFound
from journey_state.feedback import InvalidScore
from journey_state.identifiers import ChannelRef
from journey_state.loyalty import load_loyalty
from journey_state.model import JourneyModel, all_stage_ids, parse_model
from journey_state.offers import REDEEMED, SHOWN, UnknownOffer, load_offers
from journey_state.referrals import InvalidReferralCode, load_referrals
from journey_state.store import JourneyStore, Touch, make_engine
from journey_state.store.loyalty_points import PointsSummary
from journey_state.store.programs import ProgramsStore
from journey_state.store.referral_records import (
    AlreadyReferred,
    IssuedCode,
    NotAnAdvocate,
    SelfReferral,
    UnknownReferralCode,
)
from journey_state.store.tables import (
    applied_signals,
    contacts,
    feedback,
    loyalty_ledger,
    offer_events,
    referral_attributions,
    referral_codes,
    transitions,
)

PROJECT = Path(__file__).resolve().parents[2]
BUSINESS_DIR = PROJECT / "data" / "business"
JOURNEYS_DIR = PROJECT / "data" / "journeys"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
ALICE = ChannelRef("telegram", "alice")
BOB = ChannelRef("telegram", "bob")
CAROL = ChannelRef("whatsapp", "+4915100000003")


def b2c_with_feedback_rules() -> JourneyModel:
    """The shipped b2c model plus the lines proposed for it (if it does not have them yet)."""
    path = JOURNEYS_DIR / "b2c.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not any("nps_promoter" in r["when"].get("events", []) for r in data["signals"]):
        data["signals"].append({"rule": "promoter_feedback", "to": "advocacy", "when": {"events": ["nps_promoter"]}})
    when_any = data["side_states"]["at_risk"]["when_any"]
    if not any("nps_detractor" in m.get("events", []) for m in when_any):
        when_any.append({"events": ["nps_detractor", "csat_low"]})
    return parse_model(data, str(path))


MODEL = b2c_with_feedback_rules()


@pytest.fixture
def store(migrated_url):
    engine = make_engine(migrated_url)
    yield JourneyStore(engine, MODEL)
    engine.dispose()


@pytest.fixture
def programs(store):
    return ProgramsStore(
        store,
        load_offers(BUSINESS_DIR, all_stage_ids(JOURNEYS_DIR)),
        load_loyalty(BUSINESS_DIR),
        load_referrals(BUSINESS_DIR),
        rng=random.Random(42),
    )


def count(store, table, **where) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with store.engine.connect() as conn:
        return conn.execute(query).scalar_one()


def said(store, who, intent, at, emotion=None, message_id=None):
    message_id = message_id or f"{who.external_id}-{intent}-{at.timestamp()}"
    signal = Signal(f"msg:{message_id}", Source.CONVERSATION, at, intent=intent, emotion=emotion, excerpt=intent)
    return store.record_signal(who, signal, Touch(who.channel, message_id, intent, 0.9, emotion, intent))


def business_event(event_type, who=ALICE, key=None, at=T0, **payload) -> BusinessEvent:
    return BusinessEvent(key or f"{event_type}-{who.external_id}-{at.timestamp()}", event_type, who, at, payload)


def customer(store, who=ALICE, at=T0) -> str:
    """A contact in retention: placed an order that was delivered."""
    store.record_event(business_event("order_placed", who, at=at))
    return store.record_event(business_event("order_delivered", who, at=at + timedelta(days=2))).outcome.contact_uid


def advocate(programs, who=ALICE, at=T0) -> str:
    uid = customer(programs.store, who, at)
    programs.record_feedback(uid, "nps", "10", reference=f"nps-{who.external_id}", at=at + timedelta(days=3))
    return uid


# -- offers -----------------------------------------------------------------------------------------------


def test_present_offer_records_impressions_with_cooldown_and_cap(programs, store):
    uid = said(store, ALICE, "ask_pricing", T0).contact_uid
    days = [T0 + timedelta(days=d, hours=1) for d in range(6)]
    chosen = [programs.present_offer(ALICE, "telegram", at) for at in days]
    assert [o.id if o else None for o in chosen] == ["first_bag_free", "premium_yearly", "first_bag_free", None, "first_bag_free", None]
    history = programs.offer_history(uid)
    assert [(e.offer_id, e.kind, e.at) for e in history] == [
        ("first_bag_free", SHOWN, days[0]),
        ("premium_yearly", SHOWN, days[1]),
        ("first_bag_free", SHOWN, days[2]),
        ("first_bag_free", SHOWN, days[4]),
    ]
    with store.engine.connect() as conn:
        stages = conn.execute(select(offer_events.c.stage, offer_events.c.channel).distinct()).all()
    assert stages == [("consideration", "telegram")]
    # The cap of first_bag_free (3) is reached: never again.
    assert programs.choose_offer(uid, "telegram", T0 + timedelta(days=30)).id == "premium_yearly"


def test_present_offer_replay_at_the_same_time_is_a_no_op(programs, store):
    said(store, ALICE, "ask_pricing", T0)
    at = T0 + timedelta(minutes=1)
    first = programs.present_offer(ALICE, "telegram", at)
    again = programs.present_offer(ALICE, "telegram", at)
    assert first == again and first.id == "first_bag_free"
    assert count(store, offer_events) == 1


def test_redemption_is_recorded_once_and_never_offered_again(programs, store):
    uid = said(store, ALICE, "ask_pricing", T0).contact_uid
    programs.present_offer(uid, "telegram", T0)
    first = programs.record_offer_redeemed(uid, "first_bag_free", "telegram", T0 + timedelta(hours=1))
    again = programs.record_offer_redeemed(uid, "first_bag_free", "telegram", T0 + timedelta(hours=2))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert count(store, offer_events, kind=REDEEMED) == 1
    for day in range(1, 40, 3):
        offer = programs.choose_offer(uid, "telegram", T0 + timedelta(days=day))
        assert offer is None or offer.id != "first_bag_free"
    with pytest.raises(UnknownOffer, match="no_such_offer"):
        programs.record_offer_redeemed(uid, "no_such_offer", "telegram")
    shown = programs.record_offer_shown(uid, "premium_yearly", "web", T0)
    assert not shown.duplicate and programs.record_offer_shown(uid, "premium_yearly", "web", T0).duplicate


def test_no_discount_after_a_complaint_but_a_channel_perk_is_fine(programs, store):
    said(store, CAROL, "ask_pricing", T0)
    said(store, CAROL, "complaint", T0 + timedelta(hours=1), emotion="angry")
    at = T0 + timedelta(days=1)
    assert programs.choose_offer(CAROL, "telegram", at) is None
    assert programs.present_offer(CAROL, "whatsapp", at).id == "whatsapp_seasonal_preview"
    assert programs.choose_offer(CAROL, "telegram", T0 + timedelta(days=15)).id == "first_bag_free"


def test_low_feedback_counts_as_a_complaint_for_discounts(programs, store):
    uid = said(store, ALICE, "ask_pricing", T0).contact_uid
    programs.record_feedback(uid, "csat", "2", reference="csat-1", at=T0)
    assert programs.choose_offer(uid, "telegram", T0 + timedelta(days=1)) is None


def test_persona_offer_and_unknown_contacts(programs, store):
    uid = said(store, BOB, "ask_pricing", T0).contact_uid
    said(store, BOB, "place_order", T0 + timedelta(minutes=5))
    with store.engine.begin() as conn:  # personas are set elsewhere (not by this module)
        conn.execute(update(contacts).where(contacts.c.uid == uid).values(persona="office_manager"))
    assert programs.choose_offer(BOB, "telegram", T0 + timedelta(hours=1)).id == "office_bundle"
    assert programs.choose_offer(ChannelRef("telegram", "nobody"), "telegram", T0) is None  # awareness: no offers
    assert programs.offer_history(ChannelRef("telegram", "nobody")) == ()
    with pytest.raises(ContactNotFound):
        programs.offer_history("0" * 32)


# -- feedback ---------------------------------------------------------------------------------------------


def test_promoter_moves_the_contact_into_advocacy_with_evidence(programs, store):
    uid = customer(store)
    outcome = programs.record_feedback(uid, "nps", "10/10", reference="m-77", comment="Love it", channel="telegram", at=T0 + timedelta(days=3))
    assert not outcome.duplicate and outcome.score.value == 10 and outcome.feedback_id is not None
    assert outcome.signal.state.stage == "advocacy"
    stage_change = next(t for t in outcome.signal.transitions if t.kind == "stage")
    assert (stage_change.from_value, stage_change.to_value) == ("retention", "advocacy")
    assert stage_change.evidence.rule == "promoter_feedback"
    assert stage_change.evidence.signal_id == "feedback:nps:m-77"
    assert stage_change.evidence.excerpt == "NPS 10/10: Love it"
    with store.engine.connect() as conn:
        row = conn.execute(select(feedback)).one()
    assert (row.kind, row.score, row.comment, row.stage, row.channel) == ("nps", 10, "Love it", "retention", "telegram")
    assert store.contact(uid)["stage"] == "advocacy"


def test_feedback_replay_is_a_no_op(programs, store):
    uid = customer(store)
    first = programs.record_feedback(uid, "nps", "9", reference="m-1", at=T0 + timedelta(days=3))
    again = programs.record_feedback(uid, "nps", "9", reference="m-1", at=T0 + timedelta(days=3))
    assert again.duplicate and again.feedback_id is None and again.signal.transitions == ()
    assert again.signal.state == first.signal.state
    assert count(store, feedback) == 1
    assert count(store, transitions, signal_id="feedback:nps:m-1") == 1


def test_detractor_and_low_csat_flag_the_contact_at_risk(programs, store):
    for i, (kind, answer) in enumerate((("nps", "3"), ("nps", "zero"), ("csat", "⭐"), ("csat", "2/5"))):
        uid = customer(store, ChannelRef("telegram", f"unhappy-{i}"))
        outcome = programs.record_feedback(uid, kind, answer, reference="m-2", at=T0 + timedelta(days=3))
        assert outcome.signal.state.at_risk and outcome.signal.state.stage == "retention", answer
        assert [t.kind for t in outcome.signal.transitions] == ["at_risk"], answer
        assert store.contact(uid)["at_risk"] is True


def test_passive_feedback_is_stored_without_journey_change(programs, store):
    uid = customer(store)
    outcome = programs.record_feedback(uid, "csat", "3", reference="m-3", source=Source.EVENT, at=T0 + timedelta(days=3))
    assert outcome.signal.transitions == () and not outcome.duplicate
    assert count(store, feedback, kind="csat", score=3) == 1


def test_invalid_answers_never_reach_the_database(programs, store):
    for kind, answer in (("nps", "11"), ("csat", "great"), ("csat", "0"), ("nps", "-1")):
        with pytest.raises(InvalidScore):
            programs.record_feedback(ALICE, kind, answer, reference="bad")
    assert count(store, feedback) == 0
    assert count(store, contacts) == 0  # not even the contact was created
    with pytest.raises(ValueError, match="unknown feedback kind"):
        programs.record_feedback(ALICE, "ces", "3")
    with pytest.raises(ValueError, match="no handoff with id 999"):
        programs.record_feedback(ALICE, "nps", "9", reference="h", handoff_id=999)
    assert count(store, feedback) == 0


# -- referrals --------------------------------------------------------------------------------------------


def test_only_advocates_get_a_code_and_it_is_stable(programs, store):
    uid = customer(store)
    assert not programs.is_advocate(uid)
    with pytest.raises(NotAnAdvocate, match="NPS 9\\+"):
        programs.issue_referral_code(uid)
    assert count(store, referral_codes) == 0
    programs.record_feedback(uid, "nps", "9", reference="n1", at=T0 + timedelta(days=3))
    assert programs.is_advocate(uid)
    first = programs.issue_referral_code(uid)
    assert first.new and first.code.startswith("AURORA-") and len(first.code) == 13
    assert programs.issue_referral_code(ALICE) == IssuedCode(uid, first.code, new=False)
    fresh = programs.issue_referral_code(uid, again=True)
    assert fresh.new and fresh.code != first.code
    assert programs.issue_referral_code(uid).code == fresh.code
    assert count(store, referral_codes) == 2


def set_stage(store, uid, stage):
    with store.engine.begin() as conn:
        conn.execute(update(contacts).where(contacts.c.uid == uid).values(stage=stage))


def test_advocates_by_review_or_stage(programs, store):
    uid = customer(store, BOB)
    store.record_event(business_event("review_posted", BOB, key="rev-1", rating=3))
    assert store.contact(uid)["stage"] == "advocacy"
    assert programs.is_advocate(uid)  # by stage: review_posted moves b2c contacts into advocacy
    set_stage(store, uid, "retention")  # to see the review rule on its own
    assert not programs.is_advocate(uid)  # rated 3
    store.record_event(business_event("review_posted", BOB, key="rev-2", at=T0 + timedelta(days=5), rating=5))
    set_stage(store, uid, "retention")
    assert programs.is_advocate(uid)  # the latest review is rated 5
    assert not programs.is_advocate(ChannelRef("telegram", "stranger"))


def test_referral_attribution_credits_both_once(programs, store):
    referrer = advocate(programs)
    code = programs.issue_referral_code(referrer).code
    at = T0 + timedelta(days=10)
    outcome = programs.attribute_referral(BOB, code.lower().replace("-", " "), at)
    assert (outcome.referrer_uid, outcome.code, outcome.duplicate) == (referrer, code, False)
    assert (outcome.referrer_points, outcome.referred_points) == (300, 150)
    assert programs.points(referrer).balance == 300
    assert programs.points(BOB).balance == 150
    entry = programs.points(BOB).recent[0]
    assert (entry.reason, entry.reference, entry.at) == ("referral_welcome", f"referral:{code}:{outcome.referred_uid}", at)
    # The referrer gets a referral_signup signal as evidence.
    assert count(store, applied_signals, signal_id=f"referral:{code}:{outcome.referred_uid}") == 1

    replay = programs.attribute_referral(outcome.referred_uid, code, at)
    assert replay.duplicate and (replay.referrer_points, replay.referred_points) == (0, 0)
    assert count(store, referral_attributions) == 1 and count(store, loyalty_ledger, reason="referral_welcome") == 1
    assert programs.points(referrer).balance == 300


def test_referral_errors(programs, store):
    referrer = advocate(programs)
    code = programs.issue_referral_code(referrer).code
    other = advocate(programs, CAROL)
    other_code = programs.issue_referral_code(other).code
    with pytest.raises(UnknownReferralCode, match="unknown referral code 'AURORA-ZZZZZZ'"):
        programs.attribute_referral(BOB, "aurora-zzzzzz")
    with pytest.raises(InvalidReferralCode, match="codes look like AURORA-"):
        programs.attribute_referral(BOB, "my friend told me")
    with pytest.raises(SelfReferral):
        programs.attribute_referral(referrer, code)
    programs.attribute_referral(BOB, code)
    with pytest.raises(AlreadyReferred, match=f"already referred with code {code}"):
        programs.attribute_referral(BOB, other_code)
    assert count(store, referral_attributions) == 1
    assert programs.points(other).balance == 0


def test_an_older_code_stays_valid_after_a_new_one(programs, store):
    referrer = advocate(programs)
    old = programs.issue_referral_code(referrer).code
    programs.issue_referral_code(referrer, again=True)
    assert programs.attribute_referral(BOB, old).referrer_uid == referrer


# -- loyalty ----------------------------------------------------------------------------------------------


def test_order_points_are_credited_once_and_reversed_on_refund(programs, store):
    paid = business_event("order_paid", key="pay-1", order_id="A-100", amount=29.0, currency="EUR")
    store.record_event(paid)
    first = programs.credit_order(paid)
    assert (first.points, first.reference, first.duplicate, first.balance) == (39, "order:A-100", False, 39)
    again = programs.credit_order(paid)
    assert (again.points, again.duplicate, again.balance) == (0, True, 39)
    # A second event about the same order (another key) earns nothing more.
    renewal = business_event("subscription_renewed", key="renew-1", amount=12)
    assert programs.credit_order(renewal).points == 22
    assert programs.credit_order(business_event("order_paid", key="pay-1-again", order_id="A-100", amount=29)).duplicate
    refund = business_event("order_refunded", key="refund-1", at=T0 + timedelta(days=1), order_id="A-100")
    reversed_ = programs.credit_order(refund)
    assert (reversed_.points, reversed_.reference, reversed_.balance) == (-39, "order:A-100:reversed", 22)
    assert programs.credit_order(refund).duplicate
    assert programs.credit_order(business_event("order_delivered", key="d-1")).points == 0

    summary = programs.points(ALICE, recent=2)
    assert summary.balance == 22 and summary.contact_uid == first.contact_uid
    assert [(e.points, e.reason, e.reference) for e in summary.recent] == [
        (-39, "order_refunded", "order:A-100:reversed"),
        (22, "subscription_renewed", "order:event:renew-1"),
    ]


def test_refund_before_payment_earns_nothing(programs, store):
    programs.credit_order(business_event("order_refunded", key="r", order_id="B-1"))
    late = programs.credit_order(business_event("order_paid", key="p", order_id="B-1", amount=50))
    assert late.points == 0 and late.balance == 0


def test_points_of_unknown_contacts(programs, store):
    assert programs.points(ChannelRef("telegram", "nobody")) == PointsSummary(None, 0, ())
    assert count(store, contacts) == 0  # reads never create contacts
    with pytest.raises(ContactNotFound):
        programs.points("f" * 32)


def test_export_and_erasure_include_programme_data(programs, store):
    referrer = advocate(programs)
    code = programs.issue_referral_code(referrer).code
    referred = programs.attribute_referral(BOB, code).referred_uid
    said(store, BOB, "ask_pricing", T0 + timedelta(days=1))
    programs.present_offer(BOB, "telegram", T0 + timedelta(days=1))
    exported = store.export(referrer)
    assert exported["feedback"][0]["score"] == 10 and exported["referral_codes"][0]["code"] == code
    assert exported["contact"]["loyalty_points"] == 300
    assert store.export(referred)["offers"][0]["offer_id"] == "first_bag_free"
    store.erase(referrer)
    assert count(store, referral_codes) == 0 and count(store, referral_attributions) == 0
    assert programs.points(referred).balance == 150  # what the referred contact earned stays theirs


def test_load_reads_the_shipped_configuration(store):
    programs = ProgramsStore.load(store, BUSINESS_DIR, JOURNEYS_DIR)
    assert "first_bag_free" in programs.offers.ids and programs.referrals.referrer_points == 300


# -- concurrency ------------------------------------------------------------------------------------------

THREADS = 8


def run_together(n, work):
    barrier = threading.Barrier(n)

    def task(i):
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result(timeout=120) for f in [pool.submit(task, i) for i in range(n)]]


def test_concurrent_double_redemption_of_a_referral_code_attributes_once(programs, store):
    referrer = advocate(programs)
    code = programs.issue_referral_code(referrer).code
    referred = said(store, BOB, "greet", T0).contact_uid
    results = run_together(THREADS, lambda i: programs.attribute_referral(referred if i % 2 else BOB, code, T0 + timedelta(days=1)))
    assert sorted(r.duplicate for r in results) == [False] + [True] * (THREADS - 1)
    assert count(store, referral_attributions) == 1
    assert count(store, loyalty_ledger, reason="referral_referrer") == 1
    assert count(store, loyalty_ledger, reason="referral_welcome") == 1
    assert programs.points(referrer).balance == 300 and programs.points(referred).balance == 150


def test_concurrent_new_contacts_with_one_code_are_each_attributed(programs, store):
    referrer = advocate(programs)
    code = programs.issue_referral_code(referrer).code
    results = run_together(THREADS, lambda i: programs.attribute_referral(ChannelRef("rest", f"friend-{i}"), code))
    assert len({r.referred_uid for r in results}) == THREADS and not any(r.duplicate for r in results)
    assert count(store, referral_attributions) == THREADS
    assert programs.points(referrer).balance == 300 * THREADS


def test_concurrent_code_requests_issue_one_code(programs, store):
    referrer = advocate(programs)
    results = run_together(THREADS, lambda i: programs.issue_referral_code(referrer))
    assert len({r.code for r in results}) == 1 and sum(r.new for r in results) == 1
    assert count(store, referral_codes) == 1


def test_concurrent_replays_of_an_order_credit_once(programs, store):
    paid = business_event("order_paid", key="pay-race", order_id="R-1", amount=12)
    results = run_together(THREADS, lambda i: programs.credit_order(paid))
    assert sorted(r.duplicate for r in results) == [False] + [True] * (THREADS - 1)
    assert count(store, loyalty_ledger) == 1 and programs.points(ALICE).balance == 22
