"""NPS and CSAT answers: parsing free text or button payloads, and what they mean for the journey.

Pure: no I/O. `parse_score("nps", "10/10")` gives 10; an answer that is not a valid score
raises `InvalidScore`, whose message says what is expected, so the bot can ask again.

Every answer becomes a journey signal with an `event` named after its category, which
journey models match like any other event (see data/journeys/):

    NPS  9-10 nps_promoter   7-8 nps_passive    0-6 nps_detractor
    CSAT 4-5  csat_high      3   csat_neutral   1-2 csat_low

so a promoter can move a contact into advocacy and a detractor or a low CSAT can flag
them at risk, with the feedback as evidence.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from journey_state.engine import Signal, Source

NPS, CSAT = "nps", "csat"
KINDS = (NPS, CSAT)
RANGES = {NPS: (0, 10), CSAT: (1, 5)}
EXPECTED = {
    NPS: "a whole number from 0 (not at all likely) to 10 (extremely likely), e.g. 8 or 9/10",
    CSAT: "a rating from 1 (very dissatisfied) to 5 (very satisfied), e.g. 4, 4/5 or ⭐⭐⭐⭐",
}
PROMOTER_MIN, DETRACTOR_MAX = 9, 6
CSAT_LOW_MAX, CSAT_HIGH_MIN = 2, 4
MAX_ANSWER = 500
EXCERPT = 160

_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}
_STARS = "⭐★🌟"
_INVISIBLE = dict.fromkeys(map(ord, "\ufe0f\ufe0e\u20e3\u200d"), None)  # emoji variation selectors, keycap
_PAYLOAD = re.compile(r"^/([A-Za-z0-9_\-]+)\s*(\{.*\})?\s*$", re.DOTALL)
_PAYLOAD_KEYS = ("score", "value", "rating")
# A number standing on its own: "9", "I'd say 8", "(9)"; not glued to letters ("abc9", "9am").
_NUMBER = r"(?<![^\W\d_])(?:(?<![\w.,])-)?\d+(?:[.,]\d+)?(?![^\W\d_])"
# Characters no score answer has; in a reply they mean code or markup, whatever digits it holds.
_MARKUP = re.compile(r"[<>=&{}\[\]\\|^~`$%#@_]")
_FRACTION = re.compile(rf"({_NUMBER})\s*(?:/|\bout\s+of\b|\bof\b)\s*(\d+)")
_LONE_NUMBER = re.compile(_NUMBER)
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b")
# "one" is a number only on its own, in a fraction, or before "star(s)": "this one is great" is not a 1.
_ONE_AS_NUMBER = re.compile(r"^\W*one\W*$|\bone(?=\s*(?:/|out\s+of\b|of\b|stars?\b))")


class InvalidScore(ValueError):
    """An answer that is not a valid NPS or CSAT score; the message says what is expected."""

    def __init__(self, kind: str, answer: Any, problem: str):
        self.kind = kind
        self.answer = answer
        self.problem = problem
        self.expected = EXPECTED[kind]
        super().__init__(f"{problem}; expected {self.expected}")


@dataclass(frozen=True)
class Score:
    """A valid answer: NPS 0-10 or CSAT 1-5."""

    kind: str
    value: int

    def __post_init__(self) -> None:
        check_score(self.kind, self.value)

    @property
    def category(self) -> str:
        if self.kind == NPS:
            return "promoter" if self.value >= PROMOTER_MIN else "detractor" if self.value <= DETRACTOR_MAX else "passive"
        return "high" if self.value >= CSAT_HIGH_MIN else "low" if self.value <= CSAT_LOW_MAX else "neutral"

    @property
    def event(self) -> str:
        """The signal event, e.g. nps_promoter or csat_low."""
        return f"{self.kind}_{self.category}"

    @property
    def label(self) -> str:
        return f"NPS {self.value}/10" if self.kind == NPS else f"CSAT {self.value}/5"


FEEDBACK_EVENTS = frozenset(
    f"{kind}_{category}"
    for kind, categories in ((NPS, ("promoter", "passive", "detractor")), (CSAT, ("high", "neutral", "low")))
    for category in categories
)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown feedback kind {kind!r} (use {', '.join(KINDS)})")
    return kind


def check_score(kind: str, value: Any) -> int:
    """`value` if it is a whole number in the kind's range, else InvalidScore."""
    _kind(kind)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidScore(kind, value, f"{value!r} is not a whole number")
    low, high = RANGES[kind]
    if not low <= value <= high:
        raise InvalidScore(kind, value, f"{value} is out of range")
    return value


