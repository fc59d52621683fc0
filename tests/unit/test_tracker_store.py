"""journeybot's SQL tracker store: a message that cannot be stored fails its turn, not the server."""
from __future__ import annotations

import asyncio

import pytest
import yaml
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import JourneybotSQLTrackerStore
from tests.conftest import PROJECT


def tracker(sender: str, text: str) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, [UserUttered(text, {"name": "greet", "confidence": 1.0})])


def test_an_unstorable_sender_id_kills_rasas_store_but_not_ours(tmp_path):
    url = f"sqlite:///{tmp_path / 'rasa.db'}"
    ours = JourneybotSQLTrackerStore(host=url, domain=Domain.empty())
    with pytest.raises(ValueError):  # UnicodeEncodeError: the turn fails, the process lives
        asyncio.run(ours.save(tracker("\udc80x", "hi")))
    asyncio.run(ours.save(tracker("rest:alice", "hi")))
    assert asyncio.run(ours.retrieve("rest:alice")).latest_message.text == "hi"

    theirs = SQLTrackerStore(host=url, domain=Domain.empty())
    with pytest.raises(SystemExit):  # what took the whole stack down
        asyncio.run(theirs.save(tracker("\udc80x", "hi")))


def test_endpoints_use_it():
    endpoints = yaml.safe_load((PROJECT / "endpoints.yml").read_text())
    # Rasa silently falls back to an in-memory store if this path does not import.
    assert endpoints["tracker_store"]["type"] == f"{JourneybotSQLTrackerStore.__module__}.{JourneybotSQLTrackerStore.__name__}"
