"""Journey model loading and validation (journey_state/model.py)."""
from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest
import yaml

from journey_state.errors import JourneyModelError
from journey_state.model import Match, load_model, load_named_model, parse_duration, parse_model

B2C_STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")
B2B_STAGES = (
    "out_of_market",
    "action",
    "initial_brand_consideration",
    "active_evaluation",
    "purchase_decision",
    "experience",
    "loyalty",
)

VALID = {
    "id": "mini",
    "label": "Mini journey",
    "initial_stage": "one",
    "stages": [
        {"id": "one", "label": "One"},
        {"id": "two", "label": "Two"},
        {"id": "three", "label": "Three"},
    ],
    "signals": [
        {"rule": "to_two", "to": "two", "when": {"intents": ["ask"]}},
        {"rule": "to_three", "to": "three", "when": {"events": ["bought"]}},
    ],
    "regressions": [
        {"rule": "back_to_two", "from": "three", "to": "two", "when": {"events": ["cancelled"]}},
    ],
    "side_states": {
        "at_risk": {"from_stage": "two", "when_any": [{"emotions": ["angry"]}], "clear_when_any": [{"events": ["bought"]}]},
        "dormant": {"after": "30d"},
    },
}


def model_data(**changes):
    data = copy.deepcopy(VALID)
    data.update(copy.deepcopy(changes))
    return data


