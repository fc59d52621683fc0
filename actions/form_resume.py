"""Resuming a form after a digression: "Shall we get back to your order?" answered yes or no.

The form's answers so far are stashed in one slot when the customer changes topic, and the
form's own slots are cleared, so nothing half-filled can leak into a later form or be
submitted. Yes restores them and restarts the form where it was; no drops them. The offer
only holds for the message right after it: a "yes" three questions later means something else.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.dispatch import send

STASH_SLOT = "interrupted_form"


def user_turns(tracker: Tracker) -> int:
    return sum(1 for e in tracker.events if e.get("event") == "user")


def task_name(tracker: Tracker, form: str) -> str:
    """How the replies name the form's task ("your order"), from data/business/replies.yml."""
    replies = runtime.services().replies
    answer_id = f"task_{form}"
    if not replies.has(answer_id):
        return "where we were"
    return replies.choose(answer_id, tracker.get_slot("journey_stage"), tracker.get_latest_input_channel()).text


def stash(tracker: Tracker, form: str, answers: dict[str, Any]) -> dict[str, Any]:
    """The event that remembers the form's answers for an offer to resume, made in this turn."""
    return SlotSet(STASH_SLOT, {"form": form, "answers": answers, "user_turn": user_turns(tracker)})


def _pending(tracker: Tracker) -> dict[str, Any] | None:
    value = tracker.get_slot(STASH_SLOT)
    if not isinstance(value, dict) or not isinstance(value.get("form"), str):
        return None
    if value.get("user_turn") != user_turns(tracker) - 1:  # not the message right after the offer
        return None
    answers = value.get("answers")
    return {"form": value["form"], "answers": answers if isinstance(answers, dict) else {}}


def answer_offer(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]] | None:
    """Events answering the resume offer, or None when the message does not answer one."""
    pending = _pending(tracker)
    if pending is None:
        return None
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    clear = [SlotSet(STASH_SLOT, None)]
    if intent == "affirm":
        restored = [SlotSet(slot, value) for slot, value in pending["answers"].items()]
        return [*clear, *restored, FollowupAction(pending["form"])]
    if intent == "deny":
        reply = runtime.services().replies.choose(
            "form_dropped", tracker.get_slot("journey_stage"), tracker.get_latest_input_channel(), {"task": task_name(tracker, pending["form"])}
        )
        send(dispatcher, reply)
        return clear
    return None
