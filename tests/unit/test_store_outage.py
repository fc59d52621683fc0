"""The journey store through a PostgreSQL restart: a write waits for the database instead of failing the turn."""
from __future__ import annotations

import time

import pytest

from journey_state.handoff import HandoffConfig
from journey_state.store import JourneyStore, make_engine
from journey_state.store.handoffs import HandoffStore
from journey_state.store.migrate import upgrade
from tests.pg_outage import database_unreachable

pytestmark = pytest.mark.postgres


def test_writes_and_reads_wait_for_a_database_that_is_restarting(postgres_url, _postgres_admin, b2c_model):
    """Soak finding: a turn during the restart lost its touchpoint (connection refused, nothing retried)."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        handoffs = HandoffStore(JourneyStore(engine, b2c_model), HandoffConfig(triggers={}))
        handoffs.create_user("ann", "hash", "agent")  # the pool holds a connection now
        with database_unreachable(_postgres_admin[1], postgres_url, for_s=1.5):
            started = time.monotonic()
            handoffs.create_user("bob", "hash", "agent")
            waited = time.monotonic() - started
        assert waited >= 1.0 and handoffs.find_user("bob") is not None
        with database_unreachable(_postgres_admin[1], postgres_url, for_s=1.0):
            assert handoffs.find_user("ann") is not None
    finally:
        engine.dispose()


def test_staff_sessions_wait_for_a_database_that_is_restarting(postgres_url, _postgres_admin, b2c_model):
    """Soak finding: the console's session check failed during the restart and the agent's request got an error page."""
    from journey_state.store.staff_sessions import StaffSessionStore

    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        user = HandoffStore(JourneyStore(engine, b2c_model), HandoffConfig(triggers={})).create_user("ann", "hash", "agent")
        sessions = StaffSessionStore(engine)
        token = sessions.create(user, {})
        with database_unreachable(_postgres_admin[1], postgres_url, for_s=1.0):
            assert sessions.load(token) is not None
    finally:
        engine.dispose()
