"""Understanding in a turn: the action server's reading of the tracker and Conversation's answer."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from itertools import count
from pathlib import Path

import pytest
from rasa_sdk import Tracker

from actions.tracker_reading import turn_from_tracker, understood_messages
from journey_state.catalog import load_catalog
from journey_state.conversation import Conversation, Turn
from journey_state.model import all_stage_ids
from journey_state.replies import Button, Reply, buttons_last, load_replies
from journey_state.store import JourneyStore, make_engine
from journey_state.store.programs import ProgramsStore
from journey_state.understanding import CLARIFY, FOLLOW_UP, GATED_CHITCHAT, load_understanding

ROOT = Path(__file__).resolve().parents[2]
RULES = load_understanding(ROOT / "data" / "business")
_ids = count()


def user(text, intent, confidence, *ranking, products=(), emotion="neutral"):
    parse = {
        "text": text, "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in (ranking or ((intent, confidence),))],
        "entities": [{"entity": "product", "value": p} for p in products],
        "emotion": {"label": emotion}, "message_id": f"m{next(_ids)}",
    }
    return {"event": "user", "text": text, "timestamp": time.time(), "parse_data": parse, "message_id": parse["message_id"]}


def bot(text, buttons=()):
    return {"event": "bot", "text": text, "data": {"buttons": [{"title": b, "payload": b} for b in buttons]}}


def tracker(*events) -> Tracker:
    latest = [e for e in events if e["event"] == "user"][-1]["parse_data"]
    return Tracker("rest:ann", {}, latest, list(events), False, None, {}, "action_listen")


def test_earlier_messages_are_read_as_the_bot_treated_them():
    events = [
        user("hi", "greet", 0.99), bot("Hi! What can I do for you?"),
        user("sdfsdf", "affirm", 0.51), bot("Sorry, I didn't quite get that."),
        user("what's the capital of france", "out_of_scope", 0.95),
    ]
    meanings = understood_messages(events, RULES)
    assert [m.intent for m in meanings] == ["greet", "nlu_fallback", "out_of_scope"]
    assert meanings[1].reason == GATED_CHITCHAT
    turn = turn_from_tracker(tracker(*events), RULES)
    assert turn.recent_intents == ("greet", "nlu_fallback") and turn.nlu_intent == "out_of_scope"


def test_yes_to_a_question_with_buttons_is_agreement_and_ok_after_a_statement_is_not():
    asked = tracker(user("hi", "greet", 0.99), bot("Want a quick overview", ["/ask_features"]), user("ok", "affirm", 0.96))
    assert turn_from_tracker(asked, RULES).intent == "affirm"
    told = tracker(user("hi", "greet", 0.99), bot("We ship with DHL."), user("ok", "affirm", 0.96))
    assert turn_from_tracker(told, RULES).intent == "nlu_fallback"


def test_the_last_product_and_topic_carry_over_turns():
    events = [
        user("how much is premium?", "ask_pricing", 0.99, products=["premium"]), bot("Premium is €29 a month."),
        user("thanks", "thanks", 0.99), bot("You're welcome!"),
        user("and the basic one?", "nlu_fallback", 0.3, ("nlu_fallback", 0.3), ("compare_products", 0.22), products=["basic"]),
        bot("Basic is €12 a month."),
        user("how much is it?", "ask_pricing", 0.95),
    ]
    turn = turn_from_tracker(tracker(*events), RULES)
    assert (turn.intent, turn.product, turn.understood_by) == ("ask_pricing", "basic", FOLLOW_UP)
    assert turn.recent_intents == ("ask_pricing", "thanks", "ask_pricing")


def test_a_clarification_is_a_not_understood_turn_with_candidates():
    events = [user("plans", "compare_products", 0.43, ("compare_products", 0.43), ("ask_features", 0.19), ("affirm", 0.14))]
    turn = turn_from_tracker(tracker(*events), RULES)
    assert (turn.intent, turn.understood_by, turn.candidates) == ("nlu_fallback", CLARIFY, ("compare_products", "ask_features"))


@pytest.fixture
def conversation(migrated_url, b2c_model, journeys_dir, business_dir) -> Conversation:
    store = JourneyStore(make_engine(migrated_url), b2c_model)
    replies = load_replies(business_dir, all_stage_ids(journeys_dir))
    return Conversation(store, replies, ProgramsStore.load(store, business_dir, journeys_dir), RULES,
                        load_catalog(Path(business_dir) / "catalog.yml"))


def turn(sender, intent, text="...", emotion="neutral", recent=(), **kw):
    return Turn("rest", sender, f"t{next(_ids)}", text, intent, 0.4, datetime(2026, 9, 1, tzinfo=timezone.utc), emotion,
                tuple(recent), **kw)


def test_clarification_offers_the_candidates_then_something_else(conversation):
    result = conversation.handle(turn("cla", "nlu_fallback", "plans", understood_by=CLARIFY, candidates=("compare_products", "ask_features")))
    assert result.answer_id == "clarify" and not result.escalate
    assert [(b.title, b.payload) for b in result.reply.buttons] == [
        ("Compare the plans", "/compare_products"), ("What's included", "/ask_features"), ("Something else", "/nlu_fallback")]


def test_a_clarification_after_a_miss_still_asks(conversation):
    result = conversation.handle(turn("clb", "nlu_fallback", "plans", recent=("nlu_fallback",), understood_by=CLARIFY,
                                      candidates=("compare_products",)))
    assert result.answer_id == "clarify" and not result.escalate


def test_not_understood_in_a_row_looks_through_a_clarification():
    events = [
        user("blorp", "nlu_fallback", 0.3, ("nlu_fallback", 0.3), ("greet", 0.2)), bot("Sorry, could you rephrase?"),
        user("plans", "compare_products", 0.43, ("compare_products", 0.43), ("ask_features", 0.19)),
        bot("Did you mean one of these?", ["/compare_products", "/nlu_fallback"]),
        user("/nlu_fallback", "nlu_fallback", 1.0),
    ]
    turn = turn_from_tracker(tracker(*events), RULES)
    assert turn.recent_intents == ("nlu_fallback",) and turn.intent == "nlu_fallback"  # two misses: a person next


def test_a_follow_up_about_one_product_answers_for_that_product(conversation):
    result = conversation.handle(turn("fol", "ask_pricing", "and the basic one?", understood_by=FOLLOW_UP, product="basic"))
    assert result.answer_id == "product_price"
    assert result.reply.text.startswith("Basic is €12 a month")
    plain = conversation.handle(turn("fol2", "ask_pricing", "how much is premium?", product="premium"))
    assert plain.answer_id == "ask_pricing"  # a full question gets the stage's pricing answer


def test_an_angry_handoff_opens_with_an_apology_and_nothing_else(conversation):
    result = conversation.handle(turn("ang", "complaint", "so angry", emotion="angry"), handing_off=True)
    assert result.answer_id == "handoff_apology" and [r.text for r in result.replies] == [
        conversation.choose("handoff_apology", "awareness", "rest").text]
    calm = conversation.handle(turn("calm", "contact_human_agent", "someone real please"), handing_off=True)
    assert calm.replies == () and calm.escalate  # the queue message says it all


def test_buttons_move_to_the_last_bubble():
    question = Reply("Want to see what's included?", (Button("What's included?", "/ask_features"),))
    offer = Reply("Your first bag is free.")
    assert buttons_last([question, offer]) == (Reply(question.text), Reply(offer.text, question.buttons))
    assert buttons_last([question]) == (question,)
    assert buttons_last([offer, question]) == (offer, question)
