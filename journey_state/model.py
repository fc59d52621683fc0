"""Journey models: ordered stages, signal rules, allowed regressions, side states.

A model is loaded from YAML (see data/journeys/) and validated; every error names
the file and the key that is wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping, Sequence

from journey_state.config_files import read_yaml
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


class _Validator:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str) -> JourneyModelError:
        return JourneyModelError(f"{self.source}: {key}: {message}")

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}")
        return value

    def sequence(self, value: Any, key: str) -> Sequence[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {type(value).__name__}")
        return value

    def text(self, data: Mapping[str, Any], name: str, key: str, required: bool = True) -> str:
        value = data.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key}.{name}" if key else name, "required text is missing or empty")
        return value.strip()

    def identifier(self, data: Mapping[str, Any], name: str, key: str) -> str:
        value = self.text(data, name, key)
        if not _ID.match(value):
            raise self.fail(
                f"{key}.{name}" if key else name,
                f"{value!r} is not a valid id (lower case letters, digits and _)",
            )
        return value

    def stage_ref(self, value: Any, key: str, known: Sequence[str]) -> str:
        if value not in known:
            raise self.fail(key, f"unknown stage {value!r} (stages: {', '.join(known)})")
        return value

    def match(self, data: Any, key: str) -> Match:
        data = self.mapping(data, key)
        unknown = set(data) - set(MATCH_KEYS)
        if unknown:
            raise self.fail(key, f"unknown condition {sorted(unknown)[0]!r} (use {', '.join(MATCH_KEYS)})")
        values = {}
        for name in MATCH_KEYS:
            items = data.get(name, [])
            items = self.sequence(items, f"{key}.{name}")
            for i, item in enumerate(items):
                if not isinstance(item, str) or not item:
                    raise self.fail(f"{key}.{name}[{i}]", "must be a non-empty name")
            values[name] = frozenset(items)
        if not any(values.values()):
            raise self.fail(key, "a condition needs at least one of " + ", ".join(MATCH_KEYS))
        return Match(**values)


def parse_model(data: Any, source: str = "<memory>") -> JourneyModel:
    """Validate a parsed YAML document and build a JourneyModel."""
    v = _Validator(source)
    data = v.mapping(data, "(top level)")
    allowed_top = {"id", "label", "initial_stage", "stages", "signals", "regressions", "side_states", "min_intent_confidence"}
    unknown = set(data) - allowed_top
    if unknown:
        raise v.fail(sorted(unknown)[0], "unknown key")
    model_id = v.identifier(data, "id", "")
    label = v.text(data, "label", "")

    stages: list[Stage] = []
    for i, raw in enumerate(v.sequence(data.get("stages"), "stages")):
        key = f"stages[{i}]"
        raw = v.mapping(raw, key)
        sid = v.identifier(raw, "id", key)
        if any(s.id == sid for s in stages):
            raise v.fail(f"{key}.id", f"duplicate stage id {sid!r}")
        stages.append(Stage(sid, v.text(raw, "label", key), v.text(raw, "description", key, False), i))
    if len(stages) < 2:
        raise v.fail("stages", "a journey needs at least two stages")
    known = [s.id for s in stages]

    initial = v.stage_ref(data.get("initial_stage", known[0]), "initial_stage", known)

    rules: list[SignalRule] = []
    for i, raw in enumerate(v.sequence(data.get("signals", []), "signals")):
        key = f"signals[{i}]"
        raw = v.mapping(raw, key)
        name = v.identifier(raw, "rule", key)
        if any(r.rule == name for r in rules):
            raise v.fail(f"{key}.rule", f"duplicate rule name {name!r}")
        to = v.stage_ref(raw.get("to"), f"{key}.to", known)
        from_stage = None
        if raw.get("from_stage") is not None:
            from_stage = v.stage_ref(raw["from_stage"], f"{key}.from_stage", known)
            if known.index(from_stage) >= known.index(to):
                raise v.fail(f"{key}.from_stage", f"{from_stage!r} is not before {to!r}, so this rule can never fire")
        unknown_keys = set(raw) - {"rule", "to", "when", "from_stage"}
        if unknown_keys:
            raise v.fail(f"{key}.{sorted(unknown_keys)[0]}", "unknown key (use rule, to, when, from_stage)")
        rules.append(SignalRule(name, to, v.match(raw.get("when"), f"{key}.when"), from_stage))

    regressions: list[RegressionRule] = []
    for i, raw in enumerate(v.sequence(data.get("regressions", []), "regressions")):
        key = f"regressions[{i}]"
        raw = v.mapping(raw, key)
        name = v.identifier(raw, "rule", key)
        if any(r.rule == name for r in [*rules, *regressions]):
            raise v.fail(f"{key}.rule", f"duplicate rule name {name!r}")
        frm = v.stage_ref(raw.get("from"), f"{key}.from", known)
        to = v.stage_ref(raw.get("to"), f"{key}.to", known)
        if known.index(to) >= known.index(frm):
            raise v.fail(key, f"{frm} -> {to} is not a backward move")
        regressions.append(RegressionRule(name, frm, to, v.match(raw.get("when"), f"{key}.when")))

    for i, rule in enumerate(rules):
        if known.index(rule.to) <= known.index(initial):
            raise v.fail(f"signals[{i}].to", f"{rule.to!r} is not after the initial stage {initial!r}, so this forward rule can never fire")

    reachable = {initial} | {r.to for r in rules} | {r.to for r in regressions}
    for i, stage in enumerate(stages):
        if stage.id not in reachable:
            raise v.fail(f"stages[{i}]", f"stage {stage.id!r} is unreachable: no signal rule moves a contact into it")

    side = v.mapping(data.get("side_states", {}) or {}, "side_states")
    unknown = set(side) - {"at_risk", "dormant"}
    if unknown:
        raise v.fail(f"side_states.{sorted(unknown)[0]}", "unknown side state (use at_risk, dormant)")
    at_risk = None
    if side.get("at_risk") is not None:
        raw = v.mapping(side["at_risk"], "side_states.at_risk")
        from_stage = v.stage_ref(raw.get("from_stage", initial), "side_states.at_risk.from_stage", known)
        when_any = tuple(
            v.match(m, f"side_states.at_risk.when_any[{i}]")
            for i, m in enumerate(v.sequence(raw.get("when_any"), "side_states.at_risk.when_any"))
        )
        clear_any = tuple(
            v.match(m, f"side_states.at_risk.clear_when_any[{i}]")
            for i, m in enumerate(v.sequence(raw.get("clear_when_any", []), "side_states.at_risk.clear_when_any"))
        )
        at_risk = AtRiskRule(from_stage, when_any, clear_any)
    dormant_after = None
    if side.get("dormant") is not None:
        raw = v.mapping(side["dormant"], "side_states.dormant")
        dormant_after = parse_duration(raw.get("after"), f"{source}: side_states.dormant.after")

    min_conf = data.get("min_intent_confidence", 0.0)
    if isinstance(min_conf, bool) or not isinstance(min_conf, (int, float)) or not 0.0 <= min_conf <= 1.0:
        raise v.fail("min_intent_confidence", f"must be a number from 0 to 1, got {min_conf!r}")

    return JourneyModel(
        id=model_id,
        label=label,
        initial_stage=initial,
        stages=tuple(stages),
        signals=tuple(rules),
        regressions=tuple(regressions),
        at_risk=at_risk,
        dormant_after=dormant_after,
        source=source,
        min_intent_confidence=float(min_conf),
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
