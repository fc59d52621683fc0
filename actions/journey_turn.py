"""action_journey_turn: record the turn in the journey and answer for the contact's stage."""
from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.dispatch import send
from actions.handoff import hand_off, hand_off_if_triggered
from actions.tracker_reading import turn_from_tracker
from actions.turns import JourneyAction, Recording
from journey_state.errors import StoreUnavailable
from journey_state.handoff import HIGH_VALUE

logger = logging.getLogger(__name__)


class ActionJourneyTurn(JourneyAction):
    def name(self) -> str:
        return "action_journey_turn"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        turn = turn_from_tracker(tracker)
        services = runtime.services()
        try:
            # Recording already failed (and was logged): answering would only try again.
            result = None if recording.store_down else services.conversation.handle(turn, recording.turn)
        except StoreUnavailable as exc:
            logger.error("journey store unavailable: %s", exc)
            result = None
        if result is None:
            send(dispatcher, services.replies.choose("technical_problem", None, turn.channel))
            return []
        send(dispatcher, *result.replies)
        # A trigger may fire on any intent (strong anger): hand off after the answer.
        handed = hand_off(dispatcher, tracker, HIGH_VALUE) if result.sale_needs_person else \
            hand_off_if_triggered(dispatcher, tracker, result.previous_stage)
        return [SlotSet("journey_stage", result.stage), *handed]
