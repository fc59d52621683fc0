"""The journey engine: pure functions from (model, state, signal) to a decision.

It does no I/O. The store loads the state, calls `decide` (or `merge_decision` when two
contacts turn out to be one person), and persists what it returns in one transaction.
This is the one place where stage transitions are decided.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from journey_state.model import JourneyModel, Match

EXCERPT_LENGTH = 160


class Source(str, Enum):
    CONVERSATION = "conversation"
    EVENT = "event"
    AGENT = "agent"
    TIME = "time"


@dataclass(frozen=True)
class Signal:
    """Something that happened to a contact. `id` makes replays idempotent."""

    id: str
    source: Source
    at: datetime
    intent: str | None = None
    event: str | None = None
    emotion: str | None = None
    target_stage: str | None = None  # agent overrides only
    confidence: float = 1.0
    excerpt: str = ""

    @property
    def signal_type(self) -> str:
        if self.source is Source.AGENT:
            return "agent_override"
        if self.source is Source.TIME:
            return "inactivity"
        if self.event:
            return "event"
        if self.intent:
            return "intent"
        return "emotion" if self.emotion else "message"


@dataclass(frozen=True)
class Evidence:
    signal_type: str
    source: str
    signal_id: str
    excerpt: str
    confidence: float
    rule: str

    def as_dict(self) -> dict[str, str | float]:
        return {
            "signal_type": self.signal_type,
            "source": self.source,
            "signal_id": self.signal_id,
            "excerpt": self.excerpt,
            "confidence": self.confidence,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class Transition:
    """A change of stage (kind 'stage') or of a side state (kind 'at_risk'/'dormant')."""

    kind: str
    from_value: str
    to_value: str
    at: datetime
    evidence: Evidence


@dataclass(frozen=True)
class ContactState:
    stage: str
    at_risk: bool = False
    dormant: bool = False
    last_activity_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    state: ContactState
    transitions: tuple[Transition, ...]

    @property
    def stage_transition(self) -> Transition | None:
        return next((t for t in self.transitions if t.kind == "stage"), None)


def initial_state(model: JourneyModel) -> ContactState:
    return ContactState(stage=model.initial_stage)


def _evidence(signal: Signal, rule: str) -> Evidence:
    return Evidence(
        signal_type=signal.signal_type,
        source=signal.source.value,
        signal_id=signal.id,
        excerpt=signal.excerpt[:EXCERPT_LENGTH],
        confidence=round(float(signal.confidence), 4),
        rule=rule,
    )


def _intent(model: JourneyModel, signal: Signal) -> str | None:
    """The intent as evidence: one recognised with too little confidence counts as none (the emotion still does)."""
    if signal.source is Source.CONVERSATION and signal.confidence < model.min_intent_confidence:
        return None
    return signal.intent


def _matches(model: JourneyModel, match: Match, signal: Signal) -> bool:
    return match.matches(_intent(model, signal), signal.event, signal.emotion)


def _flag(kind: str, on: bool, signal: Signal, rule: str) -> Transition:
    return Transition(kind, "off" if on else "on", "on" if on else "off", signal.at, _evidence(signal, rule))


def _stage_target(model: JourneyModel, state: ContactState, signal: Signal) -> tuple[str, str] | None:
    """The (stage, rule) a signal moves the contact into, or None."""
    if signal.source is Source.AGENT:
        if signal.target_stage and model.has_stage(signal.target_stage) and signal.target_stage != state.stage:
            return signal.target_stage, "agent_override"
        return None
    if signal.source is Source.TIME:
        return None
    current = model.index(state.stage)
    forward: tuple[str, str] | None = None
    for rule in model.signals:
        index = model.index(rule.to)
        if rule.from_stage is not None and current < model.index(rule.from_stage):
            continue
        # Signal rules only move forward. The furthest move wins; ties keep file order.
        if index > current and _matches(model, rule.when, signal) and (forward is None or index > model.index(forward[0])):
            forward = (rule.to, rule.rule)
    if forward is not None:
        return forward
    for regression in model.regressions:
        if regression.from_stage == state.stage and _matches(model, regression.when, signal):
            return regression.to, regression.rule
    return None


def decide(model: JourneyModel, state: ContactState, signal: Signal) -> Decision:
    """Apply one signal. Pure: the same inputs always give the same decision."""
    transitions: list[Transition] = []
    stage, at_risk, dormant = state.stage, state.at_risk, state.dormant
    last = state.last_activity_at
    is_activity = signal.source is not Source.TIME

    if model.dormant_after is not None:
        inactive_for = (signal.at - last) if last is not None else None
        if not is_activity:
            if not dormant and inactive_for is not None and inactive_for >= model.dormant_after:
                dormant = True
                transitions.append(_flag("dormant", True, signal, "dormant_after_inactivity"))
        elif dormant:
            dormant = False
            transitions.append(_flag("dormant", False, signal, "reactivated"))
        elif last is not None and inactive_for is not None and inactive_for >= model.dormant_after:
            # Evaluated lazily: the contact went quiet for longer than the limit and is
            # back. Record both edges so time-in-dormancy stays measurable.
            transitions.append(_flag("dormant", True, replace(signal, at=last + model.dormant_after), "dormant_after_inactivity"))
            transitions.append(_flag("dormant", False, signal, "reactivated"))

    target = _stage_target(model, state, signal)
    if target is not None:
        to_stage, rule = target
        transitions.append(Transition("stage", stage, to_stage, signal.at, _evidence(signal, rule)))
        stage = to_stage

    risk = model.at_risk
    if risk is not None and is_activity:
        after_purchase = model.index(stage) >= model.index(risk.from_stage)
        if not at_risk and after_purchase and any(_matches(model, m, signal) for m in risk.when_any):
            at_risk = True
            transitions.append(_flag("at_risk", True, signal, "at_risk"))
        elif at_risk and any(_matches(model, m, signal) for m in risk.clear_when_any):
            at_risk = False
            transitions.append(_flag("at_risk", False, signal, "at_risk_cleared"))

    if is_activity and (last is None or signal.at > last):
        last = signal.at
    new_state = ContactState(stage=stage, at_risk=at_risk, dormant=dormant, last_activity_at=last)
    return Decision(new_state, tuple(transitions))


def _furthest(model: JourneyModel, a: str, b: str) -> str:
    """The later stage of the journey; `a` when either is not in this model (a stage since removed)."""
    if not (model.has_stage(a) and model.has_stage(b)):
        return a
    return a if model.index(a) >= model.index(b) else b


def merge_decision(model: JourneyModel, survivor: ContactState, merged: ContactState, at: datetime, evidence: Evidence) -> Decision:
    """The state of one contact folded into another (both proved the same email or phone).

    The furthest stage wins, so proving who you are never sets a journey back; the person is
    at risk if either contact was, dormant only if both were, and last active when either
    was. The transitions are the survivor's changes, all carrying `evidence`.
    """
    lasts = [t for t in (survivor.last_activity_at, merged.last_activity_at) if t is not None]
    after = ContactState(
        stage=_furthest(model, survivor.stage, merged.stage),
        at_risk=survivor.at_risk or merged.at_risk,
        dormant=survivor.dormant and merged.dormant,
        last_activity_at=max(lasts) if lasts else None,
    )
    transitions: list[Transition] = []
    if after.stage != survivor.stage:
        transitions.append(Transition("stage", survivor.stage, after.stage, at, evidence))
    for flag, old, new in (("at_risk", survivor.at_risk, after.at_risk), ("dormant", survivor.dormant, after.dormant)):
        if old != new:
            transitions.append(Transition(flag, "on" if old else "off", "on" if new else "off", at, evidence))
    return Decision(after, tuple(transitions))
