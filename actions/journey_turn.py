"""action_journey_turn: record the turn in the journey and answer for the contact's stage."""
from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.dispatch import send
from actions.handoff import hand_off_for, pending_trigger
from actions.tracker_reading import turn_from_tracker
from actions.turns import JourneyAction, Recording
from journey_state.errors import StoreUnavailable

logger = logging.getLogger(__name__)


class ActionJourneyTurn(JourneyAction):
    def name(self) -> str:
        return "action_journey_turn"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        turn = turn_from_tracker(tracker)
        services = runtime.services()
        # A trigger may fire on any intent (strong anger, a request for a person in other
        # words): decided before answering, so the answer can make way for the handoff.
        stage = recording.turn.previous_stage if recording.turn else tracker.get_slot("journey_stage")
        trigger = None if recording.store_down else pending_trigger(tracker, stage)
        try:
            # Recording already failed (and was logged): answering would only try again.
            result = None if recording.store_down else services.conversation.handle(turn, recording.turn, handing_off=trigger is not None)
        except StoreUnavailable as exc:
            logger.error("journey store unavailable: %s", exc)
            result = None
        if result is None:
            send(dispatcher, services.replies.choose("technical_problem", None, turn.channel))
            return []
        send(dispatcher, *result.replies)
        return [SlotSet("journey_stage", result.stage), *hand_off_for(dispatcher, tracker, trigger)]
