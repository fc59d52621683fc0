"""Human handoff actions: queue the conversation for a person and pause the bot.

- action_handoff: the customer asked for a person; always hands off.
- action_handoff_check: runs after the normal answer; hands off only if a trigger in
  data/business/handoff.yml fires (angry complaint, repeated fallbacks, high-value question).
- pending_trigger / hand_off_for / hand_off_if_triggered: the same check from the answering actions themselves
  (action_journey_turn, action_start_order_request), so a trigger that may fire on any
  intent (strong anger) is not limited to the intents whose rules run action_handoff_check.

Both tell the customer their place in the queue and the wait estimate, then return
ConversationPaused: Rasa keeps logging the customer's messages but predicts nothing until
the console resumes the conversation.
"""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.dispatch import send
from actions.tracker_reading import turn_from_tracker
from actions.turns import JourneyAction, Recording
from journey_state.conversation import Turn
from journey_state.errors import StoreUnavailable
from journey_state.handoff import CUSTOMER_REQUEST, MessageFacts, message, trigger_for
from journey_state.store.handoffs import HandoffStore

logger = logging.getLogger(__name__)

def handoff_store() -> HandoffStore:
    """The handoff store over the action server's journey store."""
    return runtime.services().handoffs


def _hand_off(dispatcher: CollectingDispatcher, turn: Turn, trigger: str, context: str = "") -> list[dict[str, Any]]:
    """Queue the conversation for a person, tell the customer their place, and pause the bot."""
    handoffs = handoff_store()
    # Context first: the reason is cut at the store's limit, and the customer's text may be long.
    reason = f"[{context}] {turn.text}" if context else turn.text
    try:
        outcome = handoffs.open(turn.who, trigger, reason=reason)
    except StoreUnavailable as exc:
        logger.error("could not queue a handoff: %s", exc)
        dispatcher.utter_message(text=handoffs.config.text("unavailable", turn.channel))
        return []
    place = outcome.place
    message_id = "queued" if outcome.created or place.position == 0 else "already_queued"
    if place.position == 0:
        # An agent owns it, yet Rasa ran this action, so the conversation is not paused: the
        # agent is handing it back right now (resumed, not yet marked returned) or taking it
        # over (the console pauses it next). Pausing here would leave it paused after the hand
        # back with nobody on it, for good; the channel tells the customer to try again.
        logger.info("handoff %s is with %s and the bot is not paused: not pausing again", place.handoff.id, place.handoff.agent)
        return []
    dispatcher.utter_message(text=message(handoffs.config, message_id, place.position, place.wait, turn.channel))
    logger.info("handoff %s (%s) for %s/%s, priority %s", place.handoff.id, trigger, turn.channel, turn.sender_id, place.handoff.priority)
    return [ConversationPaused()]


def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, trigger: str, context: str = "") -> list[dict[str, Any]]:
    """Hand off for `trigger` now, whatever the configured triggers say (a sale the chat cannot close, a form's request).

    `context` joins the reason on the agent's card. Never raises, like hand_off_if_triggered:
    the answer already sent must reach the customer.
    """
    try:
        return _hand_off(dispatcher, turn_from_tracker(tracker), trigger, context)
    except Exception:  # logged; the customer keeps the bot's answer
        logger.exception("handoff (%s) failed for %s", trigger, tracker.sender_id)
        return []


def message_facts(tracker: Tracker, stage: str | None) -> MessageFacts:
    """What the handoff rules look at in the tracker's latest message, asked in `stage`."""
    turn = turn_from_tracker(tracker)
    emotion = (tracker.latest_message or {}).get("emotion")
    scores = emotion.get("scores") if isinstance(emotion, dict) else None
    # A message the bot asks "Did you mean ...?" about is not yet a miss (see tracker_reading).
    intent = None if turn.candidates else turn.intent
    return MessageFacts(intent, turn.emotion, stage, tuple(turn.recent_intents), scores if isinstance(scores, dict) else None)


def pending_trigger(tracker: Tracker, stage: str | None) -> str | None:
    """The handoff trigger the latest message fires, asked in `stage`; None if none (or the check failed, logged)."""
    try:
        return trigger_for(handoff_store().config, message_facts(tracker, stage))
    except Exception:  # logged; the customer keeps the bot's answer
        logger.exception("handoff check failed for %s", tracker.sender_id)
        return None


def hand_off_for(dispatcher: CollectingDispatcher, tracker: Tracker, trigger: str | None) -> list[dict[str, Any]]:
    """Hand off for a trigger already decided (see pending_trigger); [] for None.

    Never raises: an action calling this has already answered, and that answer must still
    reach the customer.
    """
    if trigger is None:
        return []
    try:
        return _hand_off(dispatcher, turn_from_tracker(tracker), trigger)
    except Exception:  # logged; the customer keeps the bot's answer
        logger.exception("handoff failed for %s", tracker.sender_id)
        return []


def hand_off_if_triggered(dispatcher: CollectingDispatcher, tracker: Tracker, stage: str | None) -> list[dict[str, Any]]:
    """Hand off (queue message + ConversationPaused) if a trigger fires for the latest message; else [].

    `stage` is the contact's stage when they wrote. Never raises (see hand_off_for).
    """
    return hand_off_for(dispatcher, tracker, pending_trigger(tracker, stage))


class ActionHandoff(JourneyAction):
    def name(self) -> str:
        return "action_handoff"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        facts = message_facts(tracker, recording.stage)
        turn = turn_from_tracker(tracker)
        if turn.emotion in ("angry", "sad"):
            # "get me a manager NOW, this is ridiculous!!!": an apology first, then the queue.
            send(dispatcher, runtime.services().replies.choose("handoff_apology", recording.stage, turn.channel))
        return _hand_off(dispatcher, turn, trigger_for(handoff_store().config, facts) or CUSTOMER_REQUEST)


class ActionHandoffCheck(JourneyAction):
    def name(self) -> str:
        return "action_handoff_check"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        # The answer before this action recorded the turn (recording again is a no-op). A
        # high-value question is judged by the stage the customer asked it in, so the
        # message that moves someone into purchase does not itself call in a person.
        stage = recording.turn.previous_stage if recording.turn else tracker.get_slot("journey_stage")
        return hand_off_if_triggered(dispatcher, tracker, stage)
