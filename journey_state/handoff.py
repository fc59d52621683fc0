"""Human handoff rules: when to hand a conversation to a person, its priority, the wait estimate.

Pure functions over the configuration in data/business/handoff.yml (no database, no Rasa).
Priority 1 is the most urgent; the staff queue is ordered by priority, then by waiting time.
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import root_validator, validator

from journey_state.config_files import (
    KeyProblem,
    StrictModel,
    config_error,
    placeholder_problem,
    read_yaml,
    validate,
)
from journey_state.staff_rules import CHANNELS

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
MESSAGE_IDS = ("queued", "already_queued", "unavailable", "waiting", "agent_joined", "closed")
# The placeholders each message may use; the others are refused when the file is loaded.
MESSAGE_PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "queued": ("position", "minutes"), "already_queued": ("position", "minutes"), "unavailable": ("position", "minutes"),
    "waiting": ("position", "minutes"), "agent_joined": ("agent",), "closed": (),
}


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
    # A queued customer who keeps writing hears where they stand at most this often.
    update_every: timedelta = timedelta(minutes=3)
    messages: Mapping[str, str] = field(default_factory=dict)
    follow_ups: Mapping[str, str] = field(default_factory=dict)  # stage (or "default") -> text
    # channel -> message id -> text, where a channel needs other words than `messages`.
    channel_messages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def text(self, message_id: str, channel: str | None = None) -> str:
        """The message's text for `channel`: its channel's own if configured, else the common one."""
        return self.channel_messages.get(channel or "", {}).get(message_id) or self.messages[message_id]

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
    per_place = statistics.median(waits) if waits else default  # type: ignore[type-var]  # typeshed allows numbers only; median of timedeltas works (sort, middle, mean of two)
    return per_place * max(position, 1)


def wait_minutes(wait: timedelta) -> int:
    """Whole minutes, rounded up, at least 1 (never promise 'about 0 min')."""
    return max(1, math.ceil(wait.total_seconds() / 60))


def message(config: HandoffConfig, message_id: str, position: int, wait: timedelta, channel: str | None = None) -> str:
    return config.text(message_id, channel).format(position=position, minutes=wait_minutes(wait))


def waiting_update_due(last_update: datetime | None, at: datetime, every: timedelta) -> bool:
    """Whether a queued customer who writes at `at` is told their place and wait again.

    Rasa predicts nothing while a conversation is paused, so without this the customer hears
    nothing until a person claims it. Their first message is answered at once (`last_update`
    None); after that at most one update per `every`, so a customer who sends five lines in a
    row gets one answer, not five. The store applies the same rule as one conditional UPDATE
    against `waiting_update_cutoff`, so two processes never both send it.
    """
    return last_update is None or last_update <= waiting_update_cutoff(at, every)


def waiting_update_cutoff(at: datetime, every: timedelta) -> datetime:
    """The latest previous update after which a message at `at` is due another one."""
    return at - every


def agent_joined_message(config: HandoffConfig, agent: str, channel: str | None = None) -> str:
    return config.text("agent_joined", channel).format(agent=agent_display_name(agent))


def agent_display_name(username: str) -> str:
    """How an agent is named to the customer: the first word of the username, capitalised.

    Staff users have no display name; "sam.jones" or "sam_j" should read "Sam", not the login.
    """
    words = [w for w in re.split(r"[._\-@+\s]+", username) if w]
    return words[0][:1].upper() + words[0][1:] if words else "Someone"


def closing_message(config: HandoffConfig, channel: str | None = None) -> str:
    return config.text("closed", channel)


# -- loading ----------------------------------------------------------------------------------

DEFAULT_MESSAGES = {
    "queued": "I'm passing you to a person from our team. You're number {position} in the queue; the wait is about {minutes} min.",
    "already_queued": "You're already in the queue for a person (number {position}, about {minutes} min).",
    "unavailable": "I couldn't reach our team's queue just now. Please try again in a moment.",
    "waiting": "Still in line: you're number {position}, about {minutes} min. Everything you write here will be seen.",
    "agent_joined": "{agent} from the team joined the chat.",
    "closed": "This conversation with our team is closed. Thanks for your patience; write here any time if you need anything else.",
}


def _mapping(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("must be a mapping")
    return value


def _names(value: Any, allowed: Iterable[str] | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of names")
    if allowed is not None:
        problem = _unknown_names(value, allowed)
        if problem:
            raise ValueError(problem)
    return tuple(value)


def _unknown_names(names: Iterable[str], allowed: Iterable[str]) -> str | None:
    unknown = sorted(set(names) - set(allowed))
    return f"unknown {', '.join(unknown)} (known: {', '.join(sorted(allowed))})" if unknown else None


def _at_least_one(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number >= 1")
    return value


def _numbers_at_least_one(value: Any) -> Any:
    for name, number in _mapping(value).items():
        try:
            _at_least_one(number)
        except ValueError as exc:
            raise KeyProblem([str(name)], str(exc)) from None
    return _mapping(value)


def _non_empty_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty text")
    return value


class _Section(StrictModel):
    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return f"unknown key (allowed: {', '.join(allowed)})"


class AnyIntentSection(_Section):
    min_score: float = 0.0
    stages: tuple[str, ...] = ()

    required_keys: ClassVar[Mapping[str, str]] = {"min_score": "is required (the emotion score, 0-1, that counts as strong)"}

    @validator("min_score", pre=True)
    def _score(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError("must be a number above 0 and at most 1")
        return value

    @validator("stages", pre=True)
    def _stages(cls, value: Any) -> tuple[str, ...]:
        return _names(value)


class TriggerSection(_Section):
    intents: tuple[str, ...] | None = None  # required; None reaches the validator
    emotions: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    in_a_row: int = 1
    any_intent: AnyIntentSection | None = None

    @validator("intents", pre=True, always=True)
    def _intents(cls, value: Any) -> tuple[str, ...]:
        intents = _names(value)
        if not intents:
            raise ValueError("must list at least one intent")
        return intents

    @validator("emotions", pre=True)
    def _emotions(cls, value: Any) -> tuple[str, ...]:
        return _names(value, EMOTIONS)

    @validator("stages", pre=True)
    def _stages(cls, value: Any) -> tuple[str, ...]:
        return _names(value)

    @validator("in_a_row", pre=True)
    def _in_a_row(cls, value: Any) -> int:
        return _at_least_one(value)

    @validator("any_intent", pre=True)
    def _any_intent(cls, value: Any) -> Any:
        return None if value is None else _mapping(value)

    @root_validator(skip_on_failure=True)
    def _any_intent_needs_emotions(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values["any_intent"] is not None and not values["emotions"]:
            raise KeyProblem(["any_intent"], "needs the trigger's `emotions` (which emotion must be strong)")
        return values


class PrioritySection(_Section):
    default: int = 3
    stages: dict[str, int] = {}
    at_risk: int | None = None
    triggers: dict[str, int] = {}

    @validator("default", pre=True)
    def _default(cls, value: Any) -> int:
        return _at_least_one(value)

    @validator("at_risk", pre=True)
    def _at_risk(cls, value: Any) -> int | None:
        return None if value is None else _at_least_one(value)

    @validator("stages", pre=True)
    def _stages(cls, value: Any) -> Any:
        return _numbers_at_least_one(value)

    @validator("triggers", pre=True)
    def _triggers(cls, value: Any) -> Any:
        for trigger in _mapping(value):
            if trigger not in ALL_TRIGGERS:
                raise KeyProblem([str(trigger)], f"unknown trigger (known: {', '.join(ALL_TRIGGERS)})")
        return _numbers_at_least_one(value)


class WaitSection(_Section):
    history: int = 20
    default_minutes: int = 5
    update_every_minutes: float = 3

    @validator("history", "default_minutes", pre=True)
    def _counts(cls, value: Any) -> int:
        return _at_least_one(value)

    @validator("update_every_minutes", pre=True)
    def _interval(cls, value: Any) -> float:
        # Fractions are allowed (0.5 = 30 s); zero would answer every message, which is the spam this prevents.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 24 * 60:
            raise ValueError("must be a number of minutes above 0 and at most 1440")
        return float(value)


def _message_text(name: str, value: Any) -> str:
    text = _non_empty_text(value)
    problem = placeholder_problem(text)
    if problem:
        raise ValueError(problem)
    allowed = MESSAGE_PLACEHOLDERS[name]
    try:
        text.format(**dict.fromkeys(allowed, 1))
    except KeyError as exc:
        use = ", ".join(f"{{{key}}}" for key in allowed) or "none"
        raise ValueError(f"unknown placeholder {{{exc.args[0]}}} (use {use})") from None
    return text


class MessagesSection(_Section):
    queued: str = DEFAULT_MESSAGES["queued"]
    already_queued: str = DEFAULT_MESSAGES["already_queued"]
    unavailable: str = DEFAULT_MESSAGES["unavailable"]
    waiting: str = DEFAULT_MESSAGES["waiting"]
    agent_joined: str = DEFAULT_MESSAGES["agent_joined"]
    closed: str = DEFAULT_MESSAGES["closed"]

    @validator(*MESSAGE_IDS, pre=True)
    def _text(cls, value: Any, field: Any) -> str:
        return _message_text(field.name, value)


class ChannelMessagesSection(_Section):
    """One channel's own words for some messages; the others come from `messages`."""

    queued: str | None = None
    already_queued: str | None = None
    unavailable: str | None = None
    waiting: str | None = None
    agent_joined: str | None = None
    closed: str | None = None

    @validator(*MESSAGE_IDS, pre=True)
    def _text(cls, value: Any, field: Any) -> str:
        return _message_text(field.name, value)


