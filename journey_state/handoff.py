"""Human handoff rules: when to hand a conversation to a person, its priority, the wait estimate.

Pure functions over the configuration in data/business/handoff.yml (no database, no Rasa).
Priority 1 is the most urgent; the staff queue is ordered by priority, then by waiting time.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from journey_state.replies import BusinessConfigError, _check_placeholders, _read_yaml

# Trigger names. AGENT_CLAIM is the console's "take over this conversation"; it is not a
# rule on messages, so it needs no configuration.
CUSTOMER_REQUEST = "customer_request"
ANGRY_COMPLAINT = "angry_complaint"
REPEATED_FALLBACK = "repeated_fallback"
HIGH_VALUE = "high_value"
AGENT_CLAIM = "agent_claim"
MESSAGE_TRIGGERS = (CUSTOMER_REQUEST, ANGRY_COMPLAINT, REPEATED_FALLBACK, HIGH_VALUE)
ALL_TRIGGERS = (*MESSAGE_TRIGGERS, AGENT_CLAIM)
EMOTIONS = ("angry", "sad", "neutral", "happy", "excited")
MESSAGE_IDS = ("queued", "already_queued", "unavailable")


@dataclass(frozen=True)
class AnyIntent:
    """Fires whatever the intent when one of the rule's emotions is the label and scores >= min_score.

    The NLU files an angry "my order is late again, I'm furious" under track_order, not
    complaint; strong enough anger still calls in a person.
    """

    min_score: float
    stages: frozenset[str] = frozenset()  # empty: any stage


@dataclass(frozen=True)
class TriggerRule:
    intents: frozenset[str] = frozenset()
    emotions: frozenset[str] = frozenset()  # empty: any emotion
    stages: frozenset[str] = frozenset()  # empty: any stage
    in_a_row: int = 1
    any_intent: AnyIntent | None = None


@dataclass(frozen=True)
class HandoffConfig:
    triggers: Mapping[str, TriggerRule]
    default_priority: int = 3
    stage_priority: Mapping[str, int] = field(default_factory=dict)
    at_risk_priority: int | None = None
    trigger_priority: Mapping[str, int] = field(default_factory=dict)
    wait_history: int = 20
    default_wait: timedelta = timedelta(minutes=5)
    messages: Mapping[str, str] = field(default_factory=dict)
    follow_ups: Mapping[str, str] = field(default_factory=dict)  # stage (or "default") -> text

    def follow_up(self, stage: str | None) -> str | None:
        """What the bot says when a person hands the conversation back, for the contact's stage."""
        return self.follow_ups.get(stage or "") or self.follow_ups.get("default")


@dataclass(frozen=True)
class MessageFacts:
    """What the rules look at in one customer message."""

    intent: str | None
    emotion: str | None = None
    stage: str | None = None  # the contact's stage when they wrote
    recent_intents: Sequence[str] = ()  # earlier intents of this conversation, oldest first
    emotion_scores: Mapping[str, float] | None = None  # the emotion classifier's score per label


def _consecutive(recent: Sequence[str], current: str | None, intents: frozenset[str]) -> int:
    count = 0
    for intent in [*recent, current][::-1]:
        if intent not in intents:
            break
        count += 1
    return count


def _fires_on_intent(rule: TriggerRule, facts: MessageFacts) -> bool:
    if facts.intent not in rule.intents:
        return False
    if rule.emotions and facts.emotion not in rule.emotions:
        return False
    if rule.stages and facts.stage not in rule.stages:
        return False
    return rule.in_a_row <= 1 or _consecutive(facts.recent_intents, facts.intent, rule.intents) >= rule.in_a_row


def _fires_on_emotion(rule: TriggerRule, facts: MessageFacts) -> bool:
    strong = rule.any_intent
    if strong is None or facts.emotion not in rule.emotions:
        return False
    if strong.stages and facts.stage not in strong.stages:
        return False
    # Without scores (an older model) the strength is unknown: the label alone is not enough.
    score = (facts.emotion_scores or {}).get(facts.emotion)
    return isinstance(score, (int, float)) and score >= strong.min_score


