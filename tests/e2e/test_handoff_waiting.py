"""Waiting for a person over the real stack: place and wait while queued, who joined, the closing line.

Real Rasa server and action server (REST channel), the staff console in this process. The
update interval comes from a copy of the business files (wait.update_every_minutes: 10); the
test moves the last update back in time in the journey store instead of waiting minutes.
"""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from devtools.stack import Stack
from journey_state.store import make_engine
from journey_state.store.migrate import upgrade
from journey_state.store.tables import handoffs
from tests.e2e.test_handoff import console_client, texts, tracker

PROJECT = Path(__file__).resolve().parents[2]
INTERVAL_MINUTES = 10


@pytest.fixture
def stack(trained_model, tmp_path):
    business = tmp_path / "business"
    shutil.copytree(PROJECT / "data" / "business", business)
    handoff_yml = business / "handoff.yml"
    shipped = handoff_yml.read_text()
    assert "update_every_minutes: 3\n" in shipped
    handoff_yml.write_text(shipped.replace("update_every_minutes: 3\n", f"update_every_minutes: {INTERVAL_MINUTES}\n"))
    url = f"sqlite:///{tmp_path / 'journeybot.db'}"
    upgrade(url)
    stack = Stack.create(trained_model, url, tmp_path / "stack", extra_env={"JOURNEYBOT_BUSINESS_DIR": str(business)})
    try:
        yield stack.start()
    finally:
        stack.stop()


def last_update_back(stack: Stack, sender: str, minutes: float) -> None:
    """As if the customer's last waiting update went out `minutes` earlier."""
    engine = make_engine(stack.settings.database_url)
    try:
        with engine.begin() as conn:
            row = conn.execute(handoffs.select().where(handoffs.c.sender_id == sender, handoffs.c.status == "queued")).one()
            assert row.acknowledged_at is not None
            conn.execute(update(handoffs).where(handoffs.c.id == row.id)
                         .values(acknowledged_at=row.acknowledged_at - timedelta(minutes=minutes)))
    finally:
        engine.dispose()


def bot_texts(stack: Stack, sender: str) -> list[tuple[str, str | None, str | None]]:
    """(text, agent, journeybot marker) of every bot event; Rasa adds model and assistant ids to the metadata."""
    return [(e["text"], (e.get("metadata") or {}).get("agent"), (e.get("metadata") or {}).get("journeybot"))
            for e in tracker(stack, sender)["events"] if e["event"] == "bot"]


def test_a_waiting_customer_hears_their_place_then_who_joined_then_the_closing_line(stack, monkeypatch):
    assert "number 1 in the queue" in texts(stack.say("ahead-e2e", "I want to talk to a human"))
    sender = "waiting-e2e"
    stack.say(sender, "hi")
    assert "number 2 in the queue" in texts(stack.say(sender, "I want to talk to a person"))
    assert tracker(stack, sender)["paused"] is True

    # Three messages while queued: the first is answered with the place and the wait, the others are not.
    first = stack.say(sender, "hello?")
    [update_text] = [m["text"] for m in first]
    assert update_text.startswith("Still in line") and "number 2" in update_text and "about 10 min" in update_text, first
    assert stack.say(sender, "is anyone there?") == []
    assert stack.say(sender, "my order never came") == []

    # Less than the configured interval later (the shipped 3 minutes would already be due): still nothing.
    last_update_back(stack, sender, INTERVAL_MINUTES / 2)
    assert stack.say(sender, "still waiting") == []
    # The interval has passed: one more update, then quiet again.
    last_update_back(stack, sender, INTERVAL_MINUTES)
    [second] = stack.say(sender, "hello??")
    assert second["text"].startswith("Still in line") and "number 2" in second["text"], second
    assert stack.say(sender, "ok") == []

    # The agent reads what the customer was told, marked as the bot's waiting updates.
    updates = [t for t, agent, marker in bot_texts(stack, sender) if marker == "waiting_update" and agent is None]
    assert updates == [update_text, second["text"]], bot_texts(stack, sender)

    app, console, token = console_client(stack, monkeypatch)
    mine = next(h for h in app.extensions["handoffs"].queue() if h.sender_id == sender)
    claimed = console.post(f"/staff/handoffs/{mine.id}/claim", data={"csrf_token": token}, headers={"Accept": "application/json"})
    assert claimed.get_json() == {"claimed": mine.id, "agent": "ann", "announced": True}
    assert bot_texts(stack, sender)[-1] == ("Ann from the team joined the chat.", "ann", None)
    # A person has the conversation now: no more waiting updates, however long ago the last one was.
    engine = make_engine(stack.settings.database_url)
    with engine.begin() as conn:
        conn.execute(update(handoffs).where(handoffs.c.id == mine.id).values(acknowledged_at=None))
    engine.dispose()
    assert stack.say(sender, "hi Ann") == []

    assert console.post(f"/staff/handoffs/{mine.id}/close", data={"csrf_token": token}).status_code == 303
    closing = app.extensions["handoffs"].config.messages["closed"]
    assert bot_texts(stack, sender)[-1] == (closing, "ann", None)
    assert tracker(stack, sender)["paused"] is False
    assert stack.say(sender, "how much is the premium plan?"), "the bot answers again after the close"
