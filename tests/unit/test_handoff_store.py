"""Handoff store (journey_state/store/handoffs.py) on SQLite and PostgreSQL: queue, claim races, states, notes, users."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from journey_state.engine import Signal, Source
from journey_state.handoff import AGENT_CLAIM, CUSTOMER_REQUEST, load_handoff_config
from journey_state.model import all_stage_ids
from journey_state.store import ChannelRef, JourneyStore, make_engine
from journey_state.store.handoffs import (
    AlreadyClaimed,
    HandoffClosed,
    HandoffStore,
    NotClaimed,
    NotYourHandoff,
)
from journey_state.store.staff_users import StaffUserError, StaffUsers

PROJECT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def stores(migrated_url, b2c_model):
    engine = make_engine(migrated_url)
    journey = JourneyStore(engine, b2c_model)
    config = load_handoff_config(PROJECT / "data" / "business" / "handoff.yml", all_stage_ids(PROJECT / "data" / "journeys"))
    yield journey, HandoffStore(journey, config)
    engine.dispose()


def _to_purchase(journey, who):
    journey.record_signal(who, Signal(id=f"m-{who.external_id}", source=Source.CONVERSATION, at=T0, intent="place_order", confidence=0.9))


def test_queue_orders_by_priority_then_waiting_time(stores):
    journey, handoffs = stores
    _to_purchase(journey, ChannelRef("rest", "buyer"))
    first = handoffs.open(ChannelRef("rest", "early"), CUSTOMER_REQUEST, at=T0)
    second = handoffs.open(ChannelRef("rest", "late"), CUSTOMER_REQUEST, at=T0 + timedelta(minutes=1))
    buyer = handoffs.open(ChannelRef("rest", "buyer"), CUSTOMER_REQUEST, at=T0 + timedelta(minutes=2))
    assert [h.sender_id for h in handoffs.queue()] == ["buyer", "early", "late"]
    assert buyer.place.handoff.priority == 1 and first.place.handoff.priority == 3
    assert handoffs.place(second.place.handoff.id).position == 3
    # Without history: the default (5 min) per place.
    assert handoffs.place(second.place.handoff.id).wait == timedelta(minutes=15)


def test_opening_twice_returns_the_open_handoff(stores):
    _, handoffs = stores
    who = ChannelRef("rest", "twice")
    a = handoffs.open(who, CUSTOMER_REQUEST, at=T0)
    b = handoffs.open(who, CUSTOMER_REQUEST, at=T0 + timedelta(seconds=5))
    assert a.created and not b.created and a.place.handoff.id == b.place.handoff.id


def test_wait_estimate_uses_recent_claims(stores):
    _, handoffs = stores
    for i, minutes in enumerate((2, 4, 6)):
        h = handoffs.open(ChannelRef("rest", f"old{i}"), CUSTOMER_REQUEST, at=T0 - timedelta(minutes=minutes)).place.handoff
        handoffs.claim(h.id, "ann")  # claimed now: waited long; use the store's own clock below
    waiting = handoffs.open(ChannelRef("rest", "new"), CUSTOMER_REQUEST).place
    past = handoffs.history(waiting.handoff.contact_uid)
    assert past and waiting.position == 1
    # Median of the three real waits, times position 1.
    waits = sorted(h.claimed_at - h.created_at for h in handoffs.queue(("assigned",)))
    assert waiting.wait == waits[1]


def test_states_and_replies(stores):
    _, handoffs = stores
    h = handoffs.open(ChannelRef("rest", "s1"), CUSTOMER_REQUEST).place.handoff
    with pytest.raises(NotClaimed):
        handoffs.check_reply(h.id, "ann")
    handoffs.claim(h.id, "ann")
    with pytest.raises(AlreadyClaimed, match="ann"):
        handoffs.claim(h.id, "bob")
    with pytest.raises(NotYourHandoff):
        handoffs.check_reply(h.id, "bob")
    assert handoffs.check_reply(h.id, "bob", admin=True).agent == "ann"
    assert handoffs.check_reply(h.id, "ann").status == "assigned"
    assert handoffs.hand_back(h.id, "ann").status == "returned"
    with pytest.raises(HandoffClosed, match="handed back to the bot"):
        handoffs.check_reply(h.id, "ann")
    with pytest.raises(HandoffClosed):
        handoffs.close(h.id, "ann")
    h2 = handoffs.open(ChannelRef("rest", "s1"), CUSTOMER_REQUEST).place.handoff
    assert h2.id != h.id  # a new handoff once the old one is finished
    assert handoffs.close(h2.id, "bob").status == "closed"  # a queued one may be closed by anyone
    with pytest.raises(HandoffClosed, match="closed"):
        handoffs.check_reply(h2.id, "bob")
    assert [x.id for x in handoffs.history(h.contact_uid)] == [h2.id, h.id]


def test_agent_takeover_is_assigned_at_once(stores):
    _, handoffs = stores
    h = handoffs.open(ChannelRef("rest", "quiet"), AGENT_CLAIM, agent="ann").place
    assert h.handoff.status == "assigned" and h.handoff.agent == "ann" and h.position == 0


def test_two_agents_claiming_at_once_give_one_owner(stores):
    _, handoffs = stores
    for round_ in range(5):
        h = handoffs.open(ChannelRef("rest", f"race{round_}"), CUSTOMER_REQUEST).place.handoff
        agents = [f"agent{i}" for i in range(6)]
        barrier = threading.Barrier(len(agents))
        won, lost, errors = [], [], []

        def go(agent):
            barrier.wait()
            try:
                handoffs.claim(h.id, agent)
                won.append(agent)
            except AlreadyClaimed:
                lost.append(agent)
            except Exception as exc:
                errors.append(repr(exc))

        threads = [threading.Thread(target=go, args=(a,)) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(won) == 1 and len(lost) == len(agents) - 1
        assert handoffs.get(h.id).agent == won[0]


def test_staff_users_need_no_handoff_settings(stores):
    journey, handoffs = stores
    staff = StaffUsers(journey)
    created = staff.create("cleo", "hash", "admin")
    assert staff.find("cleo") == created and handoffs.find_user("cleo") == created
    with pytest.raises(StaffUserError, match="username"):
        staff.create("no spaces", "hash", "agent")
    staff.set_disabled("cleo", True)
    assert [(u.username, u.disabled) for u in staff.all()] == [("cleo", True)]


def test_notes_and_users(stores):
    journey, handoffs = stores
    h = handoffs.open(ChannelRef("rest", "noted"), CUSTOMER_REQUEST).place.handoff
    handoffs.add_note(h.contact_uid, "ann", "prefers email", h.id)
    assert [n.text for n in handoffs.notes(h.contact_uid)] == ["prefers email"]
    handoffs.create_user("ann", "hash", "agent")
    with pytest.raises(StaffUserError, match="already exists"):
        handoffs.create_user("ann", "hash", "admin")
    with pytest.raises(StaffUserError, match="role"):
        handoffs.create_user("bob", "hash", "boss")
    handoffs.set_disabled("ann", True)
    assert handoffs.find_user("ann").disabled
    # Erasing the contact erases its notes and handoffs.
    journey.erase(h.contact_uid)
    assert handoffs.queue() == []
