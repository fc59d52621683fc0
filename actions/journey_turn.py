"""action_journey_turn: record the turn in the journey and answer for the contact's stage."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import form_resume, runtime
from actions.dispatch import send
from actions.handoff import hand_off, hand_off_for, pending_trigger
from actions.tracker_reading import PENDING_ANSWER_SLOT, domain_intents, turn_from_tracker
from actions.turns import JourneyAction, Recording
from journey_state.errors import StoreUnavailable
from journey_state.handoff import CUSTOMER_REQUEST, HIGH_VALUE
from journey_state.order_support import REQUESTS
from journey_state.replies import FLOW_STARTS, Reply

logger = logging.getLogger(__name__)


def _start_flow(dispatcher: CollectingDispatcher, tracker: Tracker, flow: str) -> list[dict[str, Any]]:
    """A yes that stands for a flow rather than an answer ("Would you like a person to follow up?" "yes")."""
    if flow == "contact_human_agent":
        return hand_off(dispatcher, tracker, CUSTOMER_REQUEST)
    if flow in REQUESTS:
        return [SlotSet("order_request", flow), FollowupAction("order_form")]
    return [FollowupAction("nps_form")]  # review


def _declared_yes_no(tracker: Tracker, replies: tuple[Reply, ...]) -> dict[str, Any]:
    """Remember what yes/no to this turn's last question mean, for the next message only."""
    asked = next((r for r in reversed(replies) if r.asks and (r.on_affirm or r.on_deny)), None)
    if asked is None:
        return SlotSet(PENDING_ANSWER_SLOT, None)
    turns = sum(1 for e in tracker.events if e.get("event") == "user")
    return SlotSet(PENDING_ANSWER_SLOT, {"affirm": asked.on_affirm, "deny": asked.on_deny, "user_turn": turns})


def answer_turn(dispatcher: CollectingDispatcher, tracker: Tracker, recording: Recording, domain: DomainDict) -> list[dict[str, Any]]:
    """The journey's answer to the latest message, and a handoff if a trigger fires.

    Shared with the forms: a question asked inside a form (a digression) gets the same
    answer it would get outside one.
    """
    turn = turn_from_tracker(tracker, intents=domain_intents(domain))
    if turn.answer in FLOW_STARTS and turn.answer != "form":
        return [SlotSet(PENDING_ANSWER_SLOT, None), *_start_flow(dispatcher, tracker, turn.answer)]
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
    # A sale the checkout cannot close itself (high value, no link) goes to a person.
    handed = hand_off(dispatcher, tracker, HIGH_VALUE) if result.sale_needs_person else hand_off_for(dispatcher, tracker, trigger)
    return [SlotSet("journey_stage", result.stage), _declared_yes_no(tracker, result.replies), *handed]


class ActionJourneyTurn(JourneyAction):
    def name(self) -> str:
        return "action_journey_turn"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        # "Yes" / "no" right after "Shall we get back to your order?" answer that question.
        repaired = form_resume.answer_offer(dispatcher, tracker)
        if repaired is not None:
            return repaired
        return answer_turn(dispatcher, tracker, recording, domain)