class HandoffFile(_Section):
    """handoff.yml as written; `load_handoff_config` checks the stages it names."""

    triggers: dict[str, TriggerSection] = {}
    priority: PrioritySection = PrioritySection()
    wait: WaitSection = WaitSection()
    messages: MessagesSection = MessagesSection()
    follow_ups: dict[str, str] = {}
    channel_messages: dict[str, ChannelMessagesSection] = {}

    @validator("channel_messages", pre=True)
    def _channel_messages(cls, value: Any) -> Any:
        for channel, raw in _mapping(value).items():
            if channel not in CHANNELS:
                raise KeyProblem([str(channel)], f"unknown channel (known: {', '.join(CHANNELS)})")
            if not isinstance(raw, dict):
                raise KeyProblem([str(channel)], "must be a mapping of message names to texts")
        return _mapping(value)

    @validator("triggers", pre=True)
    def _triggers(cls, value: Any) -> Any:
        triggers = _mapping(value)
        for name, raw in triggers.items():
            if name not in MESSAGE_TRIGGERS:
                raise KeyProblem([str(name)], f"unknown trigger (known: {', '.join(MESSAGE_TRIGGERS)})")
            if raw is not None and not isinstance(raw, dict):
                raise KeyProblem([str(name)], "must be a mapping")
        return {name: raw or {} for name, raw in triggers.items()}

    @validator("priority", "wait", "messages", pre=True)
    def _sections(cls, value: Any) -> Any:
        return _mapping(value)

    @validator("follow_ups", pre=True)
    def _follow_ups(cls, value: Any) -> Any:
        for stage, text in _mapping(value).items():
            try:
                _non_empty_text(text)
            except ValueError as exc:
                raise KeyProblem([str(stage)], str(exc)) from None
        return {stage: text.strip() for stage, text in _mapping(value).items()}


