"""NPS and CSAT forms: ask, validate (re-ask on bad answers), store as feedback that feeds the journey."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import runtime
from actions.dispatch import send
from actions.form_repair import FormAsk, RepairingFormValidation
from actions.tracker_reading import turn_from_tracker
from actions.turns import JourneyAction, Recording
from journey_state.errors import StoreUnavailable
from journey_state.feedback import InvalidScore, parse_csat, parse_nps
from journey_state.form_repair import NOT_DIGRESSIONS, FormSpec, is_correction, looks_like_question
from journey_state.store.feedback_records import FeedbackOutcome
from journey_state.store.referral_records import NotAnAdvocate

logger = logging.getLogger(__name__)

NPS_FORM = FormSpec(name="nps_form", slots=("nps_score", "nps_reason"), optional=frozenset({"nps_reason"}), free_text=frozenset({"nps_reason"}))
CSAT_FORM = FormSpec(name="csat_form", slots=("csat_score",))
# A number inside a confident question ("do you have 2 plans?") is not a score.
QUESTION_MIN_CONFIDENCE = 0.6


def _say(dispatcher: CollectingDispatcher, tracker: Tracker, answer_id: str, **values: str) -> None:
    reply = runtime.services().replies.choose(answer_id, tracker.get_slot("journey_stage"), tracker.get_latest_input_channel(), values)
    send(dispatcher, reply)


def _score_in(tracker: Tracker, parse: Callable[[Any], int]) -> float | None:
    latest = tracker.latest_message or {}
    text = str(latest.get("text") or "")
    intent = latest.get("intent") or {}
    if (
        looks_like_question(text)
        and intent.get("name") not in NOT_DIGRESSIONS
        and float(intent.get("confidence") or 0) >= QUESTION_MIN_CONFIDENCE
    ):
        return None
    try:
        return float(parse(text))
    except InvalidScore:
        return None


def _checked(slot: str, parse: Callable[[Any], int], value: Any) -> dict[str, float | None]:
    try:
        return {slot: float(parse(value))}
    except InvalidScore:
        return {slot: None}


class ValidateNpsForm(RepairingFormValidation):
    form = NPS_FORM

    def values_in(self, tracker: Tracker) -> dict[str, object]:
        text = str((tracker.latest_message or {}).get("text") or "")
        # At the reason, only "sorry, I meant 9" is a score; "the 2 bags were late" is a reason.
        if tracker.get_slot("requested_slot") != "nps_score" and not is_correction(text):
            return {}
        score = _score_in(tracker, parse_nps)
        return {} if score is None else {"nps_score": score}

    def give_up(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        _say(dispatcher, tracker, "form_gave_up_feedback")

    def validate_nps_score(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        return _checked("nps_score", parse_nps, value)


class ValidateCsatForm(RepairingFormValidation):
    form = CSAT_FORM

    def values_in(self, tracker: Tracker) -> dict[str, object]:
        score = _score_in(tracker, parse_csat)
        return {} if score is None else {"csat_score": score}

    def give_up(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        _say(dispatcher, tracker, "form_gave_up_feedback")

    def validate_csat_score(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        return _checked("csat_score", parse_csat, value)


class ActionAskNpsScore(FormAsk):
    # A form's first question answers the message that started it ("I want to leave a
    # review"); no validation runs for that message, so the ask is what records its turn.
    def name(self) -> str:
        return "action_ask_nps_score"

    answer_id = "ask_nps_score"


class ActionAskNpsReason(FormAsk):
    def name(self) -> str:
        return "action_ask_nps_reason"

    answer_id = "ask_nps_reason"


class ActionAskCsatScore(FormAsk):
    def name(self) -> str:
        return "action_ask_csat_score"

    answer_id = "ask_csat_score"


def _store_feedback(tracker: Tracker, kind: str, score: float, comment: str | None) -> FeedbackOutcome:
    turn = turn_from_tracker(tracker)
    return runtime.services().programs.record_feedback(
        turn.who, kind, int(score), reference=turn.message_id, comment=comment or None, channel=turn.channel, at=turn.at
    )


class ActionSubmitNps(JourneyAction):
    def name(self) -> str:
        return "action_submit_nps"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        score, reason = tracker.get_slot("nps_score"), tracker.get_slot("nps_reason")
        reset = [SlotSet("nps_score", None), SlotSet("nps_reason", None)]
        if score is None:
            return reset
        try:
            outcome = _store_feedback(tracker, "nps", score, reason)
        except StoreUnavailable as exc:
            logger.error("could not store NPS: %s", exc)
            _say(dispatcher, tracker, "technical_problem")
            return reset
        _say(dispatcher, tracker, f"nps_thanks_{outcome.score.category}")
        if outcome.score.category == "promoter":
            try:
                issued = runtime.services().programs.issue_referral_code(outcome.contact_uid)
                _say(dispatcher, tracker, "referral_prompt", referral_code=issued.code)
            except NotAnAdvocate:
                pass
        return [*reset, SlotSet("journey_stage", outcome.signal.state.stage)]


class ActionSubmitCsat(JourneyAction):
    def name(self) -> str:
        return "action_submit_csat"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        score = tracker.get_slot("csat_score")
        if score is None:
            return [SlotSet("csat_score", None)]
        try:
            outcome = _store_feedback(tracker, "csat", score, None)
        except StoreUnavailable as exc:
            logger.error("could not store CSAT: %s", exc)
            _say(dispatcher, tracker, "technical_problem")
            return [SlotSet("csat_score", None)]
        _say(dispatcher, tracker, "csat_thanks")
        return [SlotSet("csat_score", None), SlotSet("journey_stage", outcome.signal.state.stage)]
