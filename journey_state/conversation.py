"""One conversation turn: record it as a journey signal, then compose the stage-appropriate answer.

The answer is the configured reply for the intent, chosen for the stage the customer was
in when they asked, plus what the journey adds: an eligible offer, a referral prompt for
advocates, the points balance, or, after repeated misunderstandings, an offer of a person.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from journey_state.catalog import Catalog
from journey_state.checkout.answer import CheckoutFlow
from journey_state.delivery import DELIVERY_INTENT, PLACE_DELIVERY_INTENTS, DeliveryDesk
from journey_state.engine import Signal, Source, Transition
from journey_state.errors import ContactNotFound
from journey_state.identifiers import ChannelRef
from journey_state.offers import Offer
from journey_state.referrals import InvalidReferralCode, find_code
from journey_state.replies import Button, Reply, ReplyBook, buttons_last
from journey_state.store import JourneyStore, Touch
from journey_state.store.programs import ProgramsStore
from journey_state.store.referral_records import NotAnAdvocate, ReferralError
from journey_state.understanding import BY_MODEL, DEFAULT_RULES, FOLLOW_UP, UnderstandingRules

logger = logging.getLogger(__name__)

FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# Questions where a relevant offer helps the customer decide.
OFFER_INTENTS = frozenset({"ask_pricing", "ask_offers", "compare_products", "ask_features", "product_info", "ask_payment_plans"})
# Friendly moments where an advocate may be invited to refer a friend.
REFERRAL_PROMPT_INTENTS = frozenset({"thanks", "goodbye", "greet"})
FALLBACKS_BEFORE_HUMAN = 2
DELIVERY_INTENTS = frozenset({DELIVERY_INTENT, *PLACE_DELIVERY_INTENTS})
# The answer for each way a referral code can be refused (journey_state.store.referral_records).
REFERRAL_REFUSALS = {"SelfReferral": "referral_code_own", "AlreadyReferred": "referral_code_used", "UnknownReferralCode": "referral_code_unknown"}
# Answers about one product, for a follow-up that names or points back at it ("and the basic one?").
PRODUCT_ANSWERS = {"ask_pricing": "product_price", "ask_features": "product_details", "product_info": "product_details",
                   "compare_products": "product_details"}
# When a person takes over, these answers would only contradict or delay the handoff message.
SILENT_BEFORE_HANDOFF = frozenset({"fallback", "out_of_scope", "clarify", "contact_human_agent"})


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
    recent_intents: Sequence[str] = ()  # what this conversation's earlier messages counted as, oldest first
    # `intent` is what the message counts as (journey_state.understanding); these say why.
    nlu_intent: str | None = None  # the model's own label
    understood_by: str = BY_MODEL
    candidates: tuple[str, ...] = ()  # ask "Did you mean ...?" with these intents
    product: str | None = None  # the catalog product the message is about, named or resolved
    answer: str | None = None  # the answer a yes/no to the bot's own question declared
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

    def __init__(
        self, store: JourneyStore, replies: ReplyBook, programs: ProgramsStore | None = None,
        understanding: UnderstandingRules = DEFAULT_RULES, catalog: Catalog | None = None, delivery: DeliveryDesk | None = None,
        checkout: CheckoutFlow | None = None,
    ):
        self.store = store
        self.replies = replies
        self.programs = programs
        self.understanding = understanding
        self.catalog = catalog
        self.delivery = delivery
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

    def handle(self, turn: Turn, recorded: RecordedTurn | None = None, handing_off: bool = False) -> TurnResult:
        """Answer the turn; it is recorded first unless the caller passes what recording it gave.

        `handing_off`: a handoff trigger fires for this message, so a person takes over next.
        An angry customer then hears an apology first; a not-understood line or a promise to
        connect them is left out (the queue message says it), and no offer is appended.
        """
        recorded = recorded or self.record(turn)
        contact_id, previous = recorded.contact_id, recorded.previous_stage
        intent = turn.intent
        extra: list[Reply] = []
        values: dict[str, Any] = {}
        offer = None
        escalate = False

        if turn.answer is not None and self.replies.has(turn.answer):
            answer_id = turn.answer
        elif not any(ch.isalnum() for ch in turn.text):
            # Empty or emoji-only: nothing to answer, but the emotion is worth acknowledging.
            answer_id = "no_words_negative" if turn.emotion in ("angry", "sad") else "no_words"
        elif turn.candidates and self.replies.has("clarify"):
            # Asking is not a miss yet; "Something else" is (tracker_reading looks through this turn).
            answer_id = "clarify"
        elif intent in FALLBACK_INTENTS:
            fallbacks = consecutive_fallbacks(turn.recent_intents, intent)
            escalate = fallbacks >= FALLBACKS_BEFORE_HUMAN
            answer_id = "fallback_offer_human" if escalate else ("out_of_scope" if intent == "out_of_scope" else "fallback")
        elif intent is not None and self.replies.has(intent):
            answer_id = intent
            values.update(self._product_values(turn))
            if values and self.replies.has(PRODUCT_ANSWERS.get(intent, "")):
                answer_id = PRODUCT_ANSWERS[intent]
        else:
            answer_id = "fallback"

        if handing_off:
            angry = turn.emotion in ("angry", "sad") and self.replies.has("handoff_apology")
            if angry:
                answer_id = "handoff_apology"
            elif answer_id in SILENT_BEFORE_HANDOFF:
                return TurnResult(contact_id, recorded.stage, previous, recorded.transitions, answer_id, (), None, True, values)

        sale_needs_person = False
        # The products the message names, or the one it points back at ("I'd like to buy it").
        products = tuple(turn.products) or ((turn.product,) if turn.product else ())
        step = self.checkout.answer(turn.who, intent, products, turn.at) if self.checkout and answer_id == intent and not handing_off else None
        if step is not None:
            answer_id, sale_needs_person = step.answer_id, step.hand_off

        if not handing_off and self.programs is not None and answer_id not in ("no_words", "no_words_negative"):
            answer_id, values, extra, offer = self._journey_extras(self.programs, turn, contact_id, previous, answer_id, values)
        if step is not None:
            values = {**step.values, **values}

        if self.delivery is not None and not handing_off and turn.answer is None and answer_id not in ("no_words", "no_words_negative"):
            # A delivery question naming a place, or a bare place after one: answered for that place.
            # "do u ship to vienna" may be clarified between two delivery intents: the place answers it.
            asked_about = next((c for c in turn.candidates if c in DELIVERY_INTENTS), intent) if answer_id == "clarify" else intent
            delivery = self.delivery.answer_turn(asked_about, turn.text, turn.recent_intents, turn.confidence)
            if delivery is not None and delivery.answer_id == "delivery_place_unknown" and turn.emotion in ("angry", "sad"):
                delivery = None  # an upset message with no place in it is not a delivery question
            if delivery is not None:
                answer_id, escalate = delivery.answer_id, False
                values.update(delivery.values)

        reply = self.choose(answer_id, previous, turn.channel, **values)
        if answer_id == "clarify":
            reply = self._clarification(reply, turn.candidates)
        return TurnResult(
            contact_id=contact_id,
            stage=recorded.stage,
            previous_stage=previous,
            transitions=recorded.transitions,
            answer_id=answer_id,
            replies=buttons_last((reply, *extra)),
            offer=offer,
            escalate=escalate or intent == "contact_human_agent" or handing_off or sale_needs_person,
            values=values,
            sale_needs_person=sale_needs_person,
        )

    def _product_values(self, turn: Turn) -> dict[str, Any]:
        """The product a follow-up is about, as reply placeholders; {} if it is not such a follow-up."""
        if turn.understood_by != FOLLOW_UP or not turn.product or self.catalog is None or not self.catalog.has_product(turn.product):
            return {}
        product = self.catalog.product(turn.product)
        return {"product_name": product.name, "product_price": product.price_text, "product_description": product.description}

    def _clarification(self, reply: Reply, candidates: Sequence[str]) -> Reply:
        """"Did you mean ...?" with one button per candidate intent, before the reply's own ("Something else")."""
        titles = self.understanding.titles
        choices = tuple(Button(titles[c], f"/{c}") for c in candidates if c in titles)
        return replace(reply, buttons=(*choices, *reply.buttons))

    def _journey_extras(
        self, programs: ProgramsStore, turn: Turn, contact_id: str, stage: str, answer_id: str, values: dict[str, Any]
    ) -> tuple[str, dict[str, Any], list[Reply], Offer | None]:
        """Points, referral codes and offers that depend on the contact's history."""
        values = dict(values)
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
        except InvalidReferralCode as exc:  # written for customers: "'x' is not a referral code; codes look like …"
            values["problem"] = str(exc)
            return "referral_code_rejected"
        except ReferralError as exc:
            # The store's messages name contacts by id: for the log, never for the customer.
            logger.info("referral code %s refused for %s: %s", code, contact_id, exc)
            return REFERRAL_REFUSALS.get(type(exc).__name__, "referral_code_unknown")
        values["points"] = outcome.referred_points
        return "referral_welcome"
