"""The pure journey engine (journey_state/engine.py): examples on b2c, properties on both models."""
from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_state.engine import (
    EXCERPT_LENGTH,
    ContactState,
    Decision,
    Evidence,
    Signal,
    Source,
    decide,
    initial_state,
    merge_decision,
)
from journey_state.model import JourneyModel, load_named_model

JOURNEYS_DIR = Path(__file__).resolve().parents[2] / "data" / "journeys"

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
_ids = itertools.count()


def sig(source: Source = Source.CONVERSATION, at: datetime = T0, **kw) -> Signal:
    kw.setdefault("id", f"sig-{next(_ids)}")
    return Signal(source=source, at=at, **kw)


def said(intent=None, emotion=None, at=T0, **kw) -> Signal:
    return sig(Source.CONVERSATION, at, intent=intent, emotion=emotion, **kw)


def event(name, at=T0, **kw) -> Signal:
    return sig(Source.EVENT, at, event=name, **kw)


def agent(target, at=T0, **kw) -> Signal:
    return sig(Source.AGENT, at, target_stage=target, **kw)


def tick(at) -> Signal:
    return sig(Source.TIME, at)


def at_stage(stage, **kw) -> ContactState:
    kw.setdefault("last_activity_at", T0 - timedelta(hours=1))
    return ContactState(stage=stage, **kw)


def moves(decision: Decision):
    return [(t.kind, t.from_value, t.to_value, t.evidence.rule) for t in decision.transitions]


# -- forward signal rules ---------------------------------------------------------


def test_new_contact_starts_in_awareness(b2c_model):
    assert initial_state(b2c_model) == ContactState(stage="awareness")


def test_asking_for_prices_moves_awareness_to_consideration(b2c_model):
    signal = said("ask_pricing", excerpt="how much is premium?", confidence=0.93456)
    decision = decide(b2c_model, initial_state(b2c_model), signal)
    assert decision.state.stage == "consideration"
    assert moves(decision) == [("stage", "awareness", "consideration", "evaluates_offer")]
    t = decision.stage_transition
    assert t.at == T0
    assert t.evidence.as_dict() == {
        "signal_type": "intent",
        "source": "conversation",
        "signal_id": signal.id,
        "excerpt": "how much is premium?",
        "confidence": 0.9346,
        "rule": "evaluates_offer",
    }


def test_place_order_skips_straight_to_purchase(b2c_model):
    decision = decide(b2c_model, initial_state(b2c_model), said("place_order"))
    assert decision.state.stage == "purchase"
    assert moves(decision) == [("stage", "awareness", "purchase", "decides_to_buy")]


def test_order_event_moves_to_purchase(b2c_model):
    decision = decide(b2c_model, at_stage("consideration"), event("order_paid"))
    assert moves(decision) == [("stage", "consideration", "purchase", "order_placed")]
    assert decision.stage_transition.evidence.signal_type == "event"
    assert decision.stage_transition.evidence.source == "event"


def test_furthest_matching_forward_rule_wins(b2c_model):
    # matches evaluates_offer (-> consideration) and order_received (-> retention)
    decision = decide(b2c_model, initial_state(b2c_model), said("ask_pricing", event="order_delivered"))
    assert moves(decision) == [("stage", "awareness", "retention", "order_received")]


def test_ties_between_forward_rules_keep_file_order(b2c_model):
    # decides_to_buy and order_placed both lead to purchase; decides_to_buy comes first
    decision = decide(b2c_model, initial_state(b2c_model), said("place_order", event="order_placed"))
    assert moves(decision) == [("stage", "awareness", "purchase", "decides_to_buy")]


def test_unknown_intent_does_not_move(b2c_model):
    state = at_stage("consideration")
    decision = decide(b2c_model, state, said("what_is_this"))
    assert decision.transitions == ()
    assert decision.state.stage == "consideration"


@pytest.mark.parametrize("intent", ["ask_pricing", "ask_features", "compare_products", "place_order"])
@pytest.mark.parametrize("stage", ["purchase", "retention", "advocacy"])
def test_intent_signals_never_regress(b2c_model, stage, intent):
    decision = decide(b2c_model, at_stage(stage), said(intent))
    assert decision.state.stage == stage
    assert decision.stage_transition is None


def test_same_stage_rule_does_not_create_a_transition(b2c_model):
    decision = decide(b2c_model, at_stage("consideration"), said("compare_products"))
    assert decision.transitions == ()