def parse_score(kind: str, answer: Any) -> int:
    """The score in a button payload ('/rate{"score": 9}'), a number, or free text ('nine', '10/10', '⭐⭐⭐⭐')."""
    _kind(kind)
    try:
        return _parse(kind, answer)
    except InvalidScore as exc:
        if exc.answer is answer:
            raise
        raise InvalidScore(kind, answer, exc.problem) from None


def _parse(kind: str, answer: Any) -> int:
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return check_score(kind, answer)
    if not isinstance(answer, str):
        raise InvalidScore(kind, answer, f"{answer!r} is not an answer")
    text = unicodedata.normalize("NFKC", answer).translate(_INVISIBLE).replace("🔟", " 10 ").strip()
    if len(text) > MAX_ANSWER:
        raise InvalidScore(kind, answer, "the answer is too long to be a score")
    payload = _PAYLOAD.match(text)
    if payload:
        return _from_payload(kind, answer, payload.group(1), payload.group(2))
    return _from_text(kind, answer, text.lower())


def parse_nps(answer: Any) -> int:
    return parse_score(NPS, answer)


def parse_csat(answer: Any) -> int:
    return parse_score(CSAT, answer)


def _from_payload(kind: str, answer: str, intent: str, entities: str | None) -> int:
    if entities is None:  # e.g. /nps_9: the score is in the intent name
        return _from_text(kind, answer, intent.replace("_", " ").replace("-", " ").lower())
    try:
        data = json.loads(entities)
    except ValueError:
        raise InvalidScore(kind, answer, f"malformed button payload {answer.strip()[:60]!r}") from None
    if not isinstance(data, dict):
        raise InvalidScore(kind, answer, f"button payload {answer.strip()[:60]!r} holds no score")
    for key in (*_PAYLOAD_KEYS, kind):
        if key in data:
            value = data[key]
            break
    else:
        if len(data) != 1:
            raise InvalidScore(kind, answer, f"button payload {answer.strip()[:60]!r} holds no score")
        (value,) = data.values()
    if isinstance(value, str):
        return _from_text(kind, answer, unicodedata.normalize("NFKC", value).translate(_INVISIBLE).strip().lower())
    return check_score(kind, value)


def _from_text(kind: str, answer: str, text: str) -> int:
    shown = answer.strip()[:60] if isinstance(answer, str) else answer
    low, high = RANGES[kind]
    stars = sum(text.count(ch) for ch in _STARS)
    if kind == NPS and (stars or re.search(r"\bstars?\b", text)):
        raise InvalidScore(kind, answer, f"{shown!r} is a star rating, not a 0-10 score")

    if _MARKUP.search(text):
        raise InvalidScore(kind, answer, f"{shown!r} does not look like a score")

    text = _ONE_AS_NUMBER.sub(" 1", text)
    text = _WORD.sub(lambda m: " one " if m.group(1) == "one" else f" {_WORDS[m.group(1)]} ", text)

    values: list[str] = []

    def fraction(m: re.Match[str]) -> str:
        if int(m.group(2)) != high:
            raise InvalidScore(kind, answer, f"{m.group(1)}/{m.group(2)} is a score out of {m.group(2)}, not out of {high}")
        values.append(m.group(1))
        return " "

    text = _FRACTION.sub(fraction, text)
    values.extend(_LONE_NUMBER.findall(text))
    if not values and stars:
        return check_score(kind, stars)
    if not values:
        raise InvalidScore(kind, answer, f"no score found in {shown!r}")
    distinct = sorted(set(values), key=values.index)
    if len(distinct) > 1:
        raise InvalidScore(kind, answer, f"{shown!r} holds several numbers ({', '.join(distinct)}); answer with just one")
    number = distinct[0]
    if not re.fullmatch(r"-?\d+", number):
        raise InvalidScore(kind, answer, f"{number} is not a whole number")
    value = int(number)
    if not low <= value <= high:
        raise InvalidScore(kind, answer, f"{value} is out of range")
    return value


def score(kind: str, answer: Any) -> Score:
    """Parse and wrap: Score(kind, value)."""
    return Score(kind, parse_score(kind, answer))


def feedback_signal(
    answer: Score,
    signal_id: str,
    at: datetime,
    source: Source = Source.CONVERSATION,
    comment: str = "",
) -> Signal:
    """The journey signal for a feedback answer: event `nps_promoter`, `csat_low`, ..."""
    excerpt = f"{answer.label}: {comment.strip()}" if comment and comment.strip() else answer.label
    return Signal(
        id=signal_id,
        source=source,
        at=at,
        event=answer.event,
        confidence=1.0,
        excerpt=excerpt[:EXCERPT],
    )
