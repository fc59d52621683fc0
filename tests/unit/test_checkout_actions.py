"""The checkout step in action_journey_turn, with real rasa_sdk trackers and a real SQLite journey store."""
from __future__ import annotations

import re
import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.handoff import ActionHandoffCheck, handoff_store
from actions.journey_turn import ActionJourneyTurn
from journey_state.store.migrate import upgrade

LINK = re.compile(r"http://127\.0\.0\.1:5080/c/[A-Za-z0-9_-]{32}")


@pytest.fixture()
def journey_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'actions.db'}"
    upgrade(url)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", url)
    monkeypatch.setenv("JOURNEYBOT_JOURNEY_MODEL", "b2c")
    monkeypatch.setenv("JOURNEYBOT_HOST", "127.0.0.1")
    monkeypatch.delenv("JOURNEYBOT_PUBLIC_CONSOLE_URL", raising=False)
    monkeypatch.delenv("JOURNEYBOT_CONSOLE_PORT", raising=False)
    runtime.reset()
    yield url
    runtime.reset()


def tracker(sender, text, intent, message_id, products=()) -> Tracker:
    entities = [{"entity": "product", "value": p, "start": 0, "end": 1} for p in products]
    message = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": entities, "message_id": message_id}
    events = [{"event": "user", "text": text, "timestamp": time.time(), "parse_data": message, "input_channel": "rest",
               "message_id": message_id}]
    return Tracker(sender, {}, message, events, False, None, {}, "action_listen")


def run(action, tr):
    dispatcher = CollectingDispatcher()
    return dispatcher.messages, action.run(dispatcher, tr, {})


def test_a_named_plan_gets_its_link_and_the_plan_buttons_do_not_call_in_a_person(journey_db):
    messages, events = run(ActionJourneyTurn(), tracker("b1", "I want to order", "place_order", "m1"))
    assert [b["payload"] for b in messages[0]["buttons"]] == ['/place_order{"product": "premium"}', '/place_order{"product": "basic"}']
    assert [e for e in events if e["name"] != "pending_answer"] == [SlotSet("journey_stage", "purchase")]
    # Pressed in purchase: the link, and no handoff from either action of the rule.
    pressed = tracker("b1", '/place_order{"product": "premium"}', "place_order", "m2", products=("premium",))
    messages, events = run(ActionJourneyTurn(), pressed)
    assert len(LINK.findall(messages[0]["text"])) == 1 and "Premium" in messages[0]["text"]
    assert ConversationPaused() not in events
    assert run(ActionHandoffCheck(), pressed)[1] == []
    again, _ = run(ActionJourneyTurn(), tracker("b1", "I didn't get the link", "ask_checkout_link", "m3"))
    assert LINK.findall(again[0]["text"]) == LINK.findall(messages[0]["text"])
    assert handoff_store().queue() == []


def test_a_product_without_a_checkout_link_is_handed_to_a_person(journey_db):
    messages, events = run(ActionJourneyTurn(), tracker("g1", "I'd like to buy the hand grinder", "place_order", "m1", products=("burr_grinder",)))
    assert "Aurora Hand Burr Grinder" in messages[0]["text"] and "person" in messages[0]["text"]
    assert "number 1 in the queue" in messages[1]["text"] and events[-1] == ConversationPaused()
    [queued] = handoff_store().queue()
    assert (queued.sender_id, queued.trigger, queued.priority) == ("g1", "high_value", 1)