# -- regressions ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["order_cancelled", "order_refunded"])
def test_cancelled_order_regresses_purchase_to_consideration(b2c_model, name):
    decision = decide(b2c_model, at_stage("purchase"), event(name, excerpt=f"{name}: order=A1"))
    assert decision.state.stage == "consideration"
    assert moves(decision) == [("stage", "purchase", "consideration", "order_withdrawn")]
    assert decision.stage_transition.evidence.excerpt == f"{name}: order=A1"


@pytest.mark.parametrize("stage", ["awareness", "consideration", "retention", "advocacy"])
def test_regression_only_from_its_from_stage(b2c_model, stage):
    decision = decide(b2c_model, at_stage(stage), event("order_cancelled"))
    assert decision.state.stage == stage
    assert decision.stage_transition is None


# -- agent overrides ----------------------------------------------------------------


@pytest.mark.parametrize("frm,to", [("advocacy", "awareness"), ("awareness", "retention"), ("purchase", "consideration")])
def test_agent_can_move_anywhere(b2c_model, frm, to):
    signal = agent(to, excerpt="customer called, set manually")
    decision = decide(b2c_model, at_stage(frm), signal)
    assert decision.state.stage == to
    assert moves(decision) == [("stage", frm, to, "agent_override")]
    evidence = decision.stage_transition.evidence
    assert (evidence.signal_type, evidence.source, evidence.signal_id) == ("agent_override", "agent", signal.id)


@pytest.mark.parametrize("target", [None, "", "purchse", "loyalty"])
def test_agent_override_to_unknown_stage_is_ignored(b2c_model, target):
    decision = decide(b2c_model, at_stage("purchase"), agent(target))
    assert decision.state.stage == "purchase"
    assert decision.stage_transition is None


# -- at risk --------------------------------------------------------------------------


@pytest.mark.parametrize("emotion", ["angry", "sad"])
def test_complaint_with_negative_emotion_after_purchase_is_at_risk(b2c_model, emotion):
    decision = decide(b2c_model, at_stage("purchase"), said("complaint", emotion))
    assert decision.state.at_risk
    assert moves(decision) == [("at_risk", "off", "on", "at_risk")]


def test_complaint_without_negative_emotion_is_not_at_risk(b2c_model):
    # when_any[0] ANDs intents and emotions; complaint alone is not enough
    decision = decide(b2c_model, at_stage("retention"), said("complaint", "neutral"))
    assert not decision.state.at_risk and decision.transitions == ()


def test_anger_alone_after_purchase_is_at_risk(b2c_model):
    assert decide(b2c_model, at_stage("advocacy"), said("greet", "angry")).state.at_risk


@pytest.mark.parametrize("stage", ["awareness", "consideration"])
def test_not_at_risk_before_purchase(b2c_model, stage):
    decision = decide(b2c_model, at_stage(stage), said("complaint", "angry"))
    assert not decision.state.at_risk
    assert decision.transitions == ()


def test_at_risk_uses_the_stage_after_the_move(b2c_model):
    # an angry order from awareness lands in purchase, where at_risk applies
    decision = decide(b2c_model, initial_state(b2c_model), said("place_order", "angry"))
    assert moves(decision) == [
        ("stage", "awareness", "purchase", "decides_to_buy"),
        ("at_risk", "off", "on", "at_risk"),
    ]


def test_refund_after_delivery_is_at_risk(b2c_model):
    decision = decide(b2c_model, at_stage("retention"), event("order_refunded"))
    assert decision.state.stage == "retention" and decision.state.at_risk


def test_at_risk_is_not_set_twice(b2c_model):
    decision = decide(b2c_model, at_stage("retention", at_risk=True), said("complaint", "angry"))
    assert decision.state.at_risk and decision.transitions == ()


def test_delivery_clears_at_risk(b2c_model):
    decision = decide(b2c_model, at_stage("purchase", at_risk=True), event("order_delivered"))
    assert decision.state == replace(decision.state, stage="retention", at_risk=False)
    assert moves(decision) == [
        ("stage", "purchase", "retention", "order_received"),
        ("at_risk", "on", "off", "at_risk_cleared"),
    ]


def test_review_clears_at_risk_in_advocacy(b2c_model):
    decision = decide(b2c_model, at_stage("advocacy", at_risk=True), event("review_posted"))
    assert moves(decision) == [("at_risk", "on", "off", "at_risk_cleared")]
    assert not decision.state.at_risk


def test_unrelated_signal_keeps_at_risk(b2c_model):
    decision = decide(b2c_model, at_stage("retention", at_risk=True), said("thanks", "happy"))
    assert decision.state.at_risk and decision.transitions == ()


