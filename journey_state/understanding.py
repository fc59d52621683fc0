"""What a customer message means in this conversation, beyond the NLU model's top intent.

The model scores one utterance on its own. A good agent also asks when unsure ("Did you
mean ...?"), does not take "ok" as agreement when nothing was asked, hears "get me a manager"
as a request for a person however the model files it, and reads "and the basic one?" against
what was just discussed. `understand` applies those rules to one message; the thresholds,
button titles and wordings are configuration (data/business/understanding.yml, optional).
Pure: no database, no Rasa.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import root_validator, validator

from journey_state.config_files import KeyProblem, StrictModel, read_yaml, validate

UNDERSTANDING_FILE = "understanding.yml"
TITLE_MAX = 20
NOT_UNDERSTOOD = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
HUMAN = "contact_human_agent"
# What the model may say that is never a candidate for "Did you mean ...?".
NOT_CANDIDATES = frozenset({NOT_UNDERSTOOD, OUT_OF_SCOPE})
# Chit-chat that only counts when the model is sure and the bot's last turn invites it.
CHITCHAT = ("thanks", "affirm", "deny")

# Why a message means what `understand` says it means (stored nowhere; tests and logs read it).
BY_MODEL = "model"
CLARIFY = "clarify"
GATED_CHITCHAT = "chitchat_gated"
BY_WORDING = "wording"
FOLLOW_UP = "follow_up"
TOO_UNSURE = "too_unsure"
ANGRY_UNCLEAR = "angry_unclear"


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"must be a number from 0 to 1, got {value!r}")
    return float(value)


def _phrases(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("must be a list of non-empty texts")
    return tuple(v.strip().lower() for v in value)


class FollowUpRules(StrictModel):
    """How short follow-ups ("and the basic one?", "what about delivery?") are read."""

    # A message opening with one of these continues the last topic.
    openers: tuple[str, ...] = ("and", "what about", "how about", "and what about", "also", "what of")
    # Words that point back at the last product discussed.
    pronouns: tuple[str, ...] = ("it", "that", "this", "that one", "this one", "them")
    # Topics a follow-up may continue or name ("what about delivery?"); each with its words.
    topics: Mapping[str, tuple[str, ...]] = {
        "ask_pricing": ("price", "prices", "cost", "costs", "how much", "pricing"),
        "ask_features": ("included", "include", "includes", "features", "what do i get", "in it"),
        "delivery_options": ("delivery", "deliver", "shipping", "ship"),
        "ask_payment_plans": ("yearly", "annual", "pay monthly", "payment plan"),
        "check_cancellation_fee": ("cancellation fee", "cancel fee"),
    }
    # Topics whose answer can be about one product.
    product_topics: tuple[str, ...] = ("ask_pricing", "ask_features", "product_info", "compare_products")
    # At most this many words: a follow-up is short.
    max_words: int = 8

    _openers = validator("openers", "pronouns", pre=True, allow_reuse=True)(_phrases)

    @validator("topics", pre=True)
    def _topics(cls, value: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, Mapping):
            raise ValueError("must map intents to lists of words")
        return {str(k): _phrases(v) for k, v in value.items()}

    @validator("max_words")
    def _words(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value


class UnderstandingRules(StrictModel):
    """data/business/understanding.yml."""

    # The model's top intent is taken as is from this confidence, if no other is within `margin`.
    accept_confidence: float = 0.5
    # Below this the message is simply not understood; from here to accept, the bot asks.
    clarify_confidence: float = 0.15
    # ... and no other intent within this of it (Rasa's FallbackClassifier ambiguity_threshold).
    ambiguity: float = 0.05
    # Candidates for "Did you mean ...?" score at least this and within `margin` of the top one.
    candidate_confidence: float = 0.1
    margin: float = 0.2
    max_candidates: int = 3
    # Intents offered as "Did you mean ...?" buttons, with their titles; others are never offered.
    titles: Mapping[str, str] = {}
    # Chit-chat the model must be this sure of, and that the bot's last turn must make plausible.
    chitchat_confidence: float = 0.7
    # Wordings that ask for a person whatever the model says (whole words, any case).
    escalation_phrases: tuple[str, ...] = (
        "manager", "supervisor", "someone real", "somebody real", "real person", "real human",
        "speak to a person", "talk to a person", "speak to a human", "talk to a human", "your boss",
    )
    # Below this confidence, an escalation wording wins over any intent; out of scope, a
    # fallback, chit-chat and complaints always yield to it.
    escalation_over_confidence: float = 0.9
    # An angry message the bot cannot place is a complaint (and the complaint rules, such as
    # handing off an angry complaint, apply), never "that's outside what I can help with".
    angry_unclear_as: str | None = "complaint"
    follow_ups: FollowUpRules = FollowUpRules()

    _fractions = validator(
        "accept_confidence", "clarify_confidence", "candidate_confidence", "margin", "ambiguity", "chitchat_confidence",
        "escalation_over_confidence", pre=True, allow_reuse=True,
    )(_fraction)
    _escalation = validator("escalation_phrases", pre=True, allow_reuse=True)(_phrases)

    @validator("max_candidates")
    def _candidates(cls, value: int) -> int:
        if not 1 <= value <= 3:
            raise ValueError("must be 1, 2 or 3 (a message shows at most three choices plus 'Something else')")
        return value

    @validator("titles", pre=True)
    def _titles(cls, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping) or not all(isinstance(t, str) and t.strip() for t in value.values()):
            raise ValueError("must map intents to button titles")
        for intent, title in value.items():
            if len(title.strip()) > TITLE_MAX:
                # WhatsApp cuts reply-button titles at 20 characters, mid-word.
                raise KeyProblem([str(intent)], f"at most {TITLE_MAX} characters, got {len(title.strip())}")
        return {str(k): v.strip() for k, v in value.items()}

    @root_validator(skip_on_failure=True)
    def _ordered(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values["clarify_confidence"] > values["accept_confidence"]:
            raise ValueError("clarify_confidence must not be above accept_confidence")
        return values


DEFAULT_RULES = UnderstandingRules()


def load_understanding(business_dir: str | Path) -> UnderstandingRules:
    """The rules in `business_dir`/understanding.yml, or the defaults when there is no such file."""
    path = Path(business_dir) / UNDERSTANDING_FILE
    if not path.exists():
        return DEFAULT_RULES
    return validate(UnderstandingRules, read_yaml(path) or {}, path)


@dataclass(frozen=True)
class Parse:
    """What the NLU model said about one message."""

    text: str
    intent: str | None
    confidence: float = 0.0
    ranking: Sequence[tuple[str, float]] = ()  # every intent with its confidence, best first
    products: Sequence[str] = ()  # product ids named in the message
    emotion: str | None = None  # bot/nlu/emotion.py's label


@dataclass(frozen=True)
class Context:
    """What the conversation before the message makes plausible."""

    bot_asked: bool = False  # the bot's last turn asked a question or offered buttons
    bot_answered: bool = False  # the bot said something since the customer's previous message
    last_product: str | None = None
    last_topic: str | None = None


@dataclass(frozen=True)
class Understanding:
    """What the message counts as: `intent` is what the journey records and answers."""

    intent: str | None
    reason: str = BY_MODEL
    candidates: tuple[str, ...] = ()  # "Did you mean ...?" choices (reason CLARIFY)
    product: str | None = None  # the product the message is about, named or resolved

    @property
    def understood(self) -> bool:
        return self.intent not in (NOT_UNDERSTOOD, OUT_OF_SCOPE, None)


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _has_phrase(normal: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z0-9']){re.escape(phrase)}(?![a-z0-9'])", normal) is not None


def asks_for_person(text: str, rules: UnderstandingRules) -> bool:
    """Whether the wording asks for a person ("get me a manager NOW", "someone real")."""
    normal = _normal(text)
    return any(_has_phrase(normal, phrase) for phrase in rules.escalation_phrases)


def resolve_follow_up(parse: Parse, context: Context, rules: FollowUpRules) -> Understanding | None:
    """The topic and product a short follow-up refers to, or None if it is not one.

    "and the basic one?" after Premium's price asks Basic's price; "how much is it?" asks
    the price of the last product; "what about delivery?" names a new topic.
    """
    normal = _normal(parse.text)
    words = normal.split()
    if not words or len(words) > rules.max_words:
        return None
    opens = any(normal == o or normal.startswith(o + " ") for o in rules.openers)
    points_back = not parse.products and any(_has_phrase(normal, p) for p in rules.pronouns)
    named_topic = next((t for t, ws in rules.topics.items() if any(_has_phrase(normal, w) for w in ws)), None)
    product = parse.products[0] if parse.products else (context.last_product if points_back or opens else None)
    if named_topic is not None and (opens or points_back):
        topic = named_topic
    elif opens and parse.products and context.last_topic in rules.product_topics:
        topic = context.last_topic
    elif points_back and named_topic is None and parse.intent in rules.product_topics and context.last_product:
        topic = parse.intent
    else:
        return None
    if topic not in rules.product_topics:
        product = None
    elif product is None:
        return None if context.last_product is None else Understanding(topic, FOLLOW_UP, product=context.last_product)
    return Understanding(topic, FOLLOW_UP, product=product)


def _ranked(parse: Parse) -> list[tuple[str, float]]:
    ranking = [(name, conf) for name, conf in parse.ranking if name != NOT_UNDERSTOOD]
    if not ranking and parse.intent and parse.intent != NOT_UNDERSTOOD:
        ranking = [(parse.intent, parse.confidence)]
    return sorted(ranking, key=lambda item: item[1], reverse=True)


def _chitchat_plausible(intent: str, context: Context) -> bool:
    if intent in ("affirm", "deny"):
        return context.bot_asked
    return context.bot_answered  # thanks


def understand(parse: Parse, context: Context, rules: UnderstandingRules = DEFAULT_RULES) -> Understanding:
    """What the message counts as in this conversation (see the module docstring)."""
    meant = _understand(parse, context, rules)
    worded = any(ch.isalnum() for ch in parse.text)
    if worded and not meant.understood and meant.reason != CLARIFY and parse.emotion == "angry" and rules.angry_unclear_as:
        return Understanding(rules.angry_unclear_as, ANGRY_UNCLEAR)
    return meant


def _understand(parse: Parse, context: Context, rules: UnderstandingRules) -> Understanding:
    product = parse.products[0] if parse.products else None
    if not any(ch.isalnum() for ch in parse.text):
        # Emoji or nothing: Conversation answers these by their emotion alone (a gentle
        # prompt, an offer of a person), so there is nothing here to read into them.
        return Understanding(parse.intent, BY_MODEL)
    if parse.text.startswith("/"):
        # A button payload ("/ask_pricing", "/nlu_fallback" for "Something else"): Rasa
        # parsed it exactly; it is the customer's choice, not a guess.
        return Understanding(parse.intent, BY_MODEL, product=product)
    ranking = _ranked(parse)
    top, top_conf = ranking[0] if ranking else (None, 0.0)
    if asks_for_person(parse.text, rules) and top != HUMAN and (
        top_conf < rules.escalation_over_confidence or top in (*NOT_CANDIDATES, "complaint", *CHITCHAT)
        or parse.intent in NOT_CANDIDATES
    ):
        return Understanding(HUMAN, BY_WORDING)
    follow_up = resolve_follow_up(parse, context, rules.follow_ups)
    if follow_up is not None and (
        parse.intent in NOT_CANDIDATES or top_conf < rules.accept_confidence or parse.intent in rules.follow_ups.product_topics
    ):
        return follow_up
    if top in CHITCHAT:
        if top_conf >= rules.chitchat_confidence and _chitchat_plausible(top, context):
            return Understanding(top, BY_MODEL)
        return Understanding(NOT_UNDERSTOOD, GATED_CHITCHAT)
    runner_up = ranking[1][1] if len(ranking) > 1 else 0.0
    if top is not None and top_conf >= rules.accept_confidence and top_conf - runner_up >= rules.ambiguity:
        return Understanding(top, BY_MODEL, product=product)
    candidates = tuple(
        name for name, conf in ranking
        if name in rules.titles and name not in NOT_CANDIDATES and name not in CHITCHAT
        and conf >= rules.candidate_confidence and top_conf - conf <= rules.margin
    )[: rules.max_candidates]
    if top_conf >= rules.clarify_confidence and candidates:
        return Understanding(NOT_UNDERSTOOD, CLARIFY, candidates=candidates)
    if top == OUT_OF_SCOPE:
        return Understanding(OUT_OF_SCOPE, BY_MODEL)
    return Understanding(NOT_UNDERSTOOD, TOO_UNSURE)
