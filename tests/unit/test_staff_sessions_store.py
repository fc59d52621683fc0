"""journey_state/store/staff_sessions.py on real SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from journey_state.errors import StoreUnavailable
from journey_state.handoff import HandoffConfig
from journey_state.staff_rules import SessionPolicy
from journey_state.store import JourneyStore, make_engine
from journey_state.store.handoffs import HandoffStore
from journey_state.store.staff_sessions import StaffSessionStore, is_token
from journey_state.store.staff_tables import staff_sessions, staff_users

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
POLICY = SessionPolicy(absolute=timedelta(hours=12), idle=timedelta(minutes=60))


@pytest.fixture
def stores(migrated_url, b2c_model):
    engine = make_engine(migrated_url)
    handoffs = HandoffStore(JourneyStore(engine, b2c_model), HandoffConfig(triggers={}))
    handoffs.create_user("ann", "hash-1", "agent")
    handoffs.create_user("bob", "hash-2", "admin")
    yield handoffs, StaffSessionStore(engine, POLICY)
    engine.dispose()


def rows(sessions):
    with sessions.engine.connect() as conn:
        return conn.execute(select(staff_sessions)).all()


def test_a_session_round_trips_and_only_a_digest_of_the_token_is_stored(stores):
    handoffs, sessions = stores
    token = sessions.create(handoffs.find_user("ann"), {"csrf": "c1"}, at=T0)
    assert is_token(token)
    live = sessions.load(token, at=T0 + timedelta(minutes=1))
    assert (live.username, live.role, live.data, live.created_at, live.seen_at) == ("ann", "agent", {"csrf": "c1"}, T0, T0)
    [row] = rows(sessions)
    assert row.id == hashlib.sha256(token.encode()).hexdigest() and token not in (row.id, row.data)
    assert sessions.load(token[:-1] + ("A" if token[-1] != "A" else "B"), at=T0) is None
    assert sessions.load("not a token", at=T0) is None


def test_save_updates_data_and_the_idle_clock(stores):
    handoffs, sessions = stores
    token = sessions.create(handoffs.find_user("ann"), {"csrf": "c1"}, at=T0)
    sessions.save(token, {"csrf": "c1", "_flashes": [["info", "done"]]}, seen_at=T0 + timedelta(minutes=50))
    live = sessions.load(token, at=T0 + timedelta(minutes=100))  # 50 min after the last request
    assert live.data["_flashes"] == [["info", "done"]] and live.seen_at == T0 + timedelta(minutes=50)


@pytest.mark.parametrize("seen, at, alive", [
    (timedelta(0), timedelta(minutes=59), True),
    (timedelta(0), timedelta(minutes=60), False),  # idle
    (timedelta(hours=11, minutes=30), timedelta(hours=11, minutes=59), True),
    (timedelta(hours=11, minutes=30), timedelta(hours=12), False),  # absolute, however busy
])
def test_expired_sessions_are_refused_and_deleted(stores, seen, at, alive):
    handoffs, sessions = stores
    token = sessions.create(handoffs.find_user("ann"), {}, at=T0)
    sessions.save(token, seen_at=T0 + seen)
    assert (sessions.load(token, at=T0 + at) is not None) is alive
    assert len(rows(sessions)) == (1 if alive else 0)


def test_end_and_end_all_for_a_user(stores):
    handoffs, sessions = stores
    ann1 = sessions.create(handoffs.find_user("ann"), {}, at=T0)
    ann2 = sessions.create(handoffs.find_user("ann"), {}, at=T0)
    bob = sessions.create(handoffs.find_user("bob"), {}, at=T0)
    sessions.end(ann1)
    assert sessions.load(ann1, at=T0) is None and sessions.load(ann2, at=T0) is not None
    assert sessions.end_all_for("ann") == 1
    assert sessions.load(ann2, at=T0) is None and sessions.load(bob, at=T0).username == "bob"
    assert sessions.end_all_for("nobody") == 0


def test_a_disabled_user_or_a_new_password_ends_the_session(stores):
    handoffs, sessions = stores
    ann = sessions.create(handoffs.find_user("ann"), {}, at=T0)
    bob = sessions.create(handoffs.find_user("bob"), {}, at=T0)
    handoffs.set_disabled("ann", True)
    assert sessions.load(ann, at=T0) is None
    handoffs.set_disabled("ann", False)
    assert sessions.load(ann, at=T0) is None  # deleted when refused: re-enabling does not revive it
    with sessions.engine.begin() as conn:  # a password change, however it is made
        conn.execute(update(staff_users).where(staff_users.c.username == "bob").values(password_hash="hash-3"))
    assert sessions.load(bob, at=T0) is None
    assert rows(sessions) == []


def test_a_role_change_applies_to_a_live_session(stores):
    handoffs, sessions = stores
    token = sessions.create(handoffs.find_user("ann"), {}, at=T0)
    with sessions.engine.begin() as conn:
        conn.execute(update(staff_users).where(staff_users.c.username == "ann").values(role="admin"))
    assert sessions.load(token, at=T0).role == "admin"


def test_deleting_a_user_deletes_their_sessions(stores):
    handoffs, sessions = stores
    sessions.create(handoffs.find_user("ann"), {}, at=T0)
    with sessions.engine.begin() as conn:
        conn.execute(staff_users.delete().where(staff_users.c.username == "ann"))
    assert rows(sessions) == []


def test_a_login_purges_sessions_nobody_ended(stores):
    handoffs, sessions = stores
    sessions.create(handoffs.find_user("ann"), {}, at=T0)
    sessions.create(handoffs.find_user("ann"), {}, at=T0 + timedelta(minutes=30))
    sessions.create(handoffs.find_user("bob"), {}, at=T0 + timedelta(minutes=61))
    assert len(rows(sessions)) == 2  # the first one was idle for 61 minutes


def test_an_unmigrated_database_is_store_unavailable(sqlite_url, b2c_model):
    engine = make_engine(sqlite_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
        with pytest.raises(StoreUnavailable, match="journeybot db upgrade"):
            StaffSessionStore(engine).load("A" * 43)
    finally:
        engine.dispose()