# -- dormancy -------------------------------------------------------------------------


def test_time_signal_marks_dormant_after_30_days(b2c_model):
    state = ContactState("retention", last_activity_at=T0)
    early = decide(b2c_model, state, tick(T0 + timedelta(days=30) - timedelta(seconds=1)))
    assert early.transitions == () and not early.state.dormant
    signal = tick(T0 + timedelta(days=30))
    decision = decide(b2c_model, state, signal)
    assert decision.state == ContactState("retention", dormant=True, last_activity_at=T0)
    assert moves(decision) == [("dormant", "off", "on", "dormant_after_inactivity")]
    evidence = decision.transitions[0].evidence
    assert (evidence.signal_type, evidence.source, evidence.signal_id) == ("inactivity", "time", signal.id)
    # a second time signal changes nothing
    again = decide(b2c_model, decision.state, tick(T0 + timedelta(days=60)))
    assert again.transitions == () and again.state == decision.state


def test_time_signal_without_any_activity_does_nothing(b2c_model):
    decision = decide(b2c_model, initial_state(b2c_model), tick(T0 + timedelta(days=400)))
    assert decision.transitions == () and decision.state == initial_state(b2c_model)


def test_time_signal_never_moves_stage_or_activity(b2c_model):
    state = ContactState("purchase", last_activity_at=T0)
    decision = decide(b2c_model, state, replace(tick(T0 + timedelta(days=1)), intent="place_order", event="order_delivered"))
    assert decision.state == state and decision.transitions == ()


def test_activity_after_dormancy_reactivates(b2c_model):
    state = ContactState("retention", dormant=True, last_activity_at=T0)
    later = T0 + timedelta(days=45)
    decision = decide(b2c_model, state, said("ask_pricing", at=later))
    assert decision.state == ContactState("retention", dormant=False, last_activity_at=later)
    assert moves(decision) == [("dormant", "on", "off", "reactivated")]
    assert decision.transitions[0].at == later


def test_dormancy_is_recorded_lazily_when_activity_follows_a_long_gap(b2c_model):
    state = ContactState("awareness", last_activity_at=T0)
    later = T0 + timedelta(days=45)
    signal = said("ask_pricing", at=later)
    decision = decide(b2c_model, state, signal)
    assert moves(decision) == [
        ("dormant", "off", "on", "dormant_after_inactivity"),
        ("dormant", "on", "off", "reactivated"),
        ("stage", "awareness", "consideration", "evaluates_offer"),
    ]
    went_dormant, came_back, _ = decision.transitions
    assert went_dormant.at == T0 + timedelta(days=30)
    assert came_back.at == later
    assert went_dormant.evidence.signal_id == signal.id
    assert decision.state == ContactState("consideration", dormant=False, last_activity_at=later)


def test_short_gap_is_not_dormancy(b2c_model):
    state = ContactState("awareness", last_activity_at=T0)
    decision = decide(b2c_model, state, said("greet", at=T0 + timedelta(days=29)))
    assert decision.transitions == ()
    assert decision.state.last_activity_at == T0 + timedelta(days=29)


def test_older_signal_does_not_move_last_activity_backwards(b2c_model):
    state = ContactState("consideration", last_activity_at=T0)
    decision = decide(b2c_model, state, said("place_order", at=T0 - timedelta(days=2)))
    assert decision.state.stage == "purchase"  # the late signal still counts
    assert decision.state.last_activity_at == T0
    assert decision.stage_transition.at == T0 - timedelta(days=2)


def test_first_activity_sets_last_activity(b2c_model):
    decision = decide(b2c_model, initial_state(b2c_model), event("order_placed", at=T0))
    assert decision.state.last_activity_at == T0


# -- evidence -------------------------------------------------------------------------


def test_excerpt_is_truncated(b2c_model):
    decision = decide(b2c_model, initial_state(b2c_model), said("ask_pricing", excerpt="x" * 500))
    assert decision.stage_transition.evidence.excerpt == "x" * EXCERPT_LENGTH
    assert EXCERPT_LENGTH == 160


@pytest.mark.parametrize(
    "signal,expected",
    [
        (Signal("a", Source.CONVERSATION, T0, intent="greet"), "intent"),
        (Signal("a", Source.CONVERSATION, T0, intent="greet", emotion="angry"), "intent"),
        (Signal("a", Source.CONVERSATION, T0, emotion="angry"), "emotion"),
        (Signal("a", Source.CONVERSATION, T0), "message"),
        (Signal("a", Source.EVENT, T0, event="order_paid"), "event"),
        (Signal("a", Source.AGENT, T0, target_stage="purchase"), "agent_override"),
        (Signal("a", Source.TIME, T0), "inactivity"),
    ],
)
def test_signal_type(signal, expected):
    assert signal.signal_type == expected


