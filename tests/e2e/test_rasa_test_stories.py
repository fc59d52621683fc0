"""`rasa test` on the conversation test stories, with --fail-on-prediction-errors, against the trained model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import PROJECT


def test_test_stories_predict_every_step(trained_model, tmp_path):
    rasa = Path(sys.executable).with_name("rasa")
    result = subprocess.run(
        [str(rasa), "test", "core", "--model", str(trained_model), "--stories", str(PROJECT / "tests/stories"),
         "--endpoints", str(PROJECT / "endpoints.yml"), "--fail-on-prediction-errors", "--out", str(tmp_path / "results")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env={**os.environ, "JOURNEYBOT_ACTIONS_URL": "http://127.0.0.1:1/webhook", "JOURNEYBOT_ACTIONS_TOKEN": "unused", "JOURNEYBOT_DATABASE_URL": f"sqlite:///{tmp_path}/t.db"},
        timeout=900,
    )
    failed = tmp_path / "results" / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, (result.stdout[-3000:] + result.stderr[-3000:] + details[-3000:])
    assert "None of the test stories failed" in details or details.strip() in ("", "# None of the test stories failed - all good!")
