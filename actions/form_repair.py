"""Conversation repair for every form: the validation base class and the asking base class.

journey_state.form_repair decides what a message inside a form means; this module carries
the decision out with Rasa events:

- answer / correction: the valid values found in the message are set (a correction is
  acknowledged);
- cancel, human, digression: the form ends at once (ActiveLoop(None)) with every answer
  cleared, so the submit rule that follows finds nothing to submit. A digression gets the
  journey's normal answer, then "Shall we get back to …?" (actions/form_resume.py);
- don't know, invalid: the answer is refused and the question that follows changes
  (FormAsk): a retry with an example, then help with a person, then the bot stops asking.

A form added later subclasses RepairingFormValidation and FormAsk and gets all of it.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import form_resume, runtime
from actions.dispatch import send
from actions.handoff import hand_off
from actions.journey_turn import answer_turn
from actions.turns import JourneyAction, JourneyFormValidation, Recording, answering_latest_message, record_turn
from journey_state.form_repair import (
    INVALID_BEFORE_GIVING_UP,
    INVALID_BEFORE_HELP,
    Decision,
    FormMessage,
    FormSpec,
    Move,
    decide,
    shorten,
)
from journey_state.handoff import CUSTOMER_REQUEST
from journey_state.order_support import REQUESTS

logger = logging.getLogger(__name__)

ATTEMPTS_SLOT = "form_attempts"  # invalid answers so far to the requested question
REPAIR_SLOT = "form_repair"  # what the last answer was, when it was not a value ("invalid", "dont_know")
LISTED = "listed"  # the validation already offered the possible answers as buttons: no question follows
MAX_FREE_TEXT = 1000
QUOTE_LIMIT = 40


def say(dispatcher: CollectingDispatcher, tracker: Tracker, answer_id: str, **values: Any) -> None:
    reply = runtime.services().replies.choose(answer_id, tracker.get_slot("journey_stage"), tracker.get_latest_input_channel(), values)
    send(dispatcher, reply)


def message_of(tracker: Tracker, values: dict[str, object]) -> FormMessage:
    latest = tracker.latest_message or {}
    intent = latest.get("intent") or {}
    return FormMessage(str(latest.get("text") or ""), intent.get("name"), float(intent.get("confidence") or 0.0), values)


class RepairingFormValidation(JourneyFormValidation, ABC):
    """validate_<form>: applies the repair decision for the message that answers the form's question."""

    form: ClassVar[FormSpec]
    # Slots whose correction the next question makes obvious, so no "Got it" is needed.
    silent_corrections: ClassVar[frozenset[str]] = frozenset()

    def name(self) -> str:
        return f"validate_{self.form.name}"

    @abstractmethod
    def values_in(self, tracker: Tracker) -> dict[str, object]:
        """The valid values for the form's slots found in the latest message (none if invalid)."""

    def handoff_context(self, tracker: Tracker) -> str:
        """What the agent's card shows about the form ("order form: AUR-10043")."""
        known = [f"{slot} {tracker.get_slot(slot)}" for slot in self.form.slots if tracker.get_slot(slot) not in (None, "")]
        return f"{self.form.name}: {', '.join(known) if known else 'nothing answered yet'}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        requested = tracker.get_slot("requested_slot")
        if not requested or requested not in self.form.slots or not answering_latest_message(tracker):
            # Activation (slots pre-filled from the first message) or a form opened by the
            # console: nothing was asked yet, so there is nothing to repair. (The turn is
            # recorded here; JourneyFormValidation.run would only record it again.)
            record_turn(tracker, domain)
            return await FormValidationAction.run(self, dispatcher, tracker, domain)
        message = message_of(tracker, self.values_in(tracker))
        decision = decide(self.form, requested, message)
        # An answer to the form's question carries no journey signal of its own; a change of
        # topic, a request for a person or a cancel does.
        recording = record_turn(tracker, domain, form_answer=not decision.ends_form)
        logger.debug("%s: %s for %s", self.form.name, decision.move.value, requested)
        events = self.carry_out(decision, requested, message, dispatcher, tracker, recording, domain)
        if not decision.ends_form and ActiveLoop(None) not in events:
            # As rasa_sdk's own run does: a form whose required slots depend on its answers
            # (the order email only for cancel and refund) names its next question itself.
            tracker.add_slots([e for e in events if e.get("event") == "slot"])
            next_slot = await self.next_requested_slot(dispatcher, tracker, domain)
            if next_slot is not None:
                events.append(next_slot)
        return events

    def carry_out(
        self,
        decision: Decision,
        requested: str,
        message: FormMessage,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        recording: Recording,
        domain: DomainDict,
    ) -> list[dict[str, Any]]:
        move = decision.move
        if move in (Move.ANSWER, Move.CORRECTION, Move.SKIP):
            return self._fill(decision, requested, message, dispatcher, tracker)
        if move is Move.CANCEL:
            say(dispatcher, tracker, "form_cancelled")
            return self._end(tracker)
        if move is Move.HUMAN:
            return [*hand_off(dispatcher, tracker, CUSTOMER_REQUEST, context=self.handoff_context(tracker)), *self._end(tracker)]
        if move is Move.DIGRESSION:
            return self._digress(decision, requested, dispatcher, tracker, recording, domain)
        if move is Move.DONT_KNOW:
            return [SlotSet(requested, None), SlotSet(REPAIR_SLOT, "dont_know"), *self.dont_know(requested, dispatcher, tracker)]
        attempts = int(tracker.get_slot(ATTEMPTS_SLOT) or 0) + 1
        if attempts >= INVALID_BEFORE_GIVING_UP:
            self.give_up(dispatcher, tracker)
            return self._end(tracker)
        return [SlotSet(requested, None), SlotSet(ATTEMPTS_SLOT, float(attempts)), SlotSet(REPAIR_SLOT, "invalid")]

    def dont_know(self, requested: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        """Extra events when the customer does not know the answer; the FormAsk offers the alternative."""
        return []

    def give_up(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        say(dispatcher, tracker, "form_gave_up")

    def _fill(self, decision: Decision, requested: str, message: FormMessage, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        values = dict(message.values)
        if decision.move is Move.SKIP:
            values[requested] = ""
        elif decision.move is Move.ANSWER and requested in self.form.free_text and requested not in values:
            # Stored whole up to the limit, cut at a word if longer: never a half word.
            values[requested] = shorten(message.text, MAX_FREE_TEXT) or message.text[:MAX_FREE_TEXT]
        events: list[dict[str, Any]] = [SlotSet(slot, value) for slot, value in values.items()]
        if requested not in values:  # a correction: the text Rasa put in the asked slot is no answer
            events.append(SlotSet(requested, None))
        if decision.move is Move.CORRECTION and decision.slot is not None and decision.slot not in self.silent_corrections:
            value = values[decision.slot]
            shown = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            say(dispatcher, tracker, "form_corrected", value=shown)
        return [*events, SlotSet(ATTEMPTS_SLOT, 0.0), SlotSet(REPAIR_SLOT, None)]

    def _digress(
        self, decision: Decision, requested: str, dispatcher: CollectingDispatcher, tracker: Tracker, recording: Recording, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if decision.intent in REQUESTS:
            # An order question inside another form: that is what the customer wants now.
            return [*self._end(tracker), SlotSet("order_request", decision.intent), FollowupAction("order_form")]
        answered = answer_turn(dispatcher, tracker, recording, domain)
        if any(e.get("event") == "pause" for e in answered):  # the answer called in a person
            return [*answered, *self._end(tracker)]
        answers = {s: tracker.get_slot(s) for s in self.form.slots if s != requested and tracker.get_slot(s) not in (None, "")}
        say(dispatcher, tracker, "form_resume_offer", task=form_resume.task_name(tracker, self.form.name))
        return [*answered, *self._end(tracker), form_resume.stash(tracker, self.form.name, answers)]

    def _end(self, tracker: Tracker) -> list[dict[str, Any]]:
        """End the form now, with nothing answered left behind."""
        cleared = [SlotSet(slot, None) for slot in self.form.slots]
        return [*cleared, SlotSet(ATTEMPTS_SLOT, 0.0), SlotSet(REPAIR_SLOT, None), SlotSet("requested_slot", None), ActiveLoop(None)]


class FormAsk(JourneyAction, ABC):
    """action_ask_<slot>: the question, changed after a refused answer so the bot never loops.

    After an invalid answer: `<answer_id>_retry` (quoting the answer when it can be quoted
    whole, else `<answer_id>_retry_unquoted`), from the second on `<answer_id>_help` (an
    example and a person); after "I don't know": `<answer_id>_unknown`.
    """

    answer_id: ClassVar[str]

    @abstractmethod
    def name(self) -> str:
        """action_ask_<slot>, as domain.yml lists it."""

    def values(self, tracker: Tracker) -> dict[str, Any]:
        return {}

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict[str, Any]]:
        replies = runtime.services().replies
        repair = tracker.get_slot(REPAIR_SLOT)
        attempts = int(tracker.get_slot(ATTEMPTS_SLOT) or 0)
        values = self.values(tracker)
        answer_id = self.answer_id
        if repair == LISTED:
            return []
        if repair == "dont_know" and replies.has(f"{answer_id}_unknown"):
            answer_id = f"{answer_id}_unknown"
        elif repair == "invalid" and attempts >= INVALID_BEFORE_HELP and replies.has(f"{answer_id}_help"):
            answer_id = f"{answer_id}_help"
        elif repair == "invalid" and replies.has(f"{answer_id}_retry"):
            given = shorten(str((tracker.latest_message or {}).get("text") or ""), QUOTE_LIMIT)
            unquoted = f"{answer_id}_retry_unquoted"
            if (not given or not any(ch.isalnum() for ch in given)) and replies.has(unquoted):
                answer_id = unquoted
            else:
                answer_id = f"{answer_id}_retry"
                values["given"] = given or ""
        say(dispatcher, tracker, answer_id, **values)
        return []
