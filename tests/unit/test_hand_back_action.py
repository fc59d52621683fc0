"""action_hand_back with real rasa_sdk trackers and a real SQLite journey store."""
from __future__ import annotations

import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.hand_back import ActionHandBack
from actions.handoff import handoff_store
from journey_state.identifiers import ChannelRef
from journey_state.store.migrate import upgrade


@pytest.fixture()
def services(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'hand_back.db'}"
    upgrade(url)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", url)
    monkeypatch.setenv("JOURNEYBOT_JOURNEY_MODEL", "b2c")
    runtime.reset()
    yield runtime.services()
    runtime.reset()


def handed_back(sender: str, paused: bool, slots: dict | None = None) -> Tracker:
    events = [
        {"event": "user", "text": "I want a person", "timestamp": time.time() - 5, "input_channel": "rest",
         "parse_data": {"intent": {"name": "contact_human_agent"}}},
        {"event": "pause", "timestamp": time.time() - 4},
        {"event": "resume", "timestamp": time.time() - 1},
    ]
    if paused:  # the customer asked for a person again after the resume
        events += [{"event": "user", "text": "a human please", "timestamp": time.time(), "input_channel": "rest"},
                   {"event": "pause", "timestamp": time.time()}]
    return Tracker(f"rest:{sender}", {"journey_stage": "awareness", "csat_score": None, **(slots or {})}, {}, events,
                   paused, None, {}, "action_listen")


def run(tr: Tracker):
    dispatcher = CollectingDispatcher()
    events = ActionHandBack().run(dispatcher, tr, {})
    return [m["text"] for m in dispatcher.messages], events


def test_follow_up_for_the_current_stage_then_the_csat_question_with_the_form_open(services):
    who = ChannelRef("rest", "cust")
    handoff_store().open(who, "customer_request", reason="I want a person")
    contact = services.store.contact_by_identity(who)
    services.store.override_stage(contact["id"], "retention", "ann", "long-time customer")  # changed during the handoff

    said, events = run(handed_back("cust", paused=False))
    assert said == [handoff_store().config.follow_up("retention"),
                    services.replies.choose("ask_csat_score", "retention", "rest").text]
    assert "subscription" in said[0]
    # What csat_form logs when it starts, then the listen that ends the turn: the answer goes to the form.
    assert events == [SlotSet("csat_score", None), ActiveLoop("csat_form"), SlotSet("requested_slot", "csat_score"),
                      ActionExecuted("action_listen")]


def test_an_unknown_contact_gets_the_follow_up_for_the_slot_stage(services):
    said, _ = run(handed_back("stranger", paused=False, slots={"journey_stage": "consideration"}))
    assert said[0] == handoff_store().config.follow_up("consideration") and "compare plans" in said[0]


def test_queued_for_a_person_again_before_the_bot_spoke_the_bot_stays_silent(services):
    said, events = run(handed_back("again", paused=True))
    assert said == [] and events == []
