"""Handoff rules (journey_state/handoff.py): triggers, priority, wait estimate, config validation."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from journey_state.handoff import (
    ANGRY_COMPLAINT,
    CUSTOMER_REQUEST,
    HIGH_VALUE,
    REPEATED_FALLBACK,
    MessageFacts,
    estimate_wait,
    load_handoff_config,
    message,
    priority_for,
    trigger_for,
    wait_minutes,
)
from journey_state.model import all_stage_ids
from journey_state.replies import BusinessConfigError

PROJECT = Path(__file__).resolve().parents[2]
STAGES = all_stage_ids(PROJECT / "data" / "journeys")


@pytest.fixture(scope="module")
def config():
    return load_handoff_config(PROJECT / "data" / "business" / "handoff.yml", STAGES)


@pytest.mark.parametrize(
    "facts, expected",
    [
        (MessageFacts("contact_human_agent"), CUSTOMER_REQUEST),
        (MessageFacts("complaint", emotion="angry"), ANGRY_COMPLAINT),
        (MessageFacts("complaint", emotion="sad"), None),
        (MessageFacts("nlu_fallback", recent_intents=("greet",)), None),
        (MessageFacts("nlu_fallback", recent_intents=("greet", "out_of_scope")), REPEATED_FALLBACK),
        (MessageFacts("nlu_fallback", recent_intents=("nlu_fallback", "greet")), None),
        (MessageFacts("ask_payment_plans", stage="purchase"), HIGH_VALUE),
        (MessageFacts("ask_payment_plans", stage="consideration"), None),
        # A purchase request gets its checkout link; the checkout step itself hands off a sale it cannot close.
        (MessageFacts("place_order", stage="purchase"), None),
        (MessageFacts("greet", emotion="angry", stage="purchase"), None),
    ],
)
def test_triggers(config, facts, expected):
    assert trigger_for(config, facts) == expected


FURIOUS = "my order is late again, this is ridiculous, I'm furious"


def scores_of(text: str) -> tuple[str, dict]:
    from bot.nlu.emotion import EmotionClassifier

    result = EmotionClassifier().classify(text)
    return result.label, result.scores


@pytest.mark.parametrize(
    "text, intent, stage, expected",
    [
        # The NLU reads these as order questions, not complaints: strong anger still hands off...
        (FURIOUS, "track_order", "retention", ANGRY_COMPLAINT),
        (FURIOUS, "track_order", "purchase", ANGRY_COMPLAINT),
        ("cancel my order, you are useless", "cancel_order", "purchase", ANGRY_COMPLAINT),
        # ...once the customer has bought (stages in any_intent.stages)...
        (FURIOUS, "track_order", "awareness", None),
        (FURIOUS, "track_order", None, None),
        # ...and only when it is strong: mild annoyance or sadness on another intent does not.
        ("WHERE IS MY ORDER", "track_order", "retention", None),
        ("my order is late again", "track_order", "retention", None),
        ("my order is late, I am sad", "track_order", "retention", None),
        ("where is my order", "track_order", "retention", None),
        # A complaint needs no strength: the angry label is enough (as before).
        ("WHERE IS MY ORDER", "complaint", "awareness", ANGRY_COMPLAINT),
    ],
)
def test_strong_anger_hands_off_whatever_the_intent(config, text, intent, stage, expected):
    label, scores = scores_of(text)
    assert trigger_for(config, MessageFacts(intent, label, stage, (), scores)) == expected, (label, scores)


def test_strong_emotion_needs_the_label_and_a_score(config):
    strong = {"angry": 0.99, "sad": 0.0, "neutral": 0.0, "happy": 0.0, "excited": 0.0}
    assert trigger_for(config, MessageFacts("track_order", "angry", "retention", (), strong)) == ANGRY_COMPLAINT
    # Scores without the angry label (the label decides the emotion), or a label without scores
    # (an older model): not strong anger.
    assert trigger_for(config, MessageFacts("track_order", "sad", "retention", (), strong)) is None
    assert trigger_for(config, MessageFacts("track_order", "angry", "retention")) is None
    threshold = config.triggers[ANGRY_COMPLAINT].any_intent.min_score
    at = {**strong, "angry": threshold}
    below = {**strong, "angry": threshold - 0.01}
    assert trigger_for(config, MessageFacts("track_order", "angry", "retention", (), at)) == ANGRY_COMPLAINT
    assert trigger_for(config, MessageFacts("track_order", "angry", "retention", (), below)) is None
    # The person the customer asked for comes first, whatever their mood.
    assert trigger_for(config, MessageFacts("contact_human_agent", "angry", "retention", (), strong)) == CUSTOMER_REQUEST


def test_any_intent_without_stages_fires_in_any_stage(tmp_path):
    path = tmp_path / "handoff.yml"
    path.write_text("triggers: {angry_complaint: {intents: [complaint], emotions: [angry], any_intent: {min_score: 0.5}}}")
    config = load_handoff_config(path, STAGES)
    facts = MessageFacts("ask_pricing", "angry", "awareness", (), {"angry": 0.6})
    assert trigger_for(config, facts) == ANGRY_COMPLAINT
    assert trigger_for(config, MessageFacts("ask_pricing", "angry", "awareness", (), {"angry": 0.4})) is None


def test_priority_takes_the_most_urgent_that_applies(config):
    assert priority_for(config, "awareness", False, CUSTOMER_REQUEST) == 3
    assert priority_for(config, "retention", False, CUSTOMER_REQUEST) == 2
    assert priority_for(config, "purchase", False, CUSTOMER_REQUEST) == 1
    assert priority_for(config, "awareness", True, CUSTOMER_REQUEST) == 1
    assert priority_for(config, "awareness", False, ANGRY_COMPLAINT) == 1


def test_wait_is_median_times_position_with_a_default_without_history():
    default = timedelta(minutes=5)
    assert estimate_wait([], 1, default) == timedelta(minutes=5)
    assert estimate_wait([], 3, default) == timedelta(minutes=15)
    waits = [timedelta(minutes=m) for m in (1, 2, 30)]  # one outlier does not move the median
    assert estimate_wait(waits, 2, default) == timedelta(minutes=4)
    assert wait_minutes(timedelta(seconds=5)) == 1
    assert wait_minutes(timedelta(seconds=61)) == 2


def test_message_fills_position_and_minutes(config):
    text = message(config, "queued", 2, timedelta(minutes=9, seconds=10))
    assert "number 2" in text and "about 10 min" in text


@pytest.mark.parametrize(
    "yaml_text, key",
    [
        ("triggers: {nonsense: {intents: [a]}}", "triggers.nonsense"),
        ("triggers: {customer_request: {}}", "triggers.customer_request.intents"),
        ("triggers: {angry_complaint: {intents: [complaint], emotions: [furious]}}", "triggers.angry_complaint.emotions"),
        ("triggers: {high_value: {intents: [x], stages: [moon]}}", "triggers.high_value.stages"),
        ("triggers: {repeated_fallback: {intents: [x], in_a_row: 0}}", "triggers.repeated_fallback.in_a_row"),
        ("priority: {stages: {moon: 1}}", "priority.stages.moon"),
        ("priority: {default: zero}", "priority.default"),
        ("wait: {default_minutes: -1}", "wait.default_minutes"),
        ("messages: {queued: 'wait {hours}'}", "messages.queued"),
        ("colour: blue", "colour"),
        ("triggers: {angry_complaint: {intents: [complaint], any_intent: {min_score: 0.8}}}", "triggers.angry_complaint.any_intent"),
        ("triggers: {angry_complaint: {intents: [complaint], emotions: [angry], any_intent: {}}}", "triggers.angry_complaint.any_intent.min_score"),
        ("triggers: {angry_complaint: {intents: [complaint], emotions: [angry], any_intent: {min_score: 1.5}}}", "triggers.angry_complaint.any_intent.min_score"),
        ("triggers: {angry_complaint: {intents: [complaint], emotions: [angry], any_intent: {min_score: high}}}", "triggers.angry_complaint.any_intent.min_score"),
        ("triggers: {angry_complaint: {intents: [complaint], emotions: [angry], any_intent: {min_score: 0}}}", "triggers.angry_complaint.any_intent.min_score"),
        ("triggers: {angry_complaint: {intents: [complaint], emotions: [angry], any_intent: {min_score: 0.8, stages: [moon]}}}", "triggers.angry_complaint.any_intent.stages"),
        ("triggers: {angry_complaint: {intents: [complaint], emotions: [angry], any_intent: {min_score: 0.8, mood: x}}}", "triggers.angry_complaint.any_intent.mood"),
        ("triggers: {angry_complaint: {intents: [complaint], emotions: [angry], any_intent: 0.8}}", "triggers.angry_complaint.any_intent"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, yaml_text, key):
    path = tmp_path / "handoff.yml"
    path.write_text(yaml_text)
    with pytest.raises(BusinessConfigError) as err:
        load_handoff_config(path, STAGES)
    assert str(path) in str(err.value) and key in str(err.value)


def test_follow_up_by_stage(config, tmp_path):
    assert "plans or prices" in config.follow_up("consideration")
    assert config.follow_up("awareness") == config.follow_up(None) == config.follow_ups["default"]
    path = tmp_path / "handoff.yml"
    path.write_text("follow_ups: {moon: hi}")
    with pytest.raises(BusinessConfigError, match=r"follow_ups\.moon"):
        load_handoff_config(path, STAGES)