def trigger_for(config: HandoffConfig, facts: MessageFacts) -> str | None:
    """The first configured trigger this message fires (in MESSAGE_TRIGGERS order), or None."""
    for name in MESSAGE_TRIGGERS:
        rule = config.triggers.get(name)
        if rule is not None and (_fires_on_intent(rule, facts) or _fires_on_emotion(rule, facts)):
            return name
    return None


def priority_for(config: HandoffConfig, stage: str, at_risk: bool, trigger: str) -> int:
    """The most urgent (lowest) priority that applies: stage, at-risk, trigger, else the default."""
    candidates = [config.default_priority]
    if stage in config.stage_priority:
        candidates.append(config.stage_priority[stage])
    if at_risk and config.at_risk_priority is not None:
        candidates.append(config.at_risk_priority)
    if trigger in config.trigger_priority:
        candidates.append(config.trigger_priority[trigger])
    return min(candidates)


def estimate_wait(recent_waits: Iterable[timedelta], position: int, default: timedelta) -> timedelta:
    """Median recent wait x place in the queue; `default` per place without history."""
    waits = sorted(w for w in recent_waits if w >= timedelta(0))
    # median only adds and halves the middle pair, which timedelta supports; typeshed admits numbers only.
    per_place = statistics.median(waits) if waits else default  # type: ignore[type-var]
    return per_place * max(position, 1)


def wait_minutes(wait: timedelta) -> int:
    """Whole minutes, rounded up, at least 1 (never promise 'about 0 min')."""
    return max(1, math.ceil(wait.total_seconds() / 60))


def message(config: HandoffConfig, message_id: str, position: int, wait: timedelta) -> str:
    return config.messages[message_id].format(position=position, minutes=wait_minutes(wait))


# -- loading ----------------------------------------------------------------------------------

DEFAULT_MESSAGES = {
    "queued": "I'm passing you to a person from our team. You're number {position} in the queue; the wait is about {minutes} min.",
    "already_queued": "You're already in the queue for a person (number {position}, about {minutes} min).",
    "unavailable": "I couldn't reach our team's queue just now. Please try again in a moment.",
}


def _fail(path: Path, key: str, problem: str) -> BusinessConfigError:
    return BusinessConfigError(f"{path}: {key}: {problem}")


def _mapping(value: Any, path: Path, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, key, "must be a mapping")
    return value


