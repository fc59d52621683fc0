"""action_journey_turn with real rasa_sdk trackers and a real SQLite journey store."""
from __future__ import annotations

import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.journey_turn import ActionJourneyTurn
from journey_state.store import ChannelRef
from journey_state.store.migrate import upgrade


@pytest.fixture()
def journey_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'actions.db'}"
    upgrade(url)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", url)
    monkeypatch.setenv("JOURNEYBOT_JOURNEY_MODEL", "b2c")
    runtime.reset()
    yield url
    runtime.reset()


def tracker(sender: str, text: str, intent: str, message_id: str, channel: str = "rest", confidence: float = 0.97) -> Tracker:
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "message_id": message_id,
    }
    events = [
        {"event": "action", "name": "action_listen", "timestamp": time.time() - 1},
        {
            "event": "user",
            "text": text,
            "timestamp": time.time(),
            "parse_data": message,
            "input_channel": channel,
            "message_id": message_id,
        },
    ]
    return Tracker(sender, {"journey_stage": None}, message, events, False, None, {}, "action_listen")


def run(tr: Tracker):
    dispatcher = CollectingDispatcher()
    events = ActionJourneyTurn().run(dispatcher, tr, {})
    return dispatcher.messages, events


def test_pricing_question_moves_to_consideration_and_answers_for_awareness(journey_db):
    handler = runtime.services().conversation
    messages, events = run(tracker("u1", "how much is premium?", "ask_pricing", "m1"))
    assert [e for e in events if e["name"] != "pending_answer"] == [SlotSet("journey_stage", "consideration")]
    assert messages[0]["text"] == handler.replies.choose("ask_pricing", "awareness", "rest").text
    offer = handler.programs.offers.get("first_bag_free")
    assert [m["text"] for m in messages[1:]] == [offer.text]  # a first pricing question earns the welcome offer
    # The question's buttons move to the last bubble, so the offer does not hide them.
    assert messages[0]["buttons"] == []
    assert messages[-1]["buttons"] == [
        {"title": b.title, "payload": b.payload} for b in handler.replies.choose("ask_pricing", "awareness", "rest").buttons
    ]


def test_replayed_message_is_recorded_once(journey_db):
    run(tracker("u2", "I want to buy", "place_order", "same-id"))
    _, events = run(tracker("u2", "I want to buy", "place_order", "same-id"))
    assert [e for e in events if e["name"] != "pending_answer"] == [SlotSet("journey_stage", "purchase")]
    contact = runtime.services().conversation.store.contact_by_identity(ChannelRef("rest", "u2"))
    assert len(contact["transitions"]) == 1


def test_channel_comes_from_the_tracker(journey_db):

    run(tracker("42", "hi", "greet", "m-tg", channel="telegram"))
    store = runtime.services().conversation.store
    assert store.contact_by_identity(ChannelRef("telegram", "42")) is not None
    assert store.contact_by_identity(ChannelRef("rest", "42")) is None


def test_low_confidence_gets_fallback_and_no_stage_change(journey_db):
    messages, events = run(tracker("u3", "blorp", "nlu_fallback", "m3", confidence=0.3))
    assert [e for e in events if e["name"] != "pending_answer"] == [SlotSet("journey_stage", "awareness")]
    assert messages[0]["text"] == runtime.services().conversation.replies.choose("fallback", "awareness", "rest").text


def test_unreachable_store_gets_a_polite_reply(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", f"sqlite:///{tmp_path}/missing-dir/x.db")
    runtime.reset()
    try:
        messages, events = run(tracker("u4", "hi", "greet", "m4"))
    finally:
        runtime.reset()
    assert events == []
    assert "technical problem" in messages[0]["text"]


def test_b2b_model_switch_keeps_the_bot_working(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'b2b.db'}"
    upgrade(url)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", url)
    monkeypatch.setenv("JOURNEYBOT_JOURNEY_MODEL", "b2b")
    runtime.reset()
    try:
        messages, events = run(tracker("b1", "what does it cost?", "ask_pricing", "b-m1"))
        assert [e for e in events if e["name"] != "pending_answer"] == [SlotSet("journey_stage", "initial_brand_consideration")]
        assert messages[0]["text"] == runtime.services().conversation.replies.choose("ask_pricing", "out_of_market", "rest").text
        _, events = run(tracker("b1", "we'll order", "place_order", "b-m2"))
        assert [e for e in events if e["name"] != "pending_answer"] == [SlotSet("journey_stage", "purchase_decision")]
    finally:
        runtime.reset()


def test_every_question_the_bot_asks_declares_what_yes_and_no_mean():
    """A "yes" is only meaningful against the question it answers: replies.yml says what each leads to."""
    from journey_state.business_config import load_business_config

    replies = load_business_config("data/business", "data/journeys").replies
    undeclared = sorted(a for a in replies.answer_ids if replies.choose(a, None, None).asks and not (replies.choose(a, None, None).on_affirm and replies.choose(a, None, None).on_deny))
    assert undeclared == []