def test_decide_does_not_mutate_its_inputs(b2c_model):
    state = ContactState("purchase", at_risk=True, last_activity_at=T0)
    snapshot = replace(state)
    decide(b2c_model, state, event("order_delivered", at=T0 + timedelta(days=40)))
    assert state == snapshot


# -- properties over random signal sequences, for both shipped models --------------------

MODELS = {name: load_named_model(JOURNEYS_DIR, name) for name in ("b2c", "b2b")}


def _vocabulary():
    intents, events, emotions, stages = set(), set(), set(), set()
    for model in MODELS.values():
        matches = [r.when for r in model.signals] + [r.when for r in model.regressions]
        if model.at_risk is not None:
            matches += [*model.at_risk.when_any, *model.at_risk.clear_when_any]
        for match in matches:
            intents |= match.intents
            events |= match.events
            emotions |= match.emotions
        stages |= set(model.stage_ids)
    return (
        sorted(intents | {"greet", "thanks", "nlu_fallback", "zz_unknown_intent"}),
        sorted(events | {"zz_unknown_event", "invoice_sent"}),
        sorted(emotions | {"happy", "neutral", "zz_unknown_emotion"}),
        sorted(stages | {"zz_unknown_stage"}),
    )


INTENTS, EVENTS, EMOTIONS, STAGES = _vocabulary()

gaps = st.one_of(
    st.integers(min_value=0, max_value=3 * 3600),  # the same conversation
    st.integers(min_value=-3 * 86400, max_value=3 * 86400),  # out of order, by up to three days
    st.integers(min_value=20 * 86400, max_value=200 * 86400),  # long silences
).map(lambda s: timedelta(seconds=s))

excerpts = st.text(max_size=EXCERPT_LENGTH + 40)
confidences = st.floats(min_value=0, max_value=1, allow_nan=False)

steps = st.one_of(
    st.fixed_dictionaries(
        {
            "source": st.just(Source.CONVERSATION),
            "intent": st.one_of(st.none(), st.sampled_from(INTENTS)),
            "emotion": st.one_of(st.none(), st.sampled_from(EMOTIONS)),
            "excerpt": excerpts,
            "confidence": confidences,
        }
    ),
    st.fixed_dictionaries(
        {
            "source": st.just(Source.EVENT),
            "event": st.sampled_from(EVENTS),
            "intent": st.one_of(st.none(), st.sampled_from(INTENTS)),
            "excerpt": excerpts,
        }
    ),
    st.fixed_dictionaries({"source": st.just(Source.TIME)}),
    st.fixed_dictionaries(
        {"source": st.just(Source.AGENT), "target_stage": st.one_of(st.none(), st.sampled_from(STAGES)), "excerpt": excerpts}
    ),
)

sequences = st.lists(st.tuples(gaps, steps), min_size=1, max_size=40)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _signals(sequence):
    at = T0
    for i, (gap, fields) in enumerate(sequence):
        at = at + gap
        yield Signal(id=f"p{i}", at=at, **fields)


def _start_states(model: JourneyModel):
    return st.one_of(
        st.just(initial_state(model)),
        st.builds(
            ContactState,
            stage=st.sampled_from(model.stage_ids),
            at_risk=st.booleans(),
            dormant=st.booleans(),
            last_activity_at=st.one_of(st.none(), st.just(T0 - timedelta(days=1))),
        ),
    )


def _intent(model, signal):
    """The intent as the engine uses it: unsure conversation intents do not count."""
    unsure = signal.source is Source.CONVERSATION and signal.confidence < model.min_intent_confidence
    return None if unsure else signal.intent


def _matching_forward(model, stage, signal):
    return [
        r for r in model.signals
        if model.index(r.to) > model.index(stage)
        and (r.from_stage is None or model.index(stage) >= model.index(r.from_stage))
        and r.when.matches(_intent(model, signal), signal.event, signal.emotion)
    ]


def _matching_regressions(model, stage, signal):
    return [
        r for r in model.regressions
        if r.from_stage == stage and r.when.matches(_intent(model, signal), signal.event, signal.emotion)
    ]


