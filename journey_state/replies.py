"""Stage- and channel-aware replies, configured in YAML (data/business/replies.yml).

Each answer has a default and optional variants for a stage, a channel, or both.
The most specific variant wins: stage+channel, then stage, then channel, then default.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, root_validator, validator

from journey_state.config_files import BusinessConfigError as BusinessConfigError
from journey_state.config_files import (
    KeyProblem,
    StrictModel,
    config_error,
    placeholder_problem,
    read_yaml,
    validate,
)

REQUIRED_ANSWERS = ("fallback", "technical_problem")


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


# What a declared yes/no may lead to besides another answer: a form's own repair rules
# answer it ("form"), or it starts a flow that is not a plain answer.
FLOW_STARTS = frozenset({"form", "contact_human_agent", "track_order", "cancel_order", "change_order", "get_refund", "track_refund", "review"})


@dataclass(frozen=True)
class Reply:
    """One bubble. A reply that asks a yes/no question declares what "yes" and "no" mean (answer ids)."""

    text: str
    buttons: tuple[Button, ...] = ()
    on_affirm: str | None = None
    on_deny: str | None = None

    @property
    def asks(self) -> bool:
        return self.text.rstrip().endswith("?")


def buttons_last(replies: Sequence[Reply]) -> tuple[Reply, ...]:
    """The replies with every button on the last bubble.

    Web chat shows only the last message's buttons, and an offer or referral prompt appended
    after a question would hide the question's choices; moving the buttons keeps them visible
    on every channel, and the question still comes first.
    """
    if len(replies) < 2 or not any(r.buttons for r in replies[:-1]):
        return tuple(replies)
    buttons = tuple(b for r in replies for b in r.buttons)
    # What a yes/no means stays with the question's own bubble.
    return (*(replace(r, buttons=()) for r in replies[:-1]), replace(replies[-1], buttons=buttons))


@dataclass(frozen=True)
class _Variant:
    stage: str | None
    channel: str | None
    reply: Reply

    @property
    def specificity(self) -> int:
        return (2 if self.stage else 0) + (1 if self.channel else 0)


class _SafeFacts(dict[str, Any]):
    def __missing__(self, key: str) -> str:  # an unknown placeholder stays visible instead of crashing
        return "{" + key + "}"


class ReplyBook:
    """All configured answers, ready to pick a variant for a stage and channel."""

    def __init__(self, answers: Mapping[str, tuple[_Variant, ...]], facts: Mapping[str, str]):
        self._answers = dict(answers)
        self._facts = _SafeFacts(facts)

    def has(self, answer_id: str) -> bool:
        return answer_id in self._answers

    @property
    def answer_ids(self) -> frozenset[str]:
        return frozenset(self._answers)

    def choose(self, answer_id: str, stage: str | None, channel: str | None, values: Mapping[str, Any] | None = None) -> Reply:
        """The best variant for the stage and channel, with facts and `values` filled in."""
        variants = self._answers[answer_id]
        candidates = [
            v
            for v in variants
            if (v.stage is None or v.stage == stage) and (v.channel is None or v.channel == channel)
        ]
        best = max(candidates, key=lambda v: v.specificity)  # the default always matches
        fill = _SafeFacts({**self._facts, **(values or {})}) if values else self._facts
        return Reply(
            text=best.reply.text.format_map(fill),
            buttons=tuple(Button(b.title.format_map(fill), b.payload) for b in best.reply.buttons),
            on_affirm=best.reply.on_affirm,
            on_deny=best.reply.on_deny,
        )


def _required_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("required text is missing or empty")
    problem = placeholder_problem(value)
    if problem:
        raise ValueError(problem)
    return value.strip()


def _buttons(value: Any) -> tuple[Button, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    buttons = []
    for i, b in enumerate(value):
        if not isinstance(b, Mapping) or not isinstance(b.get("title"), str) or not isinstance(b.get("payload"), str):
            raise KeyProblem([i], "a button needs a title and a payload (both text)")
        problem = placeholder_problem(b["title"])
        if problem:
            raise KeyProblem([i, "title"], problem)
        buttons.append(Button(b["title"], b["payload"]))
    return tuple(buttons)


class ReplyEntry(StrictModel):
    """An answer's default or one of its variants."""

    text: str = ""
    buttons: tuple[Any, ...] = ()  # Button objects, built by the validator
    stage: str | None = None
    channel: str | None = None

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return "unknown key"

    @validator("text", pre=True, always=True)
    def _text(cls, value: Any) -> str:
        return _required_text(value)

    @validator("buttons", pre=True)
    def _buttons(cls, value: Any) -> tuple[Button, ...]:
        return _buttons(value or [])

    @property
    def reply(self) -> Reply:
        return Reply(self.text, tuple(self.buttons))