def write(tmp_path, data, name="mini.yml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def load_error(tmp_path, data) -> tuple[str, str]:
    path = write(tmp_path, data)
    with pytest.raises(JourneyModelError) as info:
        load_model(path)
    return str(info.value), str(path)


# -- the shipped models -------------------------------------------------------


def test_b2c_model_loads(journeys_dir):
    model = load_named_model(journeys_dir, "b2c")
    assert model.id == "b2c"
    assert model.stage_ids == B2C_STAGES
    assert model.initial_stage == "awareness"
    assert [s.index for s in model.stages] == list(range(5))
    assert model.dormant_after == timedelta(days=30)
    assert model.at_risk is not None and model.at_risk.from_stage == "purchase"
    assert [(r.from_stage, r.to) for r in model.regressions] == [("purchase", "consideration")]
    assert model.source.endswith("b2c.yml")


def test_b2b_model_loads(journeys_dir):
    model = load_named_model(journeys_dir, "b2b")
    assert model.id == "b2b"
    assert model.stage_ids == B2B_STAGES
    assert model.initial_stage == "out_of_market"
    assert model.dormant_after == timedelta(days=90)
    assert model.at_risk is not None and model.at_risk.from_stage == "purchase_decision"


def test_shipped_model_signal_rules_point_forward(journeys_dir):
    for name in ("b2c", "b2b"):
        model = load_named_model(journeys_dir, name)
        for rule in model.signals:
            assert model.index(rule.to) > model.index(model.initial_stage)
        for reg in model.regressions:
            assert model.index(reg.to) < model.index(reg.from_stage)


def test_all_stage_ids_covers_every_shipped_model(journeys_dir):
    from journey_state.model import all_stage_ids

    assert all_stage_ids(journeys_dir) == frozenset(B2C_STAGES) | frozenset(B2B_STAGES)


def test_minimal_valid_model_parses():
    model = parse_model(copy.deepcopy(VALID), "mini.yml")
    assert model.stage_ids == ("one", "two", "three")
    assert model.signals[0].when == Match(intents=frozenset({"ask"}))
    assert model.is_allowed_move("three", "two")
    assert not model.is_allowed_move("three", "one")
    assert model.is_allowed_move("one", "three")


def test_side_states_are_optional():
    data = model_data()
    del data["side_states"]
    model = parse_model(data, "mini.yml")
    assert model.at_risk is None and model.dormant_after is None


def test_initial_stage_defaults_to_first_stage():
    data = model_data()
    del data["initial_stage"]
    assert parse_model(data, "mini.yml").initial_stage == "one"


def test_unknown_model_id_lists_available(journeys_dir):
    with pytest.raises(JourneyModelError) as info:
        load_named_model(journeys_dir, "b2x")
    message = str(info.value)
    assert "b2x.yml" in message and "b2c" in message and "b2b" in message


def test_model_id_must_match_file_name(tmp_path):
    write(tmp_path, model_data(id="other"), name="mini.yml")
    with pytest.raises(JourneyModelError, match=r"mini\.yml: id: is 'other' but the file name says 'mini'"):
        load_named_model(tmp_path, "mini")


def test_unreadable_file_is_a_model_error(tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(JourneyModelError, match=re.escape(str(missing))):
        load_model(missing)


# -- validation errors name the file and the key ------------------------------


def test_malformed_yaml_reports_line_and_column(tmp_path):
    message, path = load_error(tmp_path, "id: mini\nlabel: Mini\nstages:\n  - id: one\n    label: [unclosed\n")
    assert message.startswith(f"{path}: malformed YAML (line ")
    assert re.search(r"\(line \d+, column \d+\)", message)


def test_malformed_yaml_points_at_the_bad_line(tmp_path):
    message, _ = load_error(tmp_path, "id: mini\nlabel: Mini\n  stages: x\n")
    assert "(line 3, column 9)" in message


def test_empty_file_is_rejected(tmp_path):
    message, path = load_error(tmp_path, "")
    assert message == f"{path}: (top level): expected a mapping, got NoneType"


def test_unknown_top_level_key(tmp_path):
    message, path = load_error(tmp_path, model_data(stagez=[]))
    assert message == f"{path}: stagez: unknown key"


def test_duplicate_stage_id(tmp_path):
    data = model_data()
    data["stages"].append({"id": "two", "label": "Two again"})
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: stages[3].id: duplicate stage id 'two'"


def test_invalid_stage_id(tmp_path):
    data = model_data()
    data["stages"][1]["id"] = "Two Stage"
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: stages[1].id: 'Two Stage' is not a valid id")


def test_stage_without_label(tmp_path):
    data = model_data()
    del data["stages"][2]["label"]
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: stages[2].label: required text is missing or empty"


def test_needs_two_stages(tmp_path):
    data = model_data(stages=[{"id": "one", "label": "One"}], signals=[], regressions=[], side_states={})
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: stages: a journey needs at least two stages"


def test_duplicate_signal_rule_name(tmp_path):
    data = model_data()
    data["signals"][1]["rule"] = "to_two"
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: signals[1].rule: duplicate rule name 'to_two'"


def test_regression_rule_name_clashing_with_signal_rule(tmp_path):
    data = model_data()
    data["regressions"][0]["rule"] = "to_three"
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: regressions[0].rule: duplicate rule name 'to_three'"


def test_unknown_stage_in_signal_rule(tmp_path):
    data = model_data()
    data["signals"][1]["to"] = "thre"
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: signals[1].to: unknown stage 'thre' (stages: one, two, three)"


def test_unknown_initial_stage(tmp_path):
    message, path = load_error(tmp_path, model_data(initial_stage="zero"))
    assert message.startswith(f"{path}: initial_stage: unknown stage 'zero'")


@pytest.mark.parametrize("key", ["from", "to"])
def test_unknown_stage_in_regression(tmp_path, key):
    data = model_data()
    data["regressions"][0][key] = "nowhere"
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: regressions[0].{key}: unknown stage 'nowhere' (stages: one, two, three)")


def test_unknown_stage_in_at_risk_side_state(tmp_path):
    data = model_data()
    data["side_states"]["at_risk"]["from_stage"] = "purchse"
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: side_states.at_risk.from_stage: unknown stage 'purchse'")


def test_unknown_side_state(tmp_path):
    data = model_data()
    data["side_states"]["churned"] = {"after": "1d"}
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: side_states.churned: unknown side state (use at_risk, dormant)"


@pytest.mark.parametrize("frm,to", [("two", "three"), ("two", "two")])
def test_regression_must_move_backward(tmp_path, frm, to):
    data = model_data()
    data["regressions"][0].update({"from": frm, "to": to})
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: regressions[0]: {frm} -> {to} is not a backward move"


def test_forward_rule_that_can_never_fire(tmp_path):
    data = model_data(initial_stage="two")
    data["signals"].append({"rule": "back_to_one", "to": "one", "when": {"intents": ["hello"]}})
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: signals[0].to: 'two' is not after the initial stage 'two'")
    assert "can never fire" in message


def test_unreachable_stage(tmp_path):
    data = model_data()
    data["stages"].append({"id": "four", "label": "Four"})
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: stages[3]: stage 'four' is unreachable")


def test_stage_reachable_only_by_regression_is_fine():
    data = model_data()
    data["signals"] = [{"rule": "to_three", "to": "three", "when": {"events": ["bought"]}}]
    model = parse_model(data, "mini.yml")
    assert model.stage_ids == ("one", "two", "three")


@pytest.mark.parametrize("after", ["soon", "0d", "-1d", 0, -3, True, "30 days", None])
def test_bad_dormancy_duration(tmp_path, after):
    data = model_data()
    data["side_states"]["dormant"]["after"] = after
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: side_states.dormant.after: ")


def test_unknown_condition_in_when(tmp_path):
    data = model_data()
    data["signals"][0]["when"] = {"intent": ["ask"]}
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: signals[0].when: unknown condition 'intent' (use intents, events, emotions)"


def test_unknown_condition_in_regression_when(tmp_path):
    data = model_data()
    data["regressions"][0]["when"] = {"events": ["cancelled"], "mood": ["x"]}
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: regressions[0].when: unknown condition 'mood'")


def test_unknown_condition_in_at_risk(tmp_path):
    data = model_data()
    data["side_states"]["at_risk"]["clear_when_any"] = [{"event": ["bought"]}]
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: side_states.at_risk.clear_when_any[0]: unknown condition 'event'")


def test_empty_when(tmp_path):
    data = model_data()
    data["signals"][0]["when"] = {}
    message, path = load_error(tmp_path, data)
    assert message.startswith(f"{path}: signals[0].when: a condition needs at least one of")


def test_when_values_must_be_a_list_of_names(tmp_path):
    data = model_data()
    data["signals"][0]["when"] = {"intents": "ask"}
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: signals[0].when.intents: expected a list, got str"
    data["signals"][0]["when"] = {"intents": ["ask", ""]}
    message, path = load_error(tmp_path, data)
    assert message == f"{path}: signals[0].when.intents[1]: must be a non-empty name"


def test_parse_model_uses_its_source_in_messages():
    with pytest.raises(JourneyModelError, match=r"^inline: stagez: unknown key$"):
        parse_model(model_data(stagez=1), "inline")


# -- durations ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("45m", timedelta(minutes=45)),
        ("90s", timedelta(seconds=90)),
        (" 7 d ", timedelta(days=7)),
        (3, timedelta(days=3)),
        (1.5, timedelta(days=1.5)),
    ],
)
def test_parse_duration(value, expected):
    assert parse_duration(value, "k") == expected


@pytest.mark.parametrize("value", [0, "0d", "-1d", -1, "soon", True, False, "30", "d", "1y", None, "1.5d"])
def test_parse_duration_rejects(value):
    with pytest.raises(JourneyModelError) as info:
        parse_duration(value, "side_states.dormant.after")
    assert str(info.value).startswith("side_states.dormant.after: ")
    assert repr(value) in str(info.value)
