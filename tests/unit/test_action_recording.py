"""Every custom action records the customer's message through one base class (actions/turns.py)."""
from __future__ import annotations

import time

from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from actions.turns import JourneyAction, JourneyFormValidation, Recording, answering_latest_message


def registered_actions() -> dict[str, type]:
    executor = ActionExecutor()
    executor.register_package("actions")
    found = {name: type(getattr(action, "__self__", action)) for name, action in executor.actions.items()}
    # The executor registers every Action subclass loaded, including tests' own.
    return {name: cls for name, cls in found.items() if cls.__module__.startswith("actions.")}


def test_every_registered_action_records_through_the_base():
    actions = registered_actions()
    assert "action_journey_turn" in actions and "validate_order_form" in actions
    outside = sorted(name for name, cls in actions.items() if not issubclass(cls, (JourneyAction, JourneyFormValidation)))
    assert outside == []


def test_the_bases_are_not_registered_as_actions():
    classes = set(registered_actions().values())
    assert JourneyAction not in classes and JourneyFormValidation not in classes


def tracker(events) -> Tracker:
    return Tracker("r1", {}, {"text": "hi", "intent": {"name": "greet", "confidence": 0.9}}, events, False, None, {}, "action_listen")


def test_a_message_before_a_pause_or_resume_is_not_this_actions_turn():
    user = {"event": "user", "text": "hi", "timestamp": time.time()}
    assert answering_latest_message(tracker([user, {"event": "action", "name": "action_listen"}]))
    assert not answering_latest_message(tracker([user, {"event": "resume"}]))
    assert not answering_latest_message(tracker([]))


def test_respond_gets_what_recording_gave():
    seen: list[Recording] = []

    class Probe(JourneyAction):
        def name(self) -> str:
            return "action_probe"

        def respond(self, dispatcher, tracker, domain, recording):
            seen.append(recording)
            return []

    assert Probe().run(CollectingDispatcher(), tracker([{"event": "resume"}]), {}) == []
    assert seen == [Recording()] and seen[0].stage is None
