"""The review loop end to end: a message the model does not understand, labelled by an admin in
headless Chromium, exported with `journeybot nlu export-reviewed`, retrained, and then understood.

Real stack (REST channel, action server, console) on the shipped model. The export and the
retraining run on a copy of the project (so the checkout's data/nlu is left alone), with the
project's real config and training data plus the exported reviewed.yml: one full `rasa train`
(2-6 minutes on 2 cores), then Rasa alone on the new model answers /model/parse.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import requests
import yaml
from playwright.sync_api import expect

from bot.training import ensure_model
from devtools.stack import Stack, create_staff_user
from journey_state.review.export import REVIEWED_FILE
from tests.e2e.conftest import PROJECT

ADMIN, PASSWORD = "root", "admin password 1"
TIMEOUT_MS = 20_000
# Both fall back on the shipped model (top intent below the 0.3 threshold); a customer
# asking where their order is, in words the training data does not have.
WALKABOUT = "my parcel has gone walkabout"
REWORDED = "parcel gone walkabout"
LABEL = "track_order"


def parse(stack: Stack, text: str) -> dict:
    response = requests.post(f"{stack.settings.rasa_url}/model/parse", params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]},
                             json={"text": text}, timeout=60)
    response.raise_for_status()
    return response.json()


def project_copy(target):
    target.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy(PROJECT / name, target / name)
    shutil.copytree(PROJECT / "data", target / "data", ignore=shutil.ignore_patterns(REVIEWED_FILE))
    return target


@pytest.mark.timeout(1500)
def test_a_fallback_labelled_in_the_console_is_understood_after_export_and_retraining(
    stack_factory, sqlite_db, trained_model, browser, tmp_path, monkeypatch
):
    # PYTHONPATH: the processes run this checkout's code even where the venv's editable install names another.
    here = {"PYTHONPATH": str(PROJECT)}
    stack = stack_factory(sqlite_db, "review", extra_env={"JOURNEYBOT_CONSOLE_SECRET": "review-e2e-secret" * 3, **here})
    create_staff_user(sqlite_db, ADMIN, PASSWORD, role="admin")
    assert parse(stack, WALKABOUT)["intent"]["name"] == "nlu_fallback"
    stack.say("walkabout-1", WALKABOUT)
    stack.say("walkabout-2", REWORDED)
    stack.say("walkabout-3", "where is my order")  # understood: not for review

    # -- the admin labels the group in the console ------------------------------------------------
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{stack.settings.console_url}/staff/review/")
    expect(page).to_have_url(re.compile(r".*/staff/login\b.*"))
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r".*/staff/review/$"))
    group = page.locator("section.review-group", has_text=WALKABOUT)
    expect(group).to_have_count(1)
    expect(group).to_contain_text(REWORDED)  # similar wordings are one group
    expect(group.locator("h2")).to_contain_text("2 messages")
    expect(group).to_contain_text("fallback 2")
    expect(page.locator("body")).not_to_contain_text("where is my order")
    group.get_by_label("Intent").select_option(LABEL)
    group.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Labelled 2 message(s) as '{LABEL}'")
    expect(page.locator("section.review-group", has_text=WALKABOUT)).to_have_count(0)
    assert errors == []
    context.close()
    stack.stop()  # its CPU is the training's now

    # -- export and retrain on a copy of the project --------------------------------------------------
    project = project_copy(tmp_path / "project")
    env = {**os.environ, "JOURNEYBOT_DATABASE_URL": sqlite_db, "JOURNEYBOT_PROJECT_DIR": str(project),
           "JOURNEYBOT_VAR_DIR": str(tmp_path / "export-var"), "PYTHONPATH": str(PROJECT)}
    exported = subprocess.run([sys.executable, "-m", "bot.cli", "nlu", "export-reviewed"], cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert "wrote 2 example(s)" in exported.stdout
    reviewed = yaml.safe_load((project / "data/nlu" / REVIEWED_FILE).read_text())
    assert reviewed["nlu"] == [{"intent": LABEL, "examples": f"- {WALKABOUT}\n- {REWORDED}\n"}]

    monkeypatch.setenv("PYTHONPATH", str(PROJECT))  # the pipeline's custom components, for `rasa train` in the copy
    rasa = os.path.join(os.path.dirname(sys.executable), "rasa")
    validated = subprocess.run([rasa, "data", "validate", "--fail-on-warnings", "--domain", "domain.yml", "--config", "config.yml",
                                "--data", "data/nlu", "data/rules"], cwd=project, env={**os.environ}, capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-3000:]
    retrained = ensure_model(project, tmp_path / "models", quiet=True)
    assert retrained.name != trained_model.name  # reviewed.yml is part of the fingerprint

    fresh = Stack.create(retrained, sqlite_db, tmp_path / "retrained", extra_env=here)
    try:
        fresh.start(names=("rasa",))
        understood = parse(fresh, WALKABOUT)
    finally:
        fresh.stop()
    assert understood["intent"]["name"] == LABEL, understood["intent_ranking"][:3]
