"""Journey models: ordered stages, signal rules, allowed regressions, side states.

A model is loaded from YAML (see data/journeys/) and validated; every error names
the file and the key that is wrong.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, root_validator, validator

from journey_state.config_files import KeyProblem, StrictModel, read_yaml, validate
from journey_state.errors import JourneyModelError

MATCH_KEYS = ("intents", "events", "emotions")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    description: str
    index: int


@dataclass(frozen=True)
class Match:
    """Conditions on a signal; keys are ANDed, the values of one key ORed."""

    intents: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    emotions: frozenset[str] = frozenset()

    def matches(self, intent: str | None, event: str | None, emotion: str | None) -> bool:
        checks = ((self.intents, intent), (self.events, event), (self.emotions, emotion))
        return all(value in allowed for allowed, value in checks if allowed)


@dataclass(frozen=True)
class SignalRule:
    rule: str
    to: str
    when: Match
    from_stage: str | None = None  # fires only once the contact has reached this stage


@dataclass(frozen=True)
class RegressionRule:
    """An allowed backward move: from one stage to an earlier one, on a matching signal."""

    rule: str
    from_stage: str
    to: str
    when: Match


@dataclass(frozen=True)
class AtRiskRule:
    from_stage: str
    when_any: tuple[Match, ...]
    clear_when_any: tuple[Match, ...]


@dataclass(frozen=True)
class JourneyModel:
    id: str
    label: str
    initial_stage: str
    stages: tuple[Stage, ...]
    signals: tuple[SignalRule, ...]
    regressions: tuple[RegressionRule, ...]
    at_risk: AtRiskRule | None
    dormant_after: timedelta | None
    source: str = field(default="<memory>", compare=False)
    # Conversation intents below this NLU confidence never move a contact between stages.
    min_intent_confidence: float = 0.0

    def stage(self, stage_id: str) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    @property
    def stage_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.stages)

    def has_stage(self, stage_id: str) -> bool:
        return stage_id in self.stage_ids

    def index(self, stage_id: str) -> int:
        return self.stage(stage_id).index

    def is_allowed_move(self, from_stage: str, to_stage: str) -> bool:
        """Forward moves are always allowed; backward ones only where a regression rule allows them."""
        if self.index(to_stage) >= self.index(from_stage):
            return True
        return any(r.from_stage == from_stage and r.to == to_stage for r in self.regressions)


def duration(value: Any) -> timedelta:
    """Parse '30d', '12h', '2w' (or a positive number of days); ValueError says what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"bad duration {value!r}; use e.g. '30d', '12h', '2w'")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"duration must be positive, got {value!r}")
        return timedelta(days=value)
    m = _DURATION.match(str(value))
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"bad duration {value!r}; use e.g. '30d', '12h', '2w'")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def parse_duration(value: Any, where: str) -> timedelta:
    """`duration(value)`, or a JourneyModelError naming `where` (file and key)."""
    try:
        return duration(value)
    except ValueError as exc:
        raise JourneyModelError(f"{where}: {exc}") from None


def _kind(value: Any) -> str:
    return type(value).__name__