def check_step(model: JourneyModel, state: ContactState, signal: Signal, decision: Decision) -> None:
    new = decision.state
    # (a) the stage is always a known stage
    assert model.has_stage(new.stage)

    stage_moves = [t for t in decision.transitions if t.kind == "stage"]
    assert len(stage_moves) <= 1
    assert {t.kind for t in decision.transitions} <= {"stage", "at_risk", "dormant"}
    for t in decision.transitions:
        assert t.evidence.signal_id == signal.id
        assert t.evidence.source == signal.source.value
        assert t.evidence.signal_type == signal.signal_type
        assert t.evidence.excerpt == signal.excerpt[:EXCERPT_LENGTH]
        assert 0 <= t.evidence.confidence <= 1

    if not stage_moves:
        assert new.stage == state.stage
        if signal.source in (Source.CONVERSATION, Source.EVENT):
            # a signal that should move the contact did move it
            assert not _matching_forward(model, state.stage, signal)
            assert not _matching_regressions(model, state.stage, signal)
    else:
        (t,) = stage_moves
        # (c) a stage transition starts from the current stage and ends in the new one
        assert (t.from_value, t.to_value, t.at) == (state.stage, new.stage, signal.at)
        assert signal.source is not Source.TIME
        if signal.source is Source.AGENT:
            assert t.to_value == signal.target_stage and t.evidence.rule == "agent_override"
        elif model.index(t.to_value) < model.index(t.from_value):
            # (b) every non-agent backward move is an allowed regression
            assert not _matching_forward(model, state.stage, signal)
            allowed = _matching_regressions(model, state.stage, signal)
            assert any(r.to == t.to_value and r.rule == t.evidence.rule for r in allowed)
            assert model.is_allowed_move(t.from_value, t.to_value)
        else:
            forward = _matching_forward(model, state.stage, signal)
            assert model.index(t.to_value) > model.index(t.from_value)
            # the furthest matching rule wins, ties in file order
            furthest = max(model.index(r.to) for r in forward)
            winner = next(r for r in forward if model.index(r.to) == furthest)
            assert (t.to_value, t.evidence.rule) == (winner.to, winner.rule)

    # side-state transitions toggle from the previous value
    for kind, before, after in (("at_risk", state.at_risk, new.at_risk), ("dormant", state.dormant, new.dormant)):
        value = before
        for t in (t for t in decision.transitions if t.kind == kind):
            assert t.from_value == ("on" if value else "off")
            assert t.to_value == ("off" if value else "on")
            value = not value
        assert value == after

    is_activity = signal.source is not Source.TIME
    risk = model.at_risk
    if new.at_risk and not state.at_risk:
        assert is_activity and risk is not None
        assert model.index(new.stage) >= model.index(risk.from_stage)
    if not is_activity:
        assert new.at_risk == state.at_risk and new.stage == state.stage
    if new.dormant and not state.dormant:
        assert not is_activity
        assert state.last_activity_at is not None
        assert signal.at - state.last_activity_at >= model.dormant_after
    if is_activity and model.dormant_after is not None:
        assert not new.dormant

    # (e) last activity never moves backwards; only activity moves it
    if is_activity:
        candidates = [x for x in (state.last_activity_at, signal.at) if x is not None]
        assert new.last_activity_at == max(candidates)
    else:
        assert new.last_activity_at == state.last_activity_at


def run(model: JourneyModel, start: ContactState, signals):
    state, history = start, []
    for signal in signals:
        decision = decide(model, state, signal)
        check_step(model, state, signal, decision)
        history.append(decision)
        state = decision.state
    return state, history


@pytest.mark.parametrize("model_name", sorted(MODELS))
@PROPERTY_SETTINGS
@given(data=st.data(), sequence=sequences)
def test_random_signal_sequences_keep_the_journey_consistent(model_name, data, sequence):
    model = MODELS[model_name]
    start = data.draw(_start_states(model), label="start")
    signals = list(_signals(sequence))

    final, history = run(model, start, signals)

    # (c) the chain of stage transitions over the whole sequence is consistent
    stage = start.stage
    for decision in history:
        for t in decision.transitions:
            if t.kind == "stage":
                assert t.from_value == stage
                stage = t.to_value
        assert decision.state.stage == stage
    assert final.stage == stage

    # (d) replaying the same inputs gives exactly the same history
    assert run(model, replace(start), [replace(s) for s in signals]) == (final, history)

    # (e) last activity is the latest activity seen, whatever the arrival order
    activity = [s.at for s in signals if s.source is not Source.TIME]
    if start.last_activity_at is not None:
        activity.append(start.last_activity_at)
    assert final.last_activity_at == (max(activity) if activity else None)


