"""Waiting for a person: when a queued customer is told their place again, who joined, the closing line.

The rule is journey_state.handoff.waiting_update_due; the store applies it as one conditional
UPDATE (HandoffStore.waiting_update), checked here on SQLite and PostgreSQL, including two
stores on two engines (two Rasa replicas) racing for the same message burst.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from journey_state.handoff import (
    CUSTOMER_REQUEST,
    agent_display_name,
    agent_joined_message,
    closing_message,
    load_handoff_config,
    message,
    waiting_update_due,
)
from journey_state.model import all_stage_ids
from journey_state.replies import BusinessConfigError
from journey_state.store import ChannelRef, JourneyStore, make_engine
from journey_state.store.handoffs import HandoffStore

PROJECT = Path(__file__).resolve().parents[2]
STAGES = all_stage_ids(PROJECT / "data" / "journeys")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
EVERY = timedelta(minutes=3)


@pytest.fixture(scope="module")
def config():
    return load_handoff_config(PROJECT / "data" / "business" / "handoff.yml", STAGES)


@pytest.fixture
def handoffs(migrated_url, b2c_model, config):
    engine = make_engine(migrated_url)
    yield HandoffStore(JourneyStore(engine, b2c_model), config)
    engine.dispose()


# -- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "last, at, due",
    [
        (None, T0, True),  # the first message while queued is always answered
        (T0, T0, False),
        (T0, T0 + timedelta(seconds=5), False),
        (T0, T0 + EVERY - timedelta(microseconds=1), False),
        (T0, T0 + EVERY, True),
        (T0, T0 + timedelta(hours=1), True),
    ],
)
def test_an_update_is_due_on_the_first_message_then_once_per_interval(last, at, due):
    assert waiting_update_due(last, at, EVERY) is due


def test_the_shipped_interval_is_three_minutes_and_configurable(config, tmp_path):
    assert config.update_every == timedelta(minutes=3)
    path = tmp_path / "handoff.yml"
    path.write_text("wait: {update_every_minutes: 0.5}")
    assert load_handoff_config(path, STAGES).update_every == timedelta(seconds=30)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "true", "2000"])
def test_a_bad_interval_is_refused_naming_the_key(tmp_path, value):
    path = tmp_path / "handoff.yml"
    path.write_text(f"wait: {{update_every_minutes: {value}}}")
    with pytest.raises(BusinessConfigError, match=r"wait\.update_every_minutes"):
        load_handoff_config(path, STAGES)


@pytest.mark.parametrize(
    "yaml_text, key",
    [
        ("messages: {waiting: 'you are {agent}'}", "messages.waiting"),
        ("messages: {agent_joined: '{position} joined'}", "messages.agent_joined"),
        ("messages: {closed: 'bye {minutes}'}", "messages.closed"),
        ("messages: {closed: '  '}", "messages.closed"),
    ],
)
def test_message_placeholders_are_checked_per_message(tmp_path, yaml_text, key):
    path = tmp_path / "handoff.yml"
    path.write_text(yaml_text)
    with pytest.raises(BusinessConfigError, match=key.replace(".", r"\.")):
        load_handoff_config(path, STAGES)


def test_the_texts_name_the_place_the_wait_and_the_agent(config):
    text = message(config, "waiting", 2, timedelta(minutes=5, seconds=30))
    assert "number 2" in text and "about 6 min" in text
    assert agent_joined_message(config, "sam") == "Sam from the team joined the chat."
    assert "closed" in closing_message(config)


def test_a_channel_can_have_its_own_words_for_a_message(tmp_path):
    path = tmp_path / "handoff.yml"
    path.write_text("channel_messages: {whatsapp: {waiting: 'In line: {position} ({minutes} min)', closed: 'Bye from WhatsApp'}}")
    config = load_handoff_config(path, STAGES)
    assert message(config, "waiting", 3, timedelta(minutes=4), "whatsapp") == "In line: 3 (4 min)"
    assert message(config, "waiting", 3, timedelta(minutes=4), "telegram").startswith("Still in line")
    assert closing_message(config, "whatsapp") == "Bye from WhatsApp"
    assert agent_joined_message(config, "sam", "whatsapp") == agent_joined_message(config, "sam") == "Sam from the team joined the chat."


@pytest.mark.parametrize(
    "yaml_text, key",
    [
        ("channel_messages: {fax: {closed: bye}}", "channel_messages.fax"),
        ("channel_messages: {whatsapp: bye}", "channel_messages.whatsapp"),
        ("channel_messages: {whatsapp: {goodbye: bye}}", "channel_messages.whatsapp.goodbye"),
        ("channel_messages: {whatsapp: {waiting: 'wait {hours}'}}", "channel_messages.whatsapp.waiting"),
    ],
)
def test_channel_messages_are_checked_naming_the_key(tmp_path, yaml_text, key):
    path = tmp_path / "handoff.yml"
    path.write_text(yaml_text)
    with pytest.raises(BusinessConfigError, match=key.replace(".", r"\.")):
        load_handoff_config(path, STAGES)


@pytest.mark.parametrize("username, shown", [("sam", "Sam"), ("sam.jones", "Sam"), ("ann_b", "Ann"), ("Lee", "Lee"),
                                             (".x", "X"), ("", "Someone")])
def test_agents_are_named_by_the_first_word_of_their_user_name(username, shown):
    assert agent_display_name(username) == shown


# -- the store ----------------------------------------------------------------------------------


def test_a_queued_customer_is_updated_once_per_interval(handoffs):
    who = ChannelRef("rest", "waiter")
    handoffs.open(ChannelRef("rest", "ahead"), CUSTOMER_REQUEST, at=T0 - timedelta(minutes=1))
    handoffs.open(who, CUSTOMER_REQUEST, at=T0)
    first = handoffs.waiting_update("rest", "waiter", at=T0 + timedelta(seconds=10))
    assert first is not None and first.position == 2 and first.wait == timedelta(minutes=10)
    assert handoffs.waiting_update("rest", "waiter", at=T0 + timedelta(seconds=20)) is None
    assert handoffs.waiting_update("rest", "waiter", at=T0 + timedelta(minutes=3, seconds=9)) is None
    again = handoffs.waiting_update("rest", "waiter", at=T0 + timedelta(minutes=3, seconds=10))
    assert again is not None and again.handoff.acknowledged_at == T0 + timedelta(minutes=3, seconds=10)


def test_no_update_once_a_person_has_the_conversation_or_without_a_handoff(handoffs):
    h = handoffs.open(ChannelRef("rest", "claimed"), CUSTOMER_REQUEST, at=T0).place.handoff
    handoffs.claim(h.id, "ann")
    assert handoffs.waiting_update("rest", "claimed", at=T0 + timedelta(minutes=1)) is None
    assert handoffs.waiting_update("rest", "nobody", at=T0) is None
    closed = handoffs.open(ChannelRef("rest", "closed"), CUSTOMER_REQUEST, at=T0).place.handoff
    handoffs.close(closed.id, "ann", admin=True)
    assert handoffs.waiting_update("rest", "closed", at=T0 + timedelta(minutes=1)) is None


def test_a_new_handoff_starts_with_a_fresh_update(handoffs):
    who = ChannelRef("rest", "again")
    h = handoffs.open(who, CUSTOMER_REQUEST, at=T0).place.handoff
    assert handoffs.waiting_update("rest", "again", at=T0 + timedelta(seconds=1)) is not None
    handoffs.close(h.id, "ann", admin=True)
    handoffs.open(who, CUSTOMER_REQUEST, at=T0 + timedelta(seconds=30))
    assert handoffs.waiting_update("rest", "again", at=T0 + timedelta(seconds=40)) is not None


def test_two_processes_racing_on_one_burst_send_one_update(migrated_url, b2c_model, config):
    """Two engines stand for two Rasa replicas; each gets the same customer's messages at once."""
    engines = [make_engine(migrated_url) for _ in range(2)]
    try:
        stores = [HandoffStore(JourneyStore(e, b2c_model), config) for e in engines]
        stores[0].open(ChannelRef("rest", "burst"), CUSTOMER_REQUEST, at=T0)
        results: list[object] = []
        barrier = threading.Barrier(6)

        def write(store: HandoffStore) -> None:
            barrier.wait()
            results.append(store.waiting_update("rest", "burst", at=T0 + timedelta(seconds=5)))

        threads = [threading.Thread(target=write, args=(stores[n % 2],)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 6 and sum(r is not None for r in results) == 1
    finally:
        for e in engines:
            e.dispose()
