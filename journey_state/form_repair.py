"""What a customer's message means while a form waits for an answer (conversation repair).

Rasa Open Source 3.6 fills a form's requested slot from any text, so without this every
message inside a form ("never mind", "how much is premium?", "I want a person") is read as a
bad answer and the same question comes back: the customer is trapped. Rasa Pro's CALM
names the repair patterns (cancel, correction, digression, clarification, human handoff,
skip); this module decides which one a message is, from facts the adapter reads off the
tracker, so the rule is the same for every form and is unit-tested without Rasa.

Wording lists are small and anchored on purpose: they only decide between repair moves
for a message that did *not* contain a valid answer, so a wrong match costs one polite
question, never a stored value.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

# Intents that never count as a change of topic inside a form: chit-chat and "not
# understood" are handled as answers to the question that was asked.
NOT_DIGRESSIONS = frozenset(
    {"affirm", "deny", "thanks", "greet", "bot_challenge", "out_of_scope", "nlu_fallback", "give_score", "review"}
)
HUMAN_INTENT = "contact_human_agent"
# Below this the model's intent is a guess: the message is treated as an attempt to answer.
DIGRESSION_MIN_CONFIDENCE = 0.45
HUMAN_MIN_CONFIDENCE = 0.5
DENY_MIN_CONFIDENCE = 0.6
# A free-text answer (the NPS reason) is a statement; only a confident question digresses.
FREE_TEXT_DIGRESSION_MIN_CONFIDENCE = 0.6
# Invalid answers to one question before the bot changes its approach / stops asking.
INVALID_BEFORE_HELP = 2
INVALID_BEFORE_GIVING_UP = 3

_WS = re.compile(r"\s+")
_CANCEL = re.compile(
    r"^(?:(?:ok|okay|oh|ah|um+|hmm+|sorry|actually|no|nah|wait|please|pls)[\s,.!]+)*"
    r"(?:never ?mind|nvm|forget (?:it|that|about it)|stop(?: it| that| asking)?|cancel(?: that| this| it)?|quit|exit|"
    r"leave it|drop it|not now|no thanks|no thank you|don'?t bother|skip (?:it|that|this)|abort|i changed my mind|"
    r"changed my mind)"
    r"(?:[\s,.!]+(?:please|pls|thanks|thank you|then|for now|i'?ll do it later|it'?s fine|its fine))*[\s.!]*$"
)
_HUMAN = re.compile(
    r"\b(?:(?:real|actual|live) (?:person|human|agent)|human(?: being)?|person|someone real|somebody real|agent|"
    r"representative|rep|manager|supervisor|operator|customer service|staff|team member)\b"
)
_HUMAN_VERB = re.compile(r"\b(?:talk|speak|chat|get|want|need|connect|transfer|put me through|give me|let me|call)\b")
_DONT_KNOW = re.compile(
    r"\b(?:(?:i )?(?:don'?t|do not|dont|dunno|didn'?t|did not) (?:know|have|remember|recall|get|see|keep)|dunno|no idea|"
    r"not sure|can'?t (?:find|remember|see|locate)|cannot (?:find|remember|see|locate)|lost (?:it|my|the)|forgot|"
    r"where (?:do i|can i|would i) find|where is (?:it|my order number)|what is (?:an?|my) order number)\b"
)
_SKIP = re.compile(
    r"^(?:skip(?: it| that| this)?|no|nope|nah|no thanks|no thank you|nothing|none|n/?a|-|pass|rather not|"
    r"i'?d rather not|no comment|not really|nothing (?:really|special|much)|next)[\s.!]*$"
)
_CORRECTION = re.compile(
    r"^(?:(?:sorry|oops|no|wait|actually|correction|my bad|typo)[\s,.!:-]+)*(?:i meant|i mean|meant|make (?:it|that)|"
    r"change (?:it|that) to|it'?s|it should be|should be|actually)\b"
)
_QUESTION_START = re.compile(
    r"^(?:and |but |also |oh |ok |okay |actually |wait |sorry )*(?:how|what|whats|what's|where|when|why|which|who|"
    r"can|could|do|does|did|is|are|will|would|should|may|tell me|i want|i'd like|id like|i need)\b"
)


class Move(str, Enum):
    ANSWER = "answer"
    CORRECTION = "correction"  # a value for a slot the customer answered earlier
    CANCEL = "cancel"
    HUMAN = "human"
    DIGRESSION = "digression"
    DONT_KNOW = "dont_know"
    SKIP = "skip"
    INVALID = "invalid"


@dataclass(frozen=True)
class FormSpec:
    """A form as the repair rules see it."""

    name: str
    slots: tuple[str, ...]
    optional: frozenset[str] = frozenset()
    free_text: frozenset[str] = frozenset()  # any words are an answer (the NPS reason)
    # Intents that restate the form's own task ("where's my order?" while asked for its
    # number): another try at the question, not a change of topic.
    own_intents: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FormMessage:
    """The facts about the customer's message that the rules need.

    `values` holds the valid values the adapter found in the message, per slot of the form
    (an order number anywhere in "sorry, I meant AUR-10043"); invalid text is not a value.
    """

    text: str
    intent: str | None
    confidence: float
    values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    move: Move
    slot: str | None = None  # the slot answered or corrected
    intent: str | None = None  # the digression's intent

    @property
    def ends_form(self) -> bool:
        return self.move in (Move.CANCEL, Move.HUMAN, Move.DIGRESSION)


def normalise(text: str) -> str:
    """Lower case, curly apostrophes straightened, spaces collapsed: what the wording rules match."""
    return _WS.sub(" ", text.replace("\u2019", "'").replace("\u2018", "'").lower()).strip()


def asks_for_person(text: str) -> bool:
    """'I want to talk to a real person', 'get me a manager NOW': a person is named and asked for."""
    words = normalise(text)
    return bool(_HUMAN.search(words)) and (bool(_HUMAN_VERB.search(words)) or len(words.split()) <= 3)


def is_cancel(text: str) -> bool:
    return bool(_CANCEL.match(normalise(text)))


def is_dont_know(text: str) -> bool:
    return bool(_DONT_KNOW.search(normalise(text)))


def is_skip(text: str) -> bool:
    return bool(_SKIP.match(normalise(text)))


def is_correction(text: str) -> bool:
    """'sorry, I meant 9', 'make that 8': a short message that replaces an earlier answer."""
    words = normalise(text)
    return len(words.split()) <= 8 and bool(_CORRECTION.match(words))


def looks_like_question(text: str) -> bool:
    words = normalise(text)
    return words.endswith("?") or bool(_QUESTION_START.match(words))


def decide(form: FormSpec, requested: str, message: FormMessage) -> Decision:
    """The repair move for `message`, sent while `form` asks for `requested`.

    Order matters: a valid answer always wins (a customer who writes "cancel order
    AUR-10042" in the order form has answered), then the ways out (a person, skip,
    cancel), not knowing, then a correction of an earlier answer, a change of topic.
    """
    free_text = requested in form.free_text
    if requested in message.values:
        return Decision(Move.ANSWER, slot=requested)
    text = message.text
    if (message.intent == HUMAN_INTENT and message.confidence >= HUMAN_MIN_CONFIDENCE) or asks_for_person(text):
        return Decision(Move.HUMAN)
    optional = requested in form.optional
    if optional and is_skip(text):
        return Decision(Move.SKIP, slot=requested)
    # Before corrections: "cancel that" reads to the model as a cancel_order request.
    if is_cancel(text) or (message.intent == "deny" and message.confidence >= DENY_MIN_CONFIDENCE and not optional):
        return Decision(Move.CANCEL)
    # Before corrections too: "I don't know my order number" reads as a track_order request.
    if is_dont_know(text):
        return Decision(Move.SKIP if optional else Move.DONT_KNOW, slot=requested)
    corrected = next((s for s in form.slots if s != requested and s in message.values), None)
    if corrected is not None:
        return Decision(Move.CORRECTION, slot=corrected)
    intent = message.intent
    if intent and intent not in NOT_DIGRESSIONS and intent not in form.own_intents:
        threshold = FREE_TEXT_DIGRESSION_MIN_CONFIDENCE if free_text else DIGRESSION_MIN_CONFIDENCE
        if message.confidence >= threshold and (not free_text or looks_like_question(text)):
            return Decision(Move.DIGRESSION, intent=intent)
    if free_text and text.strip():
        return Decision(Move.ANSWER, slot=requested)
    return Decision(Move.INVALID, slot=requested)


def shorten(text: str, limit: int) -> str | None:
    """`text` cut at a word boundary to at most `limit` characters (plus "…"); None if no boundary fits.

    A quote or a stored answer cut mid-word reads as if the bot misread the customer; a
    caller with None rephrases without quoting.
    """
    flat = _WS.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit + 1]
    space = cut.rfind(" ")
    if space < limit // 2:
        return None
    return cut[:space].rstrip(" ,.;:!?-") + "…"
