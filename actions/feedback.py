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
from actions.tracker_reading import turn_from_tracker
from actions.turns import JourneyAction, JourneyFormValidation, Recording
from journey_state.errors import StoreUnavailable
from journey_state.feedback import InvalidScore, parse_csat, parse_nps
from journey_state.store.feedback_records import FeedbackOutcome
from journey_state.store.referral_records import NotAnAdvocate

logger = logging.getLogger(__name__)
SKIP_WORDS = frozenset({"skip", "no", "nope", "no thanks", "nothing", "-", "n/a", "none"})


def _say(dispatcher: CollectingDispatcher, tracker: Tracker, answer_id: str, **values: str) -> None:
    reply = runtime.services().replies.choose(answer_id, tracker.get_slot("journey_stage"), tracker.get_latest_input_channel(), values)
    send(dispatcher, reply)


def _validate_score(
    kind: str, parse: Callable[[Any], int], value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
) -> dict[str, float | None]:
    slot = f"{kind}_score"
    try:
        return {slot: float(parse(value))}
    except InvalidScore as exc:
        _say(dispatcher, tracker, f"{kind}_invalid", problem=str(exc))
        return {slot: None}


class ValidateNpsForm(JourneyFormValidation):
    def name(self) -> str:
        return "validate_nps_form"

    def validate_nps_score(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        return _validate_score("nps", parse_nps, value, dispatcher, tracker)

    def validate_nps_reason(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        text = str(value or "").strip()[:1000]
        return {"nps_reason": "" if text.lower().strip(".! ") in SKIP_WORDS else text}


class ValidateCsatForm(JourneyFormValidation):
    def name(self) -> str:
        return "validate_csat_form"

    def validate_csat_score(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict:
        return _validate_score("csat", parse_csat, value, dispatcher, tracker)


class _Ask(JourneyAction):
    # A form's first question answers the message that started it ("I want to leave a
    # review"); no validation runs for that message, so the ask is what records its turn.
    answer_id = ""

    def name(self) -> str:
        return f"action_{self.answer_id}"

    def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, recording: Recording) -> list[dict]:
        _say(dispatcher, tracker, self.answer_id)
        return []


class ActionAskNpsScore(_Ask):
    answer_id = "ask_nps_score"


class ActionAskNpsReason(_Ask):
    answer_id = "ask_nps_reason"


class ActionAskCsatScore(_Ask):
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
