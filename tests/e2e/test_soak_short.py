"""The soak (bench/soak.py) in short: 3 customers for a minute, one kill of each kind, a PostgreSQL restart.

Real Rasa, action server and console on a fresh PostgreSQL database; the action server and
Rasa are SIGKILLed and restarted, PostgreSQL is restarted (and always left running). The
targets of issue 13: no message lost, no bot reply while a person owns the chat, an apology
for every message the bot could not answer, no journey update lost.
"""
from __future__ import annotations

import pytest

from bench.soak import Fault, postgres_running, soak
from tests.conftest import require_postgres

pytestmark = pytest.mark.postgres

FAULTS = (Fault(0.15, "actions", 8.0), Fault(0.4, "rasa", 2.0), Fault(0.75, "postgres", 0.0))


@pytest.mark.xfail(
    strict=False,  # fault timing decides whether the lost turns occur

    reason="known regression (issue 15 merge, 2026-12-04): after the action server is killed mid-form, a later "
    "goodbye/thanks is answered with utter_default and not recorded (2 journey updates lost); to be fixed next",
)
def test_faults_lose_nothing_and_nobody_is_left_without_an_answer(trained_model, tmp_path):
    admin_url = require_postgres()
    said: list[str] = []
    try:
        figures = soak(1.0, 3, tmp_path / "soak", admin_url, FAULTS, say=said.append, model=trained_model)
    finally:
        assert postgres_running(), "the soak must leave PostgreSQL running"
    report = "\n".join(said + figures.lines())
    print(report)  # the figures, with -s
    assert len([line for line in said if line.startswith("  fault:")]) == 3, report
    assert figures.sent >= 9 and figures.answered > 0, report
    assert figures.lost == 0, report
    assert figures.bot_replies_while_paused == 0, report
    assert figures.journey_updates_lost == 0, report
    # Every message is answered, apologised for, or in a person's transcript.
    assert figures.answered + figures.apologised + figures.seen_by_agent == figures.sent, report
    assert figures.seen_by_agent > 0, report  # someone was in a handoff and kept writing
