"""action_hand_back: the bot's first turn after a person hands a conversation back.

The console runs it through Rasa's /execute, which holds the conversation's lock, so the
check "is the conversation paused again?" and everything said after it form one turn that
no customer message can interleave with (journey_state.hand_back explains why that matters).

It opens csat_form itself, with the events the form would log when it starts (active loop,
requested slot) and the listen that ends a bot turn: /execute runs a single action and no
prediction loop, so neither the form nor the listen would otherwise follow in this turn.
"""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.dispatch import send
from actions.handoff import handoff_store
from actions.tracker_reading import channel_identity
from actions.turns import JourneyAction, Recording
from journey_state.errors import StoreUnavailable

logger = logging.getLogger(__name__)
CSAT_FORM = "csat_form"
CSAT_SLOT = "csat_score"


def _stage(tracker: Tracker) -> str | None:
    """The journey stage now (an agent may have changed it during the handoff)."""
    try:
        contact = runtime.services().store.contact_by_identity(channel_identity(tracker))
    except StoreUnavailable as exc:
        logger.warning("hand back: journey store unavailable, following up for the slot's stage: %s", exc)
        contact = None
    return contact["stage"] if contact else tracker.get_slot("journey_stage")


class ActionHandBack(JourneyAction):
    """Records nothing: the latest message came while a person owned the chat (answering_latest_message)."""

    def name(self) -> str:
        return "action_hand_back"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
                recording: Recording) -> list[dict[str, Any]]:
        if tracker.is_paused():
            # Asked for a person after the handoff was marked returned: a new handoff is queued.
            logger.info("hand back of %s: queued for a person again meanwhile; the bot stays silent", tracker.sender_id)
            return []
        stage = _stage(tracker)
        follow_up = handoff_store().config.follow_up(stage)
        if follow_up:
            dispatcher.utter_message(text=follow_up)
        replies = runtime.services().replies
        send(dispatcher, replies.choose("ask_csat_score", stage, tracker.get_latest_input_channel(), {}))
        return [
            SlotSet(CSAT_SLOT, None),
            ActiveLoop(CSAT_FORM),
            SlotSet("requested_slot", CSAT_SLOT),
            ActionExecuted("action_listen"),
        ]