def _variants(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    seen = set()
    for i, raw in enumerate(value):
        if not isinstance(raw, Mapping):
            raise KeyProblem([i], "expected a mapping")
        stage, channel = raw.get("stage"), raw.get("channel")
        if stage is None and channel is None:
            raise KeyProblem([i], "a variant needs a stage, a channel or both")
        if channel is not None and (not isinstance(channel, str) or not channel):
            raise KeyProblem([i, "channel"], "must be a channel name")
        if (stage, channel) in seen:
            raise KeyProblem([i], f"duplicate variant for stage={stage} channel={channel}")
        seen.add((stage, channel))
    return value


class AnswerEntry(StrictModel):
    default: ReplyEntry
    variants: list[ReplyEntry] = []
    # The answer ids a "yes" / "no" right after this answer stand for (every variant).
    on_affirm: str | None = None
    on_deny: str | None = None

    required_keys: ClassVar[Mapping[str, str]] = {"default": "every answer needs a default variant"}

    @validator("default", pre=True)
    def _default(cls, value: Any) -> Any:
        value = {"text": value} if isinstance(value, str) else value
        if not isinstance(value, Mapping):
            raise ValueError("expected text or a mapping with text and buttons")
        return value

    @validator("variants", pre=True)
    def _variants(cls, value: Any) -> list[Any]:
        return _variants(value or [])


class RepliesFile(BaseModel):
    """replies.yml as written; `parse_replies` checks the stages it names. Other top-level keys are ignored, as before."""

    replies: dict[str, AnswerEntry]

    @root_validator(pre=True)
    def _replies_required(cls, values: Any) -> Any:
        # A missing key reaches the field validator as None and is refused in the same words as a wrong value.
        return {"replies": None, **values}

    @validator("replies", pre=True)
    def _answers(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping of answer ids to replies")
        for answer_id, spec in value.items():
            if not isinstance(spec, Mapping):
                raise KeyProblem([str(answer_id)], "expected a mapping with a default and optional variants")
        return value

    @root_validator(skip_on_failure=True)
    def _required_answers(cls, values: dict[str, Any]) -> dict[str, Any]:
        for required in REQUIRED_ANSWERS:
            if required not in values["replies"]:
                raise KeyProblem(["replies", required], "this answer is required")
        return values


def parse_replies(data: Any, source: str, known_stages: Iterable[str], facts: Mapping[str, str]) -> ReplyBook:
    known = sorted(set(known_stages))
    raw = validate(RepliesFile, data if isinstance(data, Mapping) else {}, source)
    answers: dict[str, tuple[_Variant, ...]] = {}
    for answer_id, spec in raw.replies.items():
        for i, variant in enumerate(spec.variants):
            if variant.stage is not None and variant.stage not in known:
                raise config_error(source, f"replies.{answer_id}.variants[{i}].stage",
                                   f"unknown stage {variant.stage!r} (stages: {', '.join(known)})")
        for key in ("on_affirm", "on_deny"):
            target = getattr(spec, key)
            if target is not None and target not in raw.replies and target not in FLOW_STARTS:
                raise config_error(source, f"replies.{answer_id}.{key}", f"unknown answer {target!r} (an answer id of this file, or one of {', '.join(sorted(FLOW_STARTS))})")

        def declared(reply: Reply, spec: AnswerEntry = spec) -> Reply:
            return Reply(reply.text, reply.buttons, spec.on_affirm, spec.on_deny)

        answers[answer_id] = (
            _Variant(None, None, declared(spec.default.reply)),
            *(_Variant(v.stage, v.channel, declared(v.reply)) for v in spec.variants),
        )
    return ReplyBook(answers, facts)


def _fact(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError("must be text or a number")
    return str(value)


class BusinessFile(BaseModel):
    """business.yml: facts used as {placeholders} in replies and offers; other top-level keys are ignored, as before."""

    facts: dict[str, str]

    @root_validator(pre=True)
    def _facts_required(cls, values: Any) -> Any:
        # A missing key reaches the field validator as None and is refused in the same words as a wrong value.
        return {"facts": None, **values}

    @validator("facts", pre=True)
    def _facts(cls, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping of names to values")
        facts = {}
        for name, fact in value.items():
            try:
                facts[str(name)] = _fact(fact)
            except ValueError as exc:
                raise KeyProblem([str(name)], str(exc)) from None
        return facts


def load_facts(path: Path) -> dict[str, str]:
    """Business facts (name, prices...) used as {placeholders} in replies."""
    data = read_yaml(path)
    return dict(validate(BusinessFile, data if isinstance(data, Mapping) else {}, path).facts)


def load_replies(business_dir: str | Path, known_stages: Iterable[str]) -> ReplyBook:
    business_dir = Path(business_dir)
    facts = load_facts(business_dir / "business.yml")
    path = business_dir / "replies.yml"
    return parse_replies(read_yaml(path), str(path), known_stages, facts)