def _mapping(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, got {_kind(value)}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {_kind(value)}")
    return value


def _mappings(value: Any) -> list[Any]:
    items = _list(value)
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise KeyProblem([i], f"expected a mapping, got {_kind(item)}")
    return items


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("required text is missing or empty")
    return value.strip()


def _identifier(value: Any) -> str:
    text = _text(value)
    if not _ID.match(text):
        raise ValueError(f"{text!r} is not a valid id (lower case letters, digits and _)")
    return text


class MatchEntry(StrictModel):
    """A `when:` condition; keys are ANDed, the values of one key ORed."""

    intents: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    emotions: tuple[str, ...] = ()

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return f"unknown condition {key!r} (use {', '.join(MATCH_KEYS)})"

    @classmethod
    def unknown_key_at(cls, key: str) -> list[int | str]:
        return []

    @validator("intents", "events", "emotions", pre=True)
    def _names(cls, value: Any) -> list[str]:
        items = _list(value)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise KeyProblem([i], "must be a non-empty name")
        return items

    @root_validator(skip_on_failure=True)
    def _not_empty(cls, values: dict[str, Any]) -> dict[str, Any]:
        if not any(values.values()):
            raise ValueError("a condition needs at least one of " + ", ".join(MATCH_KEYS))
        return values

    def match(self) -> Match:
        return Match(frozenset(self.intents), frozenset(self.events), frozenset(self.emotions))


class StageEntry(StrictModel):
    id: str = ""
    label: str = ""
    description: str | None = None

    @validator("id", pre=True, always=True)
    def _id(cls, value: Any) -> str:
        return _identifier(value)

    @validator("label", pre=True, always=True)
    def _label(cls, value: Any) -> str:
        return _text(value)

    @validator("description", pre=True)
    def _description(cls, value: Any) -> str | None:
        return None if value is None else _text(value)


class SignalEntry(StrictModel):
    rule: str = ""
    to: Any = None  # a stage id, checked against the model's stages
    when: MatchEntry | None = None
    from_stage: Any = None

    @validator("rule", pre=True, always=True)
    def _rule(cls, value: Any) -> str:
        return _identifier(value)

    @validator("when", pre=True, always=True)
    def _when(cls, value: Any) -> Any:
        return _mapping(value)


class RegressionEntry(StrictModel):
    rule: str = ""
    from_: Any = Field(None, alias="from")
    to: Any = None
    when: MatchEntry | None = None

    _rule = validator("rule", pre=True, always=True, allow_reuse=True)(_identifier)
    _when = validator("when", pre=True, always=True, allow_reuse=True)(_mapping)


class AtRiskEntry(StrictModel):
    missing_as_none = ("when_any",)

    from_stage: Any = None
    when_any: list[MatchEntry] = []
    clear_when_any: list[MatchEntry] = []

    @validator("when_any", pre=True)
    def _when_any(cls, value: Any) -> list[Any]:
        return _mappings(value)

    @validator("clear_when_any", pre=True)
    def _clear_when_any(cls, value: Any) -> list[Any]:
        return _mappings(value)


class DormantEntry(StrictModel):
    after: timedelta = timedelta(0)

    @validator("after", pre=True, always=True)
    def _after(cls, value: Any) -> timedelta:
        return duration(value)


class SideStatesEntry(StrictModel):
    at_risk: AtRiskEntry | None = None
    dormant: DormantEntry | None = None

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return f"unknown side state (use {', '.join(allowed)})"

    @validator("at_risk", "dormant", pre=True)
    def _sections(cls, value: Any) -> Any:
        return None if value is None else _mapping(value)


class ModelFile(StrictModel):
    """A journey model file as written; `parse_model` checks how its rules and stages fit together."""

    missing_as_none = ("stages",)

    id: str = ""
    label: str = ""
    initial_stage: Any = None
    stages: list[StageEntry] = []
    signals: list[SignalEntry] = []
    regressions: list[RegressionEntry] = []
    side_states: SideStatesEntry = SideStatesEntry()
    min_intent_confidence: float = 0.0

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return "unknown key"

    _id = validator("id", pre=True, always=True, allow_reuse=True)(_identifier)
    _label = validator("label", pre=True, always=True, allow_reuse=True)(_text)

    @validator("stages", pre=True)
    def _stages(cls, value: Any) -> list[Any]:
        return _mappings(value)

    @validator("stages")
    def _distinct_stages(cls, value: list[StageEntry]) -> list[StageEntry]:
        for i, stage in enumerate(value):
            if any(s.id == stage.id for s in value[:i]):
                raise KeyProblem([i, "id"], f"duplicate stage id {stage.id!r}")
        if len(value) < 2:
            raise ValueError("a journey needs at least two stages")
        return value

    @validator("signals", "regressions", pre=True)
    def _rules(cls, value: Any) -> list[Any]:
        return _mappings(value)

    @validator("side_states", pre=True)
    def _side_states(cls, value: Any) -> Any:
        return _mapping(value or {})

    @validator("min_intent_confidence", pre=True)
    def _confidence(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"must be a number from 0 to 1, got {value!r}")
        return value


class _Stages:
    """Stage references of one model, refused in the words the files are documented with."""

    def __init__(self, source: str, known: list[str]):
        self.source, self.known = source, known

    def ref(self, value: Any, key: str) -> str:
        if value not in self.known:
            raise JourneyModelError(f"{self.source}: {key}: unknown stage {value!r} (stages: {', '.join(self.known)})")
        return str(value)

    def fail(self, key: str, message: str) -> JourneyModelError:
        return JourneyModelError(f"{self.source}: {key}: {message}")


def parse_model(data: Any, source: str = "<memory>") -> JourneyModel:
    """Validate a parsed YAML document and build a JourneyModel."""
    raw = validate(ModelFile, data, source, JourneyModelError, expected=f"expected a mapping, got {_kind(data)}")
    stages = tuple(Stage(s.id, s.label, s.description or "", i) for i, s in enumerate(raw.stages))
    known = [s.id for s in stages]
    v = _Stages(source, known)
    initial = v.ref(known[0] if raw.initial_stage is None else raw.initial_stage, "initial_stage")

    rules: list[SignalRule] = []
    for i, sig in enumerate(raw.signals):
        key = f"signals[{i}]"
        if any(r.rule == sig.rule for r in rules):
            raise v.fail(f"{key}.rule", f"duplicate rule name {sig.rule!r}")
        to = v.ref(sig.to, f"{key}.to")
        from_stage = None
        if sig.from_stage is not None:
            from_stage = v.ref(sig.from_stage, f"{key}.from_stage")
            if known.index(from_stage) >= known.index(to):
                raise v.fail(f"{key}.from_stage", f"{from_stage!r} is not before {to!r}, so this rule can never fire")
        assert sig.when is not None  # its validator refuses a missing condition
        rules.append(SignalRule(sig.rule, to, sig.when.match(), from_stage))

    regressions: list[RegressionRule] = []
    for i, reg in enumerate(raw.regressions):
        key = f"regressions[{i}]"
        if reg.rule in {r.rule for r in rules} | {r.rule for r in regressions}:
            raise v.fail(f"{key}.rule", f"duplicate rule name {reg.rule!r}")
        frm = v.ref(reg.from_, f"{key}.from")
        to = v.ref(reg.to, f"{key}.to")
        if known.index(to) >= known.index(frm):
            raise v.fail(key, f"{frm} -> {to} is not a backward move")
        assert reg.when is not None  # its validator refuses a missing condition
        regressions.append(RegressionRule(reg.rule, frm, to, reg.when.match()))

    for i, rule in enumerate(rules):
        if known.index(rule.to) <= known.index(initial):
            raise v.fail(f"signals[{i}].to", f"{rule.to!r} is not after the initial stage {initial!r}, so this forward rule can never fire")

    reachable = {initial} | {r.to for r in rules} | {r.to for r in regressions}
    for i, stage in enumerate(stages):
        if stage.id not in reachable:
            raise v.fail(f"stages[{i}]", f"stage {stage.id!r} is unreachable: no signal rule moves a contact into it")

    at_risk = None
    if raw.side_states.at_risk is not None:
        risk = raw.side_states.at_risk
        from_stage = v.ref(initial if risk.from_stage is None else risk.from_stage, "side_states.at_risk.from_stage")
        at_risk = AtRiskRule(from_stage, tuple(m.match() for m in risk.when_any), tuple(m.match() for m in risk.clear_when_any))
    dormant = raw.side_states.dormant

    return JourneyModel(
        id=raw.id,
        label=raw.label,
        initial_stage=initial,
        stages=stages,
        signals=tuple(rules),
        regressions=tuple(regressions),
        at_risk=at_risk,
        dormant_after=None if dormant is None else dormant.after,
        source=source,
        min_intent_confidence=float(raw.min_intent_confidence),
    )


def load_model(path: str | Path) -> JourneyModel:
    """Load and validate a journey model file."""
    path = Path(path)
    data = read_yaml(path, JourneyModelError, "journey model")
    return parse_model(data, str(path))


def journey_files(journeys_dir: str | Path) -> tuple[Path, ...]:
    """The journey model files of a folder, in a stable order; the stem of each is its model id."""
    return tuple(sorted(Path(journeys_dir).glob("*.yml")))


def load_named_model(journeys_dir: str | Path, model_id: str) -> JourneyModel:
    """Load `<journeys_dir>/<model_id>.yml` and check that its id matches."""
    path = Path(journeys_dir) / f"{model_id}.yml"
    if not path.exists():
        available = [p.stem for p in journey_files(journeys_dir)]
        raise JourneyModelError(
            f"{path}: no journey model {model_id!r} (available: {', '.join(available) or 'none'})"
        )
    model = load_model(path)
    if model.id != model_id:
        raise JourneyModelError(f"{path}: id: is {model.id!r} but the file name says {model_id!r}")
    return model


def all_stage_ids(journeys_dir: str | Path) -> frozenset[str]:
    """Stage ids of every journey model in the folder (replies may name any of them)."""
    return frozenset(stage for path in journey_files(journeys_dir) for stage in load_model(path).stage_ids)
