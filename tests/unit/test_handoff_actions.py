"""action_handoff / action_handoff_check with real rasa_sdk trackers and a real SQLite journey store."""
from __future__ import annotations

import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.handoff import ActionHandoff, ActionHandoffCheck, handoff_store
from actions.journey_turn import ActionJourneyTurn
from actions.orders import ActionStartOrderRequest
from bot.nlu.emotion import EmotionClassifier
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


def tracker(sender, text, intent, message_id, emotion=None, earlier=(), stage=None, classify=False) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [], "message_id": message_id}
    if emotion:
        message["emotion"] = {"label": emotion}
    if classify:  # what the NLU pipeline's EmotionAnnotator adds to the parse data
        message["emotion"] = EmotionClassifier().classify(text).as_dict()
    events = []
    for i, past in enumerate(earlier):
        events.append({"event": "user", "text": past, "timestamp": time.time() - 10 + i,
                       "parse_data": {"intent": {"name": past}}, "input_channel": "rest", "message_id": f"{message_id}-{i}"})
    events.append({"event": "user", "text": text, "timestamp": time.time(), "parse_data": message, "input_channel": "rest", "message_id": message_id})
    return Tracker(sender, {"journey_stage": stage}, message, events, False, None, {}, "action_listen")


def run(action, tr):
    dispatcher = CollectingDispatcher()
    return dispatcher.messages, action.run(dispatcher, tr, {})


def test_asking_for_a_person_queues_and_pauses(journey_db):
    messages, events = run(ActionHandoff(), tracker("h1", "I want a human", "contact_human_agent", "m1"))
    assert events == [ConversationPaused()]
    assert "number 1 in the queue" in messages[0]["text"] and "about 5 min" in messages[0]["text"]
    [queued] = handoff_store().queue()
    assert (queued.sender_id, queued.trigger, queued.reason) == ("h1", "customer_request", "I want a human")
    # Asking again (e.g. a retried action) keeps the one handoff.
    messages, _ = run(ActionHandoff(), tracker("h1", "hello??", "contact_human_agent", "m2"))
    assert "already in the queue" in messages[0]["text"] and len(handoff_store().queue()) == 1


def test_check_hands_off_only_when_a_trigger_fires(journey_db):
    assert run(ActionHandoffCheck(), tracker("c1", "bad", "complaint", "m1", emotion="sad")) == ([], [])
    messages, events = run(ActionHandoffCheck(), tracker("c1", "this is outrageous", "complaint", "m2", emotion="angry"))
    assert events == [ConversationPaused()] and messages
    assert handoff_store().queue()[0].trigger == "angry_complaint"
    _, events = run(ActionHandoffCheck(), tracker("f1", "blorp", "nlu_fallback", "m3", earlier=("nlu_fallback",)))
    assert events == [ConversationPaused()]
    # The message that moves someone into purchase does not call in a person by itself...
    _, events = run(ActionHandoffCheck(), tracker("p1", "I'll order", "place_order", "m4", stage="purchase"))
    assert events == []
    # ...but a high-value question asked once they are in purchase does.
    _, events = run(ActionHandoffCheck(), tracker("p1", "can I pay monthly?", "ask_payment_plans", "m5", stage="purchase"))
    assert events == [ConversationPaused()]
    assert [h.trigger for h in handoff_store().queue()] == ["angry_complaint", "high_value", "repeated_fallback"]


FURIOUS = "my order is late again, this is ridiculous, I'm furious"


def test_strong_anger_on_an_order_question_hands_off_after_a_purchase(journey_db):
    # Not a customer yet: the furious order question starts the order form as usual.
    _, events = run(ActionStartOrderRequest(), tracker("a1", FURIOUS, "track_order", "m1", classify=True))
    assert ConversationPaused() not in events and handoff_store().queue() == []

    # A customer who has ordered (place_order moves them to purchase)...
    _, events = run(ActionJourneyTurn(), tracker("a2", "I'd like to order the premium plan", "place_order", "m2", classify=True))
    assert ConversationPaused() not in events
    # ...is handed to a person when the NLU files their anger under track_order.
    messages, events = run(ActionStartOrderRequest(), tracker("a2", FURIOUS, "track_order", "m3", classify=True))
    assert events[-1] == ConversationPaused() and "number 1 in the queue" in messages[-1]["text"]
    [queued] = handoff_store().queue()
    assert (queued.sender_id, queued.trigger, queued.reason, queued.priority) == ("a2", "angry_complaint", FURIOUS, 1)

    # The same from an answering action (delivery_period): the answer first, then the handoff.
    run(ActionJourneyTurn(), tracker("a3", "I'd like to order", "place_order", "m4", classify=True))
    messages, events = run(ActionJourneyTurn(), tracker("a3", "when will it arrive? this is ridiculous, I'm furious", "delivery_period", "m5", classify=True))
    assert events[-1] == ConversationPaused() and len(messages) == 2 and "in the queue" in messages[1]["text"]
    # A calm (or merely annoyed) question from a customer does not.
    run(ActionJourneyTurn(), tracker("a4", "I'd like to order", "place_order", "m6", classify=True))
    for i, calm in enumerate(("how long does delivery take?", "my order is late again")):
        _, events = run(ActionJourneyTurn(), tracker("a4", calm, "delivery_period", f"m7{i}", classify=True))
        assert ConversationPaused() not in events
    assert [h.sender_id for h in handoff_store().queue()] == ["a2", "a3"]


def test_a_message_while_the_agent_hands_back_does_not_pause_the_bot_again(journey_db):
    """Soak finding: between the console's resume and its marking the handoff returned, a customer's
    "I want a human" re-paused the conversation silently; the handoff then closed and nobody owned it."""
    run(ActionHandoff(), tracker("h2", "I want a human", "contact_human_agent", "m1"))
    [queued] = handoff_store().queue()
    handoff_store().claim(queued.id, "ann")
    messages, events = run(ActionHandoff(), tracker("h2", "can I talk to a person", "contact_human_agent", "m2"))
    assert events == [] and messages == []  # not paused; the channel apologises for the silence
    assert handoff_store().get(queued.id).status == "assigned"
