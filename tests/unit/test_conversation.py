"""journey_state.conversation: a whole customer journey, awareness to advocacy, on a real store."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count

import pytest

from journey_state.business_events import parse_event
from journey_state.conversation import Conversation, Turn, consecutive_fallbacks
from journey_state.identifiers import ChannelRef
from journey_state.model import all_stage_ids
from journey_state.replies import load_replies
from journey_state.store import JourneyStore, make_engine
from journey_state.store.programs import ProgramsStore

T0 = datetime(2026, 9, 1, 10, 0, tzinfo=timezone.utc)
_ids = count()


@pytest.fixture
def conversation(migrated_url, b2c_model, journeys_dir, business_dir) -> Conversation:
    store = JourneyStore(make_engine(migrated_url), b2c_model)
    replies = load_replies(business_dir, all_stage_ids(journeys_dir))
    return Conversation(store, replies, ProgramsStore.load(store, business_dir, journeys_dir))


def turn(sender, intent, text="...", minutes=0, emotion="neutral", recent=(), channel="rest"):
    return Turn(channel, sender, f"m{next(_ids)}", text, intent, 0.95, T0 + timedelta(minutes=minutes), emotion, tuple(recent))


def event(sender, key, type_, days, **payload):
    return parse_event({"idempotency_key": key, "type": type_, "contact": {"channel": "rest", "external_id": sender},
                        "occurred_at": (T0 + timedelta(days=days)).isoformat(), "payload": payload})


def test_full_journey_from_awareness_to_advocacy(conversation):
    c, store, programs = conversation, conversation.store, conversation.programs
    greet = c.handle(turn("eva", "greet", "hi"))
    assert (greet.previous_stage, greet.stage) == ("awareness", "awareness")
    assert greet.reply.text == c.choose("greet", "awareness", "rest").text

    pricing = c.handle(turn("eva", "ask_pricing", "how much is premium?", 1))
    assert (pricing.previous_stage, pricing.stage) == ("awareness", "consideration")
    assert pricing.offer is not None and pricing.offer.id == "first_bag_free"
    again = c.handle(turn("eva", "ask_pricing", "and the yearly price?", 2))
    assert again.reply.text == c.choose("ask_pricing", "consideration", "rest").text != pricing.reply.text
    assert again.offer is None or again.offer.id != "first_bag_free"  # cool-down: not the same offer twice in a row

    buy = c.handle(turn("eva", "place_order", "I'll take premium", 3))
    assert buy.stage == "purchase"

    store.record_event(event("eva", "eva-paid", "order_paid", 0.1, order_id="AUR-20001", amount=29.0, currency="EUR"))
    programs.credit_order(event("eva", "eva-paid", "order_paid", 0.1, order_id="AUR-20001", amount=29.0, currency="EUR"))
    store.record_event(event("eva", "eva-delivered", "order_delivered", 2, order_id="AUR-20001"))
    assert store.contact_by_identity(ChannelRef("rest", "eva"))["stage"] == "retention"

    points = c.handle(turn("eva", "loyalty_points", "how many points do I have?", 60 * 24 * 3))
    assert points.answer_id == "loyalty_balance" and points.values["points"] > 0
    assert str(points.values["points"]) in points.reply.text

    feedback = programs.record_feedback(ChannelRef("rest", "eva"), "nps", "10", reference="nps-1", at=T0 + timedelta(days=4))
    assert feedback.signal.state.stage == "advocacy"

    thanks = c.handle(turn("eva", "thanks", "thanks!", 60 * 24 * 5))
    code = thanks.values["referral_code"]
    assert code.startswith("AURORA-") and code in thanks.replies[-1].text
    assert len(c.handle(turn("eva", "goodbye", "bye", 60 * 24 * 5 + 2)).replies) == 1  # invited once, not at every message

    friend = c.handle(turn("finn", "use_referral_code", f"my friend gave me the code {code.lower().replace('-', ' ')}", 60 * 24 * 6))
    assert friend.answer_id == "referral_welcome" and friend.values["points"] > 0
    assert programs.points(ChannelRef("rest", "finn")).balance == friend.values["points"]
    assert programs.points(ChannelRef("rest", "eva")).balance > points.values["points"]


def test_no_discount_right_after_an_angry_complaint(conversation):
    c = conversation
    c.handle(turn("gus", "place_order", "I want premium"))
    complaint = c.handle(turn("gus", "complaint", "my coffee arrived crushed, this is unacceptable", 5, emotion="angry"))
    contact = c.store.contact_by_identity(ChannelRef("rest", "gus"))
    assert contact["at_risk"] is True
    offers = c.handle(turn("gus", "ask_offers", "any deals?", 10))
    assert offers.offer is None or offers.offer.kind != "discount"
    assert complaint.answer_id == "complaint"


def test_two_misunderstandings_in_a_row_bring_in_a_person(conversation):
    c = conversation
    first = c.handle(turn("hal", "nlu_fallback", "blorp"))
    assert first.answer_id == "fallback" and not first.escalate
    second = c.handle(turn("hal", "nlu_fallback", "flub", 1, recent=["nlu_fallback"]))
    assert second.answer_id == "fallback_offer_human" and second.escalate
    assert "bringing in a person" in second.reply.text  # action_handoff_check then queues the handoff
    # Understood again: the counter starts over.
    assert c.handle(turn("hal", "nlu_fallback", "zzz", 2, recent=["nlu_fallback", "nlu_fallback", "greet"])).answer_id == "fallback"
    # A fallback records the touchpoint but never moves the stage.
    assert c.store.contact_by_identity(ChannelRef("rest", "hal"))["stage"] == "awareness"


def test_consecutive_fallbacks():
    assert consecutive_fallbacks([], "greet") == 0
    assert consecutive_fallbacks(["greet"], "nlu_fallback") == 1
    assert consecutive_fallbacks(["nlu_fallback", "out_of_scope"], "nlu_fallback") == 3
    assert consecutive_fallbacks(["nlu_fallback", "greet"], "nlu_fallback") == 1


def test_retried_turn_is_recorded_once_and_answered_the_same(conversation):
    c = conversation
    t = turn("ivy", "ask_pricing", "price?")
    first, retry = c.handle(t), c.handle(t)
    assert retry.reply == first.reply and retry.previous_stage == "awareness"
    transitions = c.store.contact_by_identity(ChannelRef("rest", "ivy"))["transitions"]
    assert len([x for x in transitions if x["kind"] == "stage"]) == 1


def test_channel_variants_and_unknown_referral_codes(conversation):
    c = conversation
    rejected = c.handle(turn("jo", "use_referral_code", "my code is AURORA-ZZZZZZ"))
    assert rejected.answer_id == "referral_code_unknown" and "couldn't find" in rejected.reply.text
    missing = c.handle(turn("jo", "use_referral_code", "I have a referral code", 1))
    assert missing.answer_id == "referral_code_missing"
