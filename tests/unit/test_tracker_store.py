"""journeybot's SQL tracker store: a message that cannot be stored fails its turn, not the server."""
from __future__ import annotations

import asyncio
import time

import pytest
import yaml
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import JourneybotSQLTrackerStore, database_went_away
from tests.conftest import PROJECT
from tests.pg_outage import database_unreachable


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


# -- a database that goes away for a moment (PostgreSQL restarting) -----------------------------

@pytest.mark.postgres
def test_a_database_restart_costs_rasas_store_the_conversation_but_not_ours(postgres_url, _postgres_admin):
    _, admin = _postgres_admin
    ours = JourneybotSQLTrackerStore(host=postgres_url, domain=Domain.empty())
    theirs = FailSafeTrackerStore(SQLTrackerStore(host=postgres_url, domain=Domain.empty()))  # how Rasa's agent wraps it
    try:
        asyncio.run(ours.save(tracker("rest:alice", "hi")))
        assert asyncio.run(theirs.retrieve("rest:alice")).latest_message.text == "hi"  # both pools hold a connection now

        with database_unreachable(admin, postgres_url, for_s=1.5):
            started = time.monotonic()
            kept = asyncio.run(ours.retrieve("rest:alice"))
            waited = time.monotonic() - started
        assert kept.latest_message.text == "hi" and waited >= 1.0

        with database_unreachable(admin, postgres_url):
            # Rasa's store fails; its fail-safe wrapper answers "no such conversation", so Rasa would
            # handle the message on a new, empty, unpaused tracker.
            assert asyncio.run(theirs.retrieve("rest:alice")) is None
    finally:
        ours.engine.dispose()
        theirs._tracker_store.engine.dispose()


@pytest.mark.postgres
def test_a_save_during_the_restart_is_stored_once_it_is_back(postgres_url, _postgres_admin):
    _, admin = _postgres_admin
    ours = JourneybotSQLTrackerStore(host=postgres_url, domain=Domain.empty())
    try:
        conversation = tracker("rest:bob", "where is my order?")
        asyncio.run(ours.save(conversation))
        conversation.update(UserUttered("it is late", {"name": "complaint", "confidence": 1.0}))
        with database_unreachable(admin, postgres_url, for_s=1.5):
            asyncio.run(ours.save(conversation))
        stored = [e.text for e in asyncio.run(ours.retrieve("rest:bob")).events if isinstance(e, UserUttered)]
        assert stored == ["where is my order?", "it is late"]  # once each
    finally:
        ours.engine.dispose()


def test_only_lost_connections_are_retried():
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert database_went_away(OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")))
    assert not database_went_away(IntegrityError("INSERT", {}, Exception("duplicate key")))
