"""The Rasa project files: `rasa data validate` is clean, and training inputs are fingerprinted."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bot.training import fingerprint, training_data_dirs

PROJECT = Path(__file__).resolve().parents[2]


def test_rasa_data_validate_passes_with_warnings_as_errors():
    rasa = Path(sys.executable).with_name("rasa")
    result = subprocess.run(
        [str(rasa), "data", "validate", "--fail-on-warnings", "--domain", "domain.yml", "--config", "config.yml",
         "--data", *[str(d) for d in training_data_dirs(PROJECT)]],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_fingerprint_changes_with_training_data_only(tmp_path):
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy(PROJECT / name, copy / name)
    shutil.copytree(PROJECT / "data", copy / "data")
    before = fingerprint(copy)
    assert fingerprint(copy) == before

    replies = copy / "data/business/replies.yml"
    replies.write_text(replies.read_text() + "\n# reworded\n")
    assert fingerprint(copy) == before, "business replies are read at run time and need no retraining"

    nlu = copy / "data/nlu/journeybot_extra.yml"
    nlu.write_text(nlu.read_text() + "\n# a comment changes the file, so the model is retrained\n")
    assert fingerprint(copy) != before


def _intents(step: dict) -> list[str]:
    """The intents a rule step matches: one, or each of an `or` step's."""
    if "or" in step:
        return [i for alternative in step["or"] for i in _intents(alternative)]
    return [step["intent"]] if "intent" in step else []


def test_every_intent_answered_by_action_journey_turn_has_a_reply():
    import yaml

    from journey_state.model import all_stage_ids
    from journey_state.replies import load_replies

    rules = yaml.safe_load((PROJECT / "data/rules/answers.yml").read_text())["rules"]
    answered = {i for r in rules if r["steps"][1] == {"action": "action_journey_turn"} for i in _intents(r["steps"][0])}
    replies = load_replies(PROJECT / "data/business", all_stage_ids(PROJECT / "data/journeys"))
    assert len(answered) > 30
    assert sorted(i for i in answered - {"nlu_fallback"} if not replies.has(i)) == []


def test_every_domain_intent_is_handled_by_a_rule():
    import yaml

    domain = yaml.safe_load((PROJECT / "domain.yml").read_text())
    handled = set()
    for path in (PROJECT / "data/rules").glob("*.yml"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            handled |= {intent for step in rule["steps"] for intent in _intents(step)}
    assert sorted(set(domain["intents"]) - handled) == []