def _check_stages(raw: HandoffFile, stages: set[str], path: Path) -> None:
    """The stages the file names must exist in some journey model."""
    for name, trigger in raw.triggers.items():
        problem = _unknown_names(trigger.stages, stages)
        if problem:
            raise config_error(path, f"triggers.{name}.stages", problem)
        problem = _unknown_names(trigger.any_intent.stages, stages) if trigger.any_intent else None
        if problem:
            raise config_error(path, f"triggers.{name}.any_intent.stages", problem)
    for stage in raw.priority.stages:
        if stage not in stages:
            raise config_error(path, f"priority.stages.{stage}", f"unknown stage (known: {', '.join(sorted(stages))})")
    for stage in raw.follow_ups:
        if stage != "default" and stage not in stages:
            raise config_error(path, f"follow_ups.{stage}", f"unknown stage (known: default, {', '.join(sorted(stages))})")


def load_handoff_config(path: str | Path, known_stages: Iterable[str]) -> HandoffConfig:
    """Load and validate data/business/handoff.yml; errors name the file and the key."""
    path = Path(path)
    stages = set(known_stages)
    data = read_yaml(path)
    raw = validate(HandoffFile, {} if data is None else data, path, expected="must be a mapping")
    _check_stages(raw, stages, path)
    prio = raw.priority
    return HandoffConfig(
        follow_ups=dict(raw.follow_ups),
        triggers={
            name: TriggerRule(
                intents=frozenset(t.intents or ()),
                emotions=frozenset(t.emotions),
                stages=frozenset(t.stages),
                in_a_row=t.in_a_row,
                any_intent=AnyIntent(float(t.any_intent.min_score), frozenset(t.any_intent.stages)) if t.any_intent else None,
            )
            for name, t in raw.triggers.items()
        },
        default_priority=prio.default,
        stage_priority=dict(prio.stages),
        at_risk_priority=prio.at_risk,
        trigger_priority=dict(prio.triggers),
        wait_history=raw.wait.history,
        default_wait=timedelta(minutes=raw.wait.default_minutes),
        update_every=timedelta(minutes=raw.wait.update_every_minutes),
        messages={name: getattr(raw.messages, name) for name in MESSAGE_IDS},
        channel_messages={
            channel: {name: text for name in MESSAGE_IDS if (text := getattr(section, name)) is not None}
            for channel, section in raw.channel_messages.items()
        },
    )
