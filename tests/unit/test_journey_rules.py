"""Shipped journey rules that involve several parts: feedback signals and `from_stage`."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from journey_state.engine import ContactState, Signal, Source, decide
from journey_state.errors import JourneyModelError
from journey_state.model import parse_model

AT = datetime(2026, 6, 1, tzinfo=timezone.utc)


def promoter(model_id):
    return Signal(f"fb-{model_id}", Source.CONVERSATION, AT, event="nps_promoter")


@pytest.mark.parametrize("stage, expected", [("awareness", "awareness"), ("consideration", "consideration"), ("purchase", "advocacy"), ("retention", "advocacy")])
def test_promoter_moves_to_advocacy_only_after_purchase(b2c_model, stage, expected):
    decision = decide(b2c_model, ContactState(stage=stage), promoter("b2c"))
    assert decision.state.stage == expected
    if expected != stage:
        assert decision.stage_transition.evidence.rule == "promoter_feedback"


def test_b2b_promoter_reaches_loyalty_from_purchase_decision(b2b_model):
    assert decide(b2b_model, ContactState(stage="experience"), promoter("b2b")).state.stage == "loyalty"
    assert decide(b2b_model, ContactState(stage="active_evaluation"), promoter("b2b")).state.stage == "active_evaluation"


def recommends(confidence):
    return Signal("msg-1", Source.CONVERSATION, AT, intent="refer_friend", confidence=confidence, excerpt="I'd recommend you to all my friends")


@pytest.mark.parametrize("stage, expected", [("awareness", "awareness"), ("consideration", "consideration"), ("purchase", "advocacy"), ("retention", "advocacy")])
def test_saying_you_recommend_us_after_buying_makes_an_advocate(b2c_model, stage, expected):
    decision = decide(b2c_model, ContactState(stage=stage), recommends(0.9))
    assert decision.state.stage == expected
    if expected != stage:
        assert decision.stage_transition.evidence.rule == "recommends_in_words"


def test_recommending_needs_the_models_confidence(b2c_model, b2b_model):
    assert decide(b2c_model, ContactState(stage="retention"), recommends(0.55)).state.stage == "retention"
    assert decide(b2b_model, ContactState(stage="experience"), recommends(0.9)).state.stage == "loyalty"
    assert decide(b2b_model, ContactState(stage="active_evaluation"), recommends(0.9)).state.stage == "active_evaluation"


@pytest.mark.parametrize("event", ["nps_detractor", "csat_low"])
def test_bad_feedback_after_purchase_sets_at_risk(b2c_model, event):
    decision = decide(b2c_model, ContactState(stage="retention"), Signal("x", Source.CONVERSATION, AT, event=event))
    assert decision.state.at_risk and decision.transitions[-1].kind == "at_risk"
    assert not decide(b2c_model, ContactState(stage="awareness"), Signal("x", Source.CONVERSATION, AT, event=event)).state.at_risk


def test_promoter_clears_at_risk(b2c_model):
    state = ContactState(stage="advocacy", at_risk=True)
    assert decide(b2c_model, state, promoter("b2c")).state.at_risk is False


def _model(from_stage):
    return {
        "id": "t", "label": "T",
        "stages": [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}, {"id": "c", "label": "C"}],
        "signals": [
            {"rule": "to_b", "to": "b", "when": {"intents": ["x"]}},
            {"rule": "to_c", "to": "c", "from_stage": from_stage, "when": {"intents": ["y"]}},
        ],
    }


def test_from_stage_must_be_a_known_earlier_stage():
    with pytest.raises(JourneyModelError, match=r"t.yml: signals\[1\].from_stage: unknown stage 'z'"):
        parse_model(_model("z"), "t.yml")
    with pytest.raises(JourneyModelError, match=r"signals\[1\].from_stage: 'c' is not before 'c'"):
        parse_model(_model("c"), "t.yml")
    model = parse_model(_model("b"), "t.yml")
    assert decide(model, ContactState("a"), Signal("1", Source.CONVERSATION, AT, intent="y")).state.stage == "a"
    assert decide(model, ContactState("b"), Signal("2", Source.CONVERSATION, AT, intent="y")).state.stage == "c"


def test_unsure_intents_never_move_a_contact_but_their_emotion_counts(b2c_model):
    assert b2c_model.min_intent_confidence == 0.6
    unsure = Signal("u", Source.CONVERSATION, AT, intent="place_order", confidence=0.32)
    assert decide(b2c_model, ContactState("awareness"), unsure).state.stage == "awareness"
    sure = Signal("s", Source.CONVERSATION, AT, intent="place_order", confidence=0.95)
    assert decide(b2c_model, ContactState("awareness"), sure).state.stage == "purchase"
    angry = Signal("a", Source.CONVERSATION, AT, intent="complaint", emotion="angry", confidence=0.2)
    decision = decide(b2c_model, ContactState("retention"), angry)
    assert decision.state.at_risk and decision.transitions[-1].evidence.signal_type == "intent"


@pytest.mark.parametrize("value", [-0.1, 1.5, "high", True])
def test_min_intent_confidence_is_validated(value):
    data = _model(None)
    data["min_intent_confidence"] = value
    with pytest.raises(JourneyModelError, match=r"t.yml: min_intent_confidence: must be a number from 0 to 1"):
        parse_model(data, "t.yml")
