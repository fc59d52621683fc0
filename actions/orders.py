"""Order support actions: note the request, collect order number (and email), answer via journey_state."""
from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.dispatch import send
from actions.form_repair import LISTED, REPAIR_SLOT, FormAsk, RepairingFormValidation
from actions.handoff import hand_off_if_triggered
from actions.tracker_reading import channel_identity
from actions.turns import JourneyAction, Recording
from journey_state.commerce import InvalidOrderNumber, normalise_order_number
from journey_state.form_repair import FormSpec
from journey_state.identifiers import InvalidIdentifier, normalise_email
from journey_state.order_support import REQUESTS, needs_owner_email

# Switching the request ("actually, cancel it") needs a surer model than a change of topic:
# a wrong switch asks a tracking customer for their email.
REQUEST_CHANGE_MIN_CONFIDENCE = 0.6
REQUEST_CHANGE_MAX_WORDS = 12

ORDER_FORM = FormSpec(
    name="order_form",
    slots=("order_id", "order_email", "order_request"),
    own_intents=frozenset(REQUESTS),
)


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


def _order_number(text: Any) -> str | None:
    try:
        return normalise_order_number(str(text), prefix=runtime.services().orders.order_prefix)
    except InvalidOrderNumber:
        return None


def _email(text: Any) -> str | None:
    try:
        return normalise_email(str(text))
    except InvalidIdentifier:
        return None


class ValidateOrderForm(RepairingFormValidation):
    form = ORDER_FORM
    silent_corrections = frozenset({"order_request"})

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        slots = ["order_id"]
        if needs_owner_email(tracker.get_slot("order_request")):
            slots.append("order_email")
        return slots

    def values_in(self, tracker: Tracker) -> dict[str, object]:
        latest = tracker.latest_message or {}
        text = str(latest.get("text") or "")
        entities = {e.get("entity"): e.get("value") for e in latest.get("entities") or [] if isinstance(e, dict)}
        values: dict[str, object] = {}
        number = _order_number(entities["order_id"]) if entities.get("order_id") else None
        number = number or _order_number(text)
        if number:
            values["order_id"] = number
        email = _email(entities["email"]) if entities.get("email") else None
        email = email or (_email(text) if "@" in text else None)
        if email:
            values["order_email"] = email
        intent = latest.get("intent") or {}
        # "Actually, I want to cancel it" while asked for the number of an order to track. A
        # message with an order number answers the question: the model's intent for a bare
        # "AUR-10043" is a guess, and must not turn tracking into a cancellation.
        if (
            "order_id" not in values
            and len(text.split()) <= REQUEST_CHANGE_MAX_WORDS
            and intent.get("name") in REQUESTS
            and intent.get("name") != tracker.get_slot("order_request")
            and float(intent.get("confidence") or 0) >= REQUEST_CHANGE_MIN_CONFIDENCE
        ):
            values["order_request"] = intent["name"]
        return values

    def dont_know(self, requested: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        """A customer who proved their email (signed-in web chat, a verified channel) picks from their orders."""
        if requested != "order_id":
            return []
        services = runtime.services()
        contact = services.store.contact_by_identity(channel_identity(tracker))
        emails = [i["value"] for i in (contact or {}).get("identifiers", []) if i.get("kind") == "email"]
        orders = services.orders.orders_for(emails[0] if emails else None)
        if not orders:
            return []  # the question offers where to find the number, and a person
        request = tracker.get_slot("order_request") or "track_order"
        reply = services.replies.choose("ask_order_number_choose", tracker.get_slot("journey_stage"), tracker.get_latest_input_channel(), {"email": emails[0]})
        buttons = [
            # Short: WhatsApp reply buttons hold 20 characters.
            {"title": f"{o.number}, {o.placed_at:%d %b}",
             "payload": f"/{request}{json.dumps({'order_id': o.number})}"}
            for o in orders
        ]
        dispatcher.utter_message(text=reply.text, buttons=buttons)
        return [SlotSet(REPAIR_SLOT, LISTED)]

    # Activation: an order number or email in the first message ("track AUR-10042").
    def validate_order_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        return {"order_id": _order_number(value)}

    def validate_order_email(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        return {"order_email": _email(value)}


class ActionAskOrderId(FormAsk):
    def name(self) -> str:
        return "action_ask_order_id"

    answer_id = "ask_order_number"


class ActionAskOrderEmail(FormAsk):
    def name(self) -> str:
        return "action_ask_order_email"

    answer_id = "ask_order_email"

    def values(self, tracker: Tracker) -> dict[str, Any]:
        return {"order_number": tracker.get_slot("order_id") or "your order"}


class ActionOrderSupport(JourneyAction):
    def name(self) -> str:
        return "action_order_support"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        request = tracker.get_slot("order_request") or "track_order"
        number, email = tracker.get_slot("order_id"), tracker.get_slot("order_email")
        if not number or (needs_owner_email(request) and not email):
            # The form ended without its answers (cancelled, handed off, changed topic):
            # whatever ended it has answered already.
            return [SlotSet("order_request", None)]
        answer = runtime.services().orders.handle(request, number, tracker.get_slot("journey_stage"), tracker.get_latest_input_channel(), owner_email=email)
        send(dispatcher, answer.reply)
        return [SlotSet("order_request", None)]

