"""NPS / CSAT parsing and the journey consequence (journey_state/feedback.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from journey_state.engine import ContactState, Source, decide
from journey_state.feedback import (
    CSAT,
    FEEDBACK_EVENTS,
    NPS,
    InvalidScore,
    Score,
    check_score,
    feedback_signal,
    parse_csat,
    parse_nps,
    parse_score,
    score,
)
from journey_state.model import JourneyModel, parse_model

JOURNEYS_DIR = Path(__file__).resolve().parents[2] / "data" / "journeys"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("9", 9),
        (" 0 ", 0),
        ("10", 10),
        ("nine", 9),
        ("Nine!", 9),
        ("ZERO", 0),
        ("10/10", 10),
        ("8 / 10", 8),
        ("7 out of 10", 7),
        ("ten out of ten", 10),
        ("I'd say 8", 8),
        ("9 - great service", 9),
        ("10 10 10!!!", 10),
        ("９", 9),  # noqa: RUF001 - a full-width digit
        ("9️⃣", 9),  # keycap emoji
        ("🔟", 10),
        ("one", 1),
        ('/nps{"score": 9}', 9),
        ('/rate{"nps": 3}', 3),
        ('/answer{"value": "10/10"}', 10),
        ('/nps{"x": 6}', 6),  # a single value, whatever its name
        ("/nps_7", 7),
        (9, 9),
        (9.0, 9),
    ],
)
def test_nps_answers(answer, expected):
    assert parse_nps(answer) == expected
    assert parse_score(NPS, answer) == expected


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("4", 4),
        ("5 stars", 5),
        ("1 star", 1),
        ("⭐⭐⭐⭐", 4),
        ("⭐️⭐️⭐️", 3),  # with emoji variation selectors
        ("★★★☆☆", 3),
        ("🌟🌟🌟🌟🌟", 5),
        ("4 ⭐", 4),
        ("4/5", 4),
        ("three out of five", 3),
        ("one out of five", 1),
        ("two", 2),
        ("this one was fine, 4", 4),  # "this one" is not a 1
        ('/csat{"score": 5}', 5),
        ('/csat{"rating": 2}', 2),
        (3, 3),
    ],
)
def test_csat_answers(answer, expected):
    assert parse_csat(answer) == expected


@pytest.mark.parametrize(
    "kind, answer, problem",
    [
        (NPS, "11", "11 is out of range"),
        (NPS, "-1", "-1 is out of range"),
        (NPS, "100", "100 is out of range"),
        (NPS, "7.5", "7.5 is not a whole number"),
        (NPS, "great", "no score found in 'great'"),
        (NPS, "", "no score found"),
        (NPS, "8-9", "several numbers (8, 9)"),
        (NPS, "4/5", "4/5 is a score out of 5, not out of 10"),
        (NPS, "5 stars", "is a star rating, not a 0-10 score"),
        (NPS, "⭐⭐⭐⭐⭐", "is a star rating"),
        (NPS, '/nps{"score": 12}', "12 is out of range"),
        (NPS, "/nps{not json}", "malformed button payload"),
        (NPS, '/nps{"a": 1, "b": 2}', "holds no score"),
        (NPS, "/nps{}", "holds no score"),
        (NPS, True, "True is not an answer"),
        (NPS, None, "None is not an answer"),
        (NPS, 9.5, "9.5 is not a whole number"),
        (NPS, "9" * 600, "too long"),
        (CSAT, "great", "no score found in 'great'"),
        (CSAT, "0", "0 is out of range"),
        (CSAT, "6", "6 is out of range"),
        (CSAT, "11", "11 is out of range"),
        (CSAT, "10/10", "10/10 is a score out of 10, not out of 5"),
        (CSAT, "⭐⭐⭐⭐⭐⭐", "6 is out of range"),
        (CSAT, "this one", "no score found"),
        # Digits buried in other text are no score (the form would have stored 2 for this XSS probe).
        (NPS, "<svg/onload=alert(2)>", "does not look like a score"),
        (NPS, "<img src=x onerror=alert(9)>", "does not look like a score"),
        (NPS, "{{7*7}}", "does not look like a score"),
        (NPS, "abc9", "no score found"),
        (NPS, "call me at 9am", "no score found"),
        (CSAT, "room4", "no score found"),
        (CSAT, "a=4", "does not look like a score"),
    ],
)
def test_invalid_answers_say_what_is_expected(kind, answer, problem):
    with pytest.raises(InvalidScore) as err:
        parse_score(kind, answer)
    assert problem in str(err.value)
    assert err.value.kind == kind
    assert err.value.answer == answer
    if kind == NPS:
        assert "expected a whole number from 0 (not at all likely) to 10 (extremely likely)" in str(err.value)
    else:
        assert "expected a rating from 1 (very dissatisfied) to 5 (very satisfied)" in str(err.value)


def test_invalid_score_is_a_value_error():
    assert issubclass(InvalidScore, ValueError)


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown feedback kind 'ces'"):
        parse_score("ces", "3")


@given(st.integers(0, 10))
def test_every_nps_value_round_trips(value):
    assert parse_nps(str(value)) == value
    assert parse_nps(f"{value}/10") == value
    assert parse_nps(f'/nps{{"score": {value}}}') == value


@given(st.integers(1, 5))
def test_every_csat_value_round_trips(value):
    assert parse_csat(str(value)) == value
    assert parse_csat("⭐" * value) == value
    assert parse_csat(f"{value} stars") == value


@settings(max_examples=300)
@given(kind=st.sampled_from([NPS, CSAT]), answer=st.text(max_size=30) | st.integers(-100, 100))
def test_any_answer_is_a_valid_score_or_invalid_score(kind, answer):
    """Never another exception, never an out-of-range value: the DB CHECK cannot be hit."""
    try:
        value = parse_score(kind, answer)
    except InvalidScore:
        return
    low, high = (0, 10) if kind == NPS else (1, 5)
    assert low <= value <= high


# -- categories and signals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, value, category, event",
    [
        (NPS, 10, "promoter", "nps_promoter"),
        (NPS, 9, "promoter", "nps_promoter"),
        (NPS, 8, "passive", "nps_passive"),
        (NPS, 7, "passive", "nps_passive"),
        (NPS, 6, "detractor", "nps_detractor"),
        (NPS, 0, "detractor", "nps_detractor"),
        (CSAT, 5, "high", "csat_high"),
        (CSAT, 4, "high", "csat_high"),
        (CSAT, 3, "neutral", "csat_neutral"),
        (CSAT, 2, "low", "csat_low"),
        (CSAT, 1, "low", "csat_low"),
    ],
)
def test_categories(kind, value, category, event):
    s = Score(kind, value)
    assert (s.category, s.event) == (category, event)
    assert event in FEEDBACK_EVENTS


def test_score_refuses_out_of_range_values():
    with pytest.raises(InvalidScore):
        Score(CSAT, 0)
    with pytest.raises(InvalidScore):
        check_score(NPS, 11)
    assert score(NPS, "nine") == Score(NPS, 9)


def test_feedback_signal():
    signal = feedback_signal(Score(NPS, 10), "feedback:nps:m1", T0, comment="  Love the beans  ")
    assert signal.id == "feedback:nps:m1"
    assert signal.source is Source.CONVERSATION
    assert signal.event == "nps_promoter" and signal.intent is None and signal.emotion is None
    assert signal.excerpt == "NPS 10/10: Love the beans"
    assert signal.signal_type == "event"
    long = feedback_signal(Score(CSAT, 1), "x", T0, Source.EVENT, comment="x" * 500)
    assert long.source is Source.EVENT and len(long.excerpt) == 160 and long.excerpt.startswith("CSAT 1/5: ")


# -- the YAML lines proposed for the journey models ---------------------------------------------------------

# Added to `signals:` (b2c: to advocacy; b2b: to loyalty) and to `side_states.at_risk.when_any`.
PROPOSED = {
    "b2c": {"rule": {"rule": "promoter_feedback", "to": "advocacy", "when": {"events": ["nps_promoter"]}}},
    "b2b": {"rule": {"rule": "promoter_feedback", "to": "loyalty", "when": {"events": ["nps_promoter"]}}},
}
AT_RISK_ENTRY = {"events": ["nps_detractor", "csat_low"]}


def model_with_feedback_rules(model_id: str) -> JourneyModel:
    path = JOURNEYS_DIR / f"{model_id}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    events = {e for rule in data["signals"] for e in rule["when"].get("events", [])}
    if "nps_promoter" not in events:
        data["signals"].append(PROPOSED[model_id]["rule"])
    risk_events = {e for m in data["side_states"]["at_risk"]["when_any"] for e in m.get("events", [])}
    if not {"nps_detractor", "csat_low"} <= risk_events:
        data["side_states"]["at_risk"]["when_any"].append(AT_RISK_ENTRY)
    return parse_model(data, str(path))


@pytest.mark.parametrize("model_id, advocacy, after_purchase", [("b2c", "advocacy", "retention"), ("b2b", "loyalty", "experience")])
def test_proposed_model_lines_give_the_journey_consequences(model_id, advocacy, after_purchase):
    model = model_with_feedback_rules(model_id)
    state = ContactState(stage=after_purchase)

    promoter = decide(model, state, feedback_signal(Score(NPS, 9), "f1", T0))
    assert promoter.state.stage == advocacy
    assert promoter.stage_transition.evidence.rule == "promoter_feedback"

    for answer in (Score(NPS, 6), Score(NPS, 0), Score(CSAT, 2), Score(CSAT, 1)):
        detractor = decide(model, state, feedback_signal(answer, "f2", T0))
        assert detractor.state.at_risk and detractor.state.stage == after_purchase, answer

    for answer in (Score(NPS, 7), Score(NPS, 8), Score(CSAT, 3), Score(CSAT, 5)):
        neutral = decide(model, state, feedback_signal(answer, "f3", T0))
        assert neutral.transitions == () and neutral.state.stage == after_purchase, answer