def _names(value: Any, path: Path, key: str, allowed: Iterable[str] | None = None) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, key, "must be a list of names")
    if allowed is not None:
        allowed = set(allowed)
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise _fail(path, key, f"unknown {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    return frozenset(value)


def _int(value: Any, path: Path, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(path, key, f"must be a whole number >= {minimum}")
    return value


def _score(value: Any, path: Path, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise _fail(path, key, "must be a number above 0 and at most 1")
    return float(value)


def _any_intent(raw: Any, emotions: frozenset[str], stages: set[str], path: Path, key: str) -> AnyIntent | None:
    if raw is None:
        return None
    raw = _mapping(raw, path, key)
    _allow_only(raw, ("min_score", "stages"), path, key)
    if not emotions:
        raise _fail(path, key, "needs the trigger's `emotions` (which emotion must be strong)")
    if "min_score" not in raw:
        raise _fail(path, f"{key}.min_score", "is required (the emotion score, 0-1, that counts as strong)")
    return AnyIntent(_score(raw["min_score"], path, f"{key}.min_score"), _names(raw.get("stages"), path, f"{key}.stages", stages))


def _allow_only(data: dict[str, Any], allowed: Iterable[str], path: Path, key: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _fail(path, f"{key}.{unknown[0]}" if key else unknown[0], f"unknown key (allowed: {', '.join(allowed)})")


def load_handoff_config(path: str | Path, known_stages: Iterable[str]) -> HandoffConfig:
    """Load and validate data/business/handoff.yml; errors name the file and the key."""
    path = Path(path)
    stages = set(known_stages)
    data = _mapping(_read_yaml(path), path, "(top level)")
    _allow_only(data, ("triggers", "priority", "wait", "messages", "follow_ups"), path, "")

    triggers: dict[str, TriggerRule] = {}
    raw_triggers = _mapping(data.get("triggers"), path, "triggers")
    for name, raw in raw_triggers.items():
        key = f"triggers.{name}"
        if name not in MESSAGE_TRIGGERS:
            raise _fail(path, key, f"unknown trigger (known: {', '.join(MESSAGE_TRIGGERS)})")
        raw = _mapping(raw, path, key)
        _allow_only(raw, ("intents", "emotions", "stages", "in_a_row", "any_intent"), path, key)
        intents = _names(raw.get("intents"), path, f"{key}.intents")
        if not intents:
            raise _fail(path, f"{key}.intents", "must list at least one intent")
        emotions = _names(raw.get("emotions"), path, f"{key}.emotions", EMOTIONS)
        triggers[name] = TriggerRule(
            intents=intents,
            emotions=emotions,
            stages=_names(raw.get("stages"), path, f"{key}.stages", stages),
            in_a_row=_int(raw.get("in_a_row", 1), path, f"{key}.in_a_row", 1),
            any_intent=_any_intent(raw.get("any_intent"), emotions, stages, path, f"{key}.any_intent"),
        )

    prio = _mapping(data.get("priority"), path, "priority")
    _allow_only(prio, ("default", "stages", "at_risk", "triggers"), path, "priority")
    stage_priority = {}
    for stage, value in _mapping(prio.get("stages"), path, "priority.stages").items():
        if stage not in stages:
            raise _fail(path, f"priority.stages.{stage}", f"unknown stage (known: {', '.join(sorted(stages))})")
        stage_priority[stage] = _int(value, path, f"priority.stages.{stage}", 1)
    trigger_priority = {}
    for trigger, value in _mapping(prio.get("triggers"), path, "priority.triggers").items():
        if trigger not in ALL_TRIGGERS:
            raise _fail(path, f"priority.triggers.{trigger}", f"unknown trigger (known: {', '.join(ALL_TRIGGERS)})")
        trigger_priority[trigger] = _int(value, path, f"priority.triggers.{trigger}", 1)
    at_risk = prio.get("at_risk")

    wait = _mapping(data.get("wait"), path, "wait")
    _allow_only(wait, ("history", "default_minutes"), path, "wait")

    messages = dict(DEFAULT_MESSAGES)
    raw_messages = _mapping(data.get("messages"), path, "messages")
    _allow_only(raw_messages, MESSAGE_IDS, path, "messages")
    for message_id, text in raw_messages.items():
        key = f"messages.{message_id}"
        if not isinstance(text, str) or not text.strip():
            raise _fail(path, key, "must be a non-empty text")
        _check_placeholders(text, str(path), key)
        try:
            text.format(position=1, minutes=1)
        except KeyError as exc:
            raise _fail(path, key, f"unknown placeholder {{{exc.args[0]}}} (use {{position}}, {{minutes}})") from None
        messages[message_id] = text

    follow_ups = {}
    for stage, text in _mapping(data.get("follow_ups"), path, "follow_ups").items():
        key = f"follow_ups.{stage}"
        if stage != "default" and stage not in stages:
            raise _fail(path, key, f"unknown stage (known: default, {', '.join(sorted(stages))})")
        if not isinstance(text, str) or not text.strip():
            raise _fail(path, key, "must be a non-empty text")
        follow_ups[stage] = text.strip()

    return HandoffConfig(
        follow_ups=follow_ups,
        triggers=triggers,
        default_priority=_int(prio.get("default", 3), path, "priority.default", 1),
        stage_priority=stage_priority,
        at_risk_priority=None if at_risk is None else _int(at_risk, path, "priority.at_risk", 1),
        trigger_priority=trigger_priority,
        wait_history=_int(wait.get("history", 20), path, "wait.history", 1),
        default_wait=timedelta(minutes=_int(wait.get("default_minutes", 5), path, "wait.default_minutes", 1)),
        messages=messages,
    )
