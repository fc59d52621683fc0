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

    nlu = copy / "data/nlu/chitchat.yml"
    nlu.write_text(nlu.read_text().replace("- hiya\n", "- hiya\n      - hey hey\n"))
    assert fingerprint(copy) != before


def test_every_intent_with_a_rule_has_a_reply():
    import yaml

    from journey_state.replies import load_replies

    domain = yaml.safe_load((PROJECT / "domain.yml").read_text())
    replies = load_replies(PROJECT / "data/business", ["awareness", "consideration", "purchase", "retention", "advocacy"])
    missing = [i for i in domain["intents"] if i != "nlu_fallback" and not replies.has(i)]
    assert missing == []
