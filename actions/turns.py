"""The base of every custom action: the customer's latest message is recorded in the journey first.

Recording lives here, not in each action, so an action added later cannot leave a message
out of the journey. It is idempotent per message id: the several actions that run for one
message (answer, handoff check, form ask) add one touchpoint between them.
"""
from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.tracker_reading import domain_intents, turn_from_tracker
from journey_state.conversation import RecordedTurn
from journey_state.errors import StoreUnavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recording:
    """What recording the latest message gave; `turn` is None if it was not recorded."""

    turn: RecordedTurn | None = None
    store_down: bool = False

    @property
    def stage(self) -> str | None:
        return self.turn.stage if self.turn else None


def record_turn(tracker: Tracker, domain: DomainDict | None = None, form_answer: bool = False) -> Recording:
    """Record the latest message if this action runs in its turn (see answering_latest_message).

    With the domain, a yes/no to the bot's own question is recorded as what it declared. A
    `form_answer` (an email, an order number, a score) is recorded without the model's intent:
    the model's guess for "LENA@AuroraCoffee.example" is no journey signal.
    """
    if not answering_latest_message(tracker):
        return Recording()
    try:
        turn = turn_from_tracker(tracker, intents=domain_intents(domain))
        if form_answer:
            turn = dataclasses.replace(turn, intent=None)
        return Recording(runtime.services().conversation.record(turn))
    except StoreUnavailable as exc:
        logger.error("journey store unavailable: %s", exc)
        return Recording(store_down=True)


def answering_latest_message(tracker: Tracker) -> bool:
    """Whether this action runs in the turn of the customer's latest message.

    Not when the console started it (action_hand_back and the csat_form it opens, via
    /execute): the latest message then came while a person owned the chat (a pause or resume
    follows it), or its turn was already recorded by the action that answered it.
    """
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind in ("pause", "resume"):
            return False
    return False


class JourneyAction(Action, ABC):
    """A custom action; subclasses implement `respond`, which runs after the message is recorded.

    Abstract, so that rasa_sdk's executor does not register the base itself as an action.
    """

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        return self.respond(dispatcher, tracker, domain, record_turn(tracker, domain))

    @abstractmethod
    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict[str, Any]]:
        """The action's answer; `recording` says what recording the latest message gave."""


class JourneyFormValidation(FormValidationAction, ABC):
    """A form's validation action: the answer being validated is recorded before its validate_<slot> methods run."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        record_turn(tracker, domain)
        return await super().run(dispatcher, tracker, domain)

    @abstractmethod
    def name(self) -> str:
        """validate_<form name>."""
