"""Order support actions: note the request, collect order number (and email), answer via journey_state."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.dispatch import send
from actions.handoff import hand_off_if_triggered
from actions.turns import JourneyAction, JourneyFormValidation, Recording
from journey_state.commerce import InvalidOrderNumber, normalise_order_number
from journey_state.identifiers import InvalidIdentifier, normalise_email
from journey_state.order_support import REQUESTS, needs_owner_email


class ActionStartOrderRequest(JourneyAction):
    def name(self) -> str:
        return "action_start_order_request"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        stage = recording.stage
        events = [SlotSet("order_request", intent if intent in REQUESTS else "track_order")]
        # "My order is late again, I'm furious" is a track_order: strong anger calls in a
        # person (the pause stops the order form from asking for the number).
        return events + ([SlotSet("journey_stage", stage)] if stage else []) + hand_off_if_triggered(dispatcher, tracker, stage)


class ValidateOrderForm(JourneyFormValidation):
    def name(self) -> str:
        return "validate_order_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        slots = ["order_id"]
        if needs_owner_email(tracker.get_slot("order_request")):
            slots.append("order_email")
        return slots

    def validate_order_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        services = runtime.services()
        try:
            return {"order_id": normalise_order_number(str(value), prefix=services.orders.order_prefix)}
        except InvalidOrderNumber:
            stage, channel = tracker.get_slot("journey_stage"), tracker.get_latest_input_channel()
            send(dispatcher, services.replies.choose("order_number_invalid", stage, channel, {"given": str(value)[:40]}))
            return {"order_id": None}

    def validate_order_email(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        try:
            return {"order_email": normalise_email(str(value))}
        except InvalidIdentifier:
            dispatcher.utter_message(text=f"'{str(value)[:60]}' doesn't look like an email address.")
            return {"order_email": None}


class ActionAskOrderId(JourneyAction):
    def name(self) -> str:
        return "action_ask_order_id"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        reply = runtime.services().replies.choose("ask_order_number", tracker.get_slot("journey_stage"), tracker.get_latest_input_channel())
        send(dispatcher, reply)
        return []


class ActionAskOrderEmail(JourneyAction):
    def name(self) -> str:
        return "action_ask_order_email"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        values = {"order_number": tracker.get_slot("order_id") or "your order"}
        reply = runtime.services().replies.choose("ask_order_email", tracker.get_slot("journey_stage"), tracker.get_latest_input_channel(), values)
        send(dispatcher, reply)
        return []


class ActionOrderSupport(JourneyAction):
    def name(self) -> str:
        return "action_order_support"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        answer = runtime.services().orders.handle(
            tracker.get_slot("order_request") or "track_order",
            tracker.get_slot("order_id") or "",
            tracker.get_slot("journey_stage"),
            tracker.get_latest_input_channel(),
            owner_email=tracker.get_slot("order_email"),
        )
        send(dispatcher, answer.reply)
        return [SlotSet("order_request", None)]
