"""One conversation turn: record it as a journey signal, then compose the stage-appropriate answer.

The answer is the configured reply for the intent, chosen for the stage the customer was
in when they asked, plus what the journey adds: an eligible offer, a referral prompt for
advocates, the points balance, or, after repeated misunderstandings, an offer of a person.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from journey_state.checkout.answer import CheckoutFlow
from journey_state.engine import Signal, Source, Transition
from journey_state.errors import ContactNotFound
from journey_state.identifiers import ChannelRef
from journey_state.offers import Offer
from journey_state.referrals import InvalidReferralCode, find_code
from journey_state.replies import Reply, ReplyBook
from journey_state.store import JourneyStore, Touch
from journey_state.store.programs import ProgramsStore
from journey_state.store.referral_records import NotAnAdvocate, ReferralError

logger = logging.getLogger(__name__)

FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# Questions where a relevant offer helps the customer decide.
OFFER_INTENTS = frozenset({"ask_pricing", "ask_offers", "compare_products", "ask_features", "product_info", "ask_payment_plans"})
# Friendly moments where an advocate may be invited to refer a friend.
REFERRAL_PROMPT_INTENTS = frozenset({"thanks", "goodbye", "greet"})
FALLBACKS_BEFORE_HUMAN = 2


@dataclass(frozen=True)
class Turn:
    """What the bot knows about one user message."""

    channel: str
    sender_id: str
    message_id: str
    text: str
    intent: str | None
    confidence: float
    at: datetime
    emotion: str | None = None
    recent_intents: Sequence[str] = ()  # this conversation's earlier user intents, oldest first
    products: Sequence[str] = ()  # catalog product ids the message names (entity `product`)

    @property
    def who(self) -> ChannelRef:
        return ChannelRef(self.channel, self.sender_id)


@dataclass(frozen=True)
class RecordedTurn:
    """A turn applied to the journey. `previous_stage` is the stage the customer wrote in: answers are chosen for it."""

    contact_id: str
    stage: str
    previous_stage: str
    transitions: tuple[Transition, ...]


@dataclass(frozen=True)
class TurnResult:
    contact_id: str
    stage: str
    previous_stage: str
    transitions: tuple[Transition, ...]
    answer_id: str
    replies: tuple[Reply, ...]
    offer: Offer | None = None
    escalate: bool = False  # the customer should be offered (or handed to) a person
    values: dict[str, Any] = field(default_factory=dict)
    sale_needs_person: bool = False  # a purchase the chat cannot close: hand it to a person (high value)

    @property
    def reply(self) -> Reply:
        return self.replies[0]


def consecutive_fallbacks(recent_intents: Sequence[str], current: str | None) -> int:
    """How many messages in a row, ending with this one, were not understood."""
    count = 0
    for intent in [*recent_intents, current][::-1]:
        if intent not in FALLBACK_INTENTS:
            break
        count += 1
    return count


class Conversation:
    """Records turns in the journey store and answers them for the contact's stage."""

    def __init__(self, store: JourneyStore, replies: ReplyBook, programs: ProgramsStore | None = None,
                 checkout: CheckoutFlow | None = None):
        self.store = store
        self.replies = replies
        self.programs = programs
        self.checkout = checkout

    def record(self, turn: Turn) -> RecordedTurn:
        """Apply the turn's signal (idempotent per message id)."""
        understood = turn.intent if turn.intent not in FALLBACK_INTENTS else None
        signal = Signal(
            id=f"msg:{turn.message_id}",
            source=Source.CONVERSATION,
            at=turn.at,
            intent=understood,
            emotion=turn.emotion,
            confidence=turn.confidence,
            excerpt=turn.text,
        )
        touch = Touch(turn.channel, turn.message_id, turn.intent, turn.confidence, turn.emotion, turn.text)
        outcome = self.store.record_signal(turn.who, signal, touch)
        change = next((t for t in outcome.transitions if t.kind == "stage"), None)
        previous = change.from_value if change else outcome.state.stage
        if outcome.duplicate:
            # A retried action: answer for the stage the message was first answered in.
            first = self._first_stage_change(outcome.contact_uid, signal.id)
            previous = first.get("from", previous) if first else previous
        return RecordedTurn(outcome.contact_uid, outcome.state.stage, previous, outcome.transitions)

    def _first_stage_change(self, contact_uid: str, signal_id: str) -> dict[str, Any] | None:
        transitions: list[dict[str, Any]] = self.store.contact(contact_uid)["transitions"]
        for t in transitions:
            if t["kind"] == "stage" and t["evidence"]["signal_id"] == signal_id:
                return t
        return None

    def choose(self, answer_id: str, stage: str, channel: str, **values: Any) -> Reply:
        return self.replies.choose(answer_id, stage, channel, values)

    def handle(self, turn: Turn, recorded: RecordedTurn | None = None) -> TurnResult:
        """Answer the turn; it is recorded first unless the caller passes what recording it gave."""
        recorded = recorded or self.record(turn)
        contact_id, previous = recorded.contact_id, recorded.previous_stage
        intent = turn.intent
        extra: list[Reply] = []
        values: dict[str, Any] = {}
        offer = None
        escalate = False

        if not any(ch.isalnum() for ch in turn.text):
            # Empty or emoji-only: nothing to answer, but the emotion is worth acknowledging.
            answer_id = "no_words_negative" if turn.emotion in ("angry", "sad") else "no_words"
        elif intent in FALLBACK_INTENTS:
            fallbacks = consecutive_fallbacks(turn.recent_intents, intent)
            escalate = fallbacks >= FALLBACKS_BEFORE_HUMAN
            answer_id = "fallback_offer_human" if escalate else ("out_of_scope" if intent == "out_of_scope" else "fallback")
        elif intent is not None and self.replies.has(intent):
            answer_id = intent
        else:
            answer_id = "fallback"

        sale_needs_person = False
        step = self.checkout.answer(turn.who, intent, turn.products, turn.at) if self.checkout and answer_id == intent else None
        if step is not None:
            answer_id, sale_needs_person = step.answer_id, step.hand_off

        if self.programs is not None and answer_id not in ("no_words", "no_words_negative"):
            answer_id, values, extra, offer = self._journey_extras(self.programs, turn, contact_id, previous, answer_id)
        if step is not None:
            values = {**step.values, **values}

        reply = self.choose(answer_id, previous, turn.channel, **values)
        return TurnResult(
            contact_id=contact_id,
            stage=recorded.stage,
            previous_stage=previous,
            transitions=recorded.transitions,
            answer_id=answer_id,
            replies=(reply, *extra),
            offer=offer,
            escalate=escalate or intent == "contact_human_agent" or sale_needs_person,
            values=values,
            sale_needs_person=sale_needs_person,
        )

    def _journey_extras(
        self, programs: ProgramsStore, turn: Turn, contact_id: str, stage: str, answer_id: str
    ) -> tuple[str, dict[str, Any], list[Reply], Offer | None]:
        """Points, referral codes and offers that depend on the contact's history."""
        values: dict[str, Any] = {}
        extra: list[Reply] = []
        offer = None
        intent = turn.intent
        try:
            if intent == "loyalty_points":
                summary = programs.points(contact_id)
                values["points"] = summary.balance
                answer_id = "loyalty_balance" if summary.balance > 0 else "loyalty_points"
            elif intent == "use_referral_code":
                answer_id = self._use_code(programs, turn, contact_id, values)
            elif intent == "refer_friend" or (intent in REFERRAL_PROMPT_INTENTS and programs.is_advocate(contact_id)):
                try:
                    issued = programs.issue_referral_code(contact_id)
                except NotAnAdvocate:
                    pass
                else:
                    values["referral_code"] = issued.code
                    if intent == "refer_friend":
                        answer_id = "referral_code"
                    elif issued.new:  # invite once, not at every greeting
                        extra.append(self.choose("referral_prompt", stage, turn.channel, referral_code=issued.code))
            if intent in OFFER_INTENTS:
                offer = programs.present_offer(contact_id, turn.channel, at=turn.at)
                if offer is not None:
                    extra.append(Reply(offer.text))
        except ContactNotFound:  # erased while talking; answer without extras
            logger.warning("contact %s vanished during a turn", contact_id)
        return answer_id, values, extra, offer

    def _use_code(self, programs: ProgramsStore, turn: Turn, contact_id: str, values: dict[str, Any]) -> str:
        code = find_code(turn.text, programs.referrals.code)
        if code is None:
            return "referral_code_missing"
        try:
            outcome = programs.attribute_referral(contact_id, code, at=turn.at)
        except (InvalidReferralCode, ReferralError) as exc:
            values["problem"] = str(exc)
            return "referral_code_rejected"
        values["points"] = outcome.referred_points
        return "referral_welcome"
