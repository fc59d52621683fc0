"""Stage- and channel-aware replies, configured in YAML (data/business/replies.yml).

Each answer has a default and optional variants for a stage, a channel, or both.
The most specific variant wins: stage+channel, then stage, then channel, then default.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from journey_state.config_files import BusinessConfigError as BusinessConfigError
from journey_state.config_files import check_placeholders, config_error, read_yaml


REQUIRED_ANSWERS = ("fallback", "technical_problem")


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class _Variant:
    stage: str | None
    channel: str | None
    reply: Reply

    @property
    def specificity(self) -> int:
        return (2 if self.stage else 0) + (1 if self.channel else 0)


class _SafeFacts(dict):
    def __missing__(self, key):  # an unknown placeholder stays visible instead of crashing
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
        )


def _parse_reply(raw: Any, source: str, key: str) -> Reply:
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, Mapping):
        raise config_error(source, key, "expected text or a mapping with text and buttons")
    unknown = set(raw) - {"text", "buttons", "stage", "channel"}
    if unknown:
        raise config_error(source, f"{key}.{sorted(unknown)[0]}", "unknown key")
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise config_error(source, f"{key}.text", "required text is missing or empty")
    check_placeholders(text, source, f"{key}.text")
    buttons = []
    raw_buttons = raw.get("buttons", []) or []
    if not isinstance(raw_buttons, list):
        raise config_error(source, f"{key}.buttons", "expected a list")
    for i, b in enumerate(raw_buttons):
        if not isinstance(b, Mapping) or not isinstance(b.get("title"), str) or not isinstance(b.get("payload"), str):
            raise config_error(source, f"{key}.buttons[{i}]", "a button needs a title and a payload (both text)")
        check_placeholders(b["title"], source, f"{key}.buttons[{i}].title")
        buttons.append(Button(b["title"], b["payload"]))
    return Reply(text.strip(), tuple(buttons))


def parse_replies(data: Any, source: str, known_stages: Iterable[str], facts: Mapping[str, str]) -> ReplyBook:
    known = sorted(set(known_stages))
    if not isinstance(data, Mapping) or not isinstance(data.get("replies"), Mapping):
        raise config_error(source, "replies", "expected a mapping of answer ids to replies")
    answers: dict[str, tuple[_Variant, ...]] = {}
    for answer_id, spec in data["replies"].items():
        key = f"replies.{answer_id}"
        if not isinstance(spec, Mapping):
            raise config_error(source, key, "expected a mapping with a default and optional variants")
        unknown = set(spec) - {"default", "variants"}
        if unknown:
            raise config_error(source, f"{key}.{sorted(unknown)[0]}", "unknown key (use default, variants)")
        if "default" not in spec:
            raise config_error(source, f"{key}.default", "every answer needs a default variant")
        variants = [_Variant(None, None, _parse_reply(spec["default"], source, f"{key}.default"))]
        raw_variants = spec.get("variants", []) or []
        if not isinstance(raw_variants, list):
            raise config_error(source, f"{key}.variants", "expected a list")
        seen = set()
        for i, raw in enumerate(raw_variants):
            vkey = f"{key}.variants[{i}]"
            if not isinstance(raw, Mapping):
                raise config_error(source, vkey, "expected a mapping")
            stage, channel = raw.get("stage"), raw.get("channel")
            if stage is None and channel is None:
                raise config_error(source, vkey, "a variant needs a stage, a channel or both")
            if stage is not None and stage not in known:
                raise config_error(source, f"{vkey}.stage", f"unknown stage {stage!r} (stages: {', '.join(known)})")
            if channel is not None and (not isinstance(channel, str) or not channel):
                raise config_error(source, f"{vkey}.channel", "must be a channel name")
            if (stage, channel) in seen:
                raise config_error(source, vkey, f"duplicate variant for stage={stage} channel={channel}")
            seen.add((stage, channel))
            variants.append(_Variant(stage, channel, _parse_reply(raw, source, vkey)))
        answers[str(answer_id)] = tuple(variants)
    for required in REQUIRED_ANSWERS:
        if required not in answers:
            raise config_error(source, f"replies.{required}", "this answer is required")
    return ReplyBook(answers, facts)


def load_facts(path: Path) -> dict[str, str]:
    """Business facts (name, prices...) used as {placeholders} in replies."""
    data = read_yaml(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("facts"), Mapping):
        raise config_error(str(path), "facts", "expected a mapping of names to values")
    facts = {}
    for name, value in data["facts"].items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise config_error(str(path), f"facts.{name}", "must be text or a number")
        facts[str(name)] = str(value)
    return facts


def load_replies(business_dir: str | Path, known_stages: Iterable[str]) -> ReplyBook:
    business_dir = Path(business_dir)
    facts = load_facts(business_dir / "business.yml")
    path = business_dir / "replies.yml"
    return parse_replies(read_yaml(path), str(path), known_stages, facts)