@pytest.mark.parametrize("model_name", sorted(MODELS))
@PROPERTY_SETTINGS
@given(sequence=sequences)
def test_without_agents_stage_only_goes_back_through_regressions(model_name, sequence):
    model = MODELS[model_name]
    signals = [s for s in _signals(sequence) if s.source is not Source.AGENT]
    _, history = run(model, initial_state(model), signals)
    for decision in history:
        t = decision.stage_transition
        if t is not None and model.index(t.to_value) < model.index(t.from_value):
            assert any(r.from_stage == t.from_value and r.to == t.to_value and r.rule == t.evidence.rule for r in model.regressions)


def _model_vocabulary(model: JourneyModel):
    matches = [r.when for r in model.signals] + [r.when for r in model.regressions]
    if model.at_risk is not None:
        matches += [*model.at_risk.when_any, *model.at_risk.clear_when_any]
    intents = [*sorted({i for m in matches for i in m.intents}), "zz_unknown_intent", None]
    events = [*sorted({e for m in matches for e in m.events}), "zz_unknown_event", None]
    emotions = [*sorted({e for m in matches for e in m.emotions}), "zz_unknown_emotion", None]
    return intents, events, emotions


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_every_single_signal_from_every_state(model_name):
    """Exhaustive over the model's own vocabulary: catches rare combinations (e.g. ties
    between two matching forward rules) that random sequences may miss."""
    model = MODELS[model_name]
    intents, events, emotions = _model_vocabulary(model)
    at = T0 + timedelta(hours=1)
    checked = 0
    for stage, (at_risk, dormant), intent, event_name, emotion in itertools.product(
        model.stage_ids, [(False, False), (True, False), (False, True)], intents, events, emotions
    ):
        state = ContactState(stage, at_risk=at_risk, dormant=dormant, last_activity_at=T0)
        source = Source.EVENT if event_name else Source.CONVERSATION
        signal = Signal("x", source, at, intent=intent, event=event_name, emotion=emotion)
        check_step(model, state, signal, decide(model, state, signal))
        checked += 1
    assert checked > 1000


# -- merge policy (engine.merge_decision) -----------------------------------------------------------------

MERGE_EVIDENCE = Evidence("identity_merge", "event", "merge:x", "same verified email proved by two contacts", 1.0, "identity_merge")


def test_merge_keeps_the_furthest_stage_and_records_the_change():
    survivor = ContactState("awareness", last_activity_at=T0)
    merged = ContactState("purchase", last_activity_at=T0 + timedelta(days=1))
    decision = merge_decision(MODELS["b2c"], survivor, merged, T0 + timedelta(days=2), MERGE_EVIDENCE)
    assert decision.state == ContactState("purchase", last_activity_at=T0 + timedelta(days=1))
    assert [(t.kind, t.from_value, t.to_value) for t in decision.transitions] == [("stage", "awareness", "purchase")]
    assert decision.transitions[0].evidence is MERGE_EVIDENCE
    # The other way round the survivor is already further: nothing changes.
    assert merge_decision(MODELS["b2c"], merged, survivor, T0, MERGE_EVIDENCE).transitions == ()


def test_merge_side_states_at_risk_if_either_dormant_only_if_both():
    risky = ContactState("retention", at_risk=True, dormant=True)
    quiet = ContactState("retention", dormant=True)
    active = ContactState("retention")
    decision = merge_decision(MODELS["b2c"], active, risky, T0, MERGE_EVIDENCE)
    assert (decision.state.at_risk, decision.state.dormant) == (True, False)
    assert [(t.kind, t.to_value) for t in decision.transitions] == [("at_risk", "on")]
    decision = merge_decision(MODELS["b2c"], quiet, risky, T0, MERGE_EVIDENCE)
    assert (decision.state.at_risk, decision.state.dormant) == (True, True)
    decision = merge_decision(MODELS["b2c"], risky, active, T0, MERGE_EVIDENCE)
    assert [(t.kind, t.from_value, t.to_value) for t in decision.transitions] == [("dormant", "on", "off")]
    assert decision.state.last_activity_at is None


def test_merge_with_a_stage_the_model_no_longer_has_keeps_the_survivors():
    decision = merge_decision(MODELS["b2c"], ContactState("awareness"), ContactState("retired_stage"), T0, MERGE_EVIDENCE)
    assert decision.state.stage == "awareness" and decision.transitions == ()
