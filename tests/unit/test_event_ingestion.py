"""Recording a business event and its loyalty points in one transaction (journey_state/event_ingestion.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from journey_state import event_ingestion
from journey_state.business_events import BusinessEvent
from journey_state.event_ingestion import EventIngestion
from journey_state.identifiers import ChannelRef
from journey_state.loyalty import load_loyalty
from journey_state.model import load_named_model
from journey_state.store import EventConflict, JourneyStore, make_engine
from journey_state.store.tables import business_events, loyalty_ledger

PROJECT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
ALICE = ChannelRef("telegram", "alice")


@pytest.fixture
def store(migrated_url):
    engine = make_engine(migrated_url)
    yield JourneyStore(engine, load_named_model(PROJECT / "data" / "journeys", "b2c"))
    engine.dispose()


@pytest.fixture
def ingestion(store) -> EventIngestion:
    return EventIngestion(store, load_loyalty(PROJECT / "data" / "business"))


def paid(key: str = "pay-1", order_id: str = "A-100", amount: float = 29.0) -> BusinessEvent:
    return BusinessEvent(key, "order_paid", ALICE, T0, {"order_id": order_id, "amount": amount, "currency": "EUR"})


def rows(store: JourneyStore, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_an_event_recorded_without_the_api_earns_its_points(ingestion, store):
    result = ingestion.record(paid())
    assert not result.duplicate
    assert result.event.outcome.state.stage == "purchase"
    assert (result.points.points, result.points.reference, result.points.balance) == (39, "order:A-100", 39)
    assert result.points.contact_uid == result.event.outcome.contact_uid
    assert rows(store, loyalty_ledger) == 1


def test_a_replay_earns_nothing_more_and_reports_the_balance(ingestion):
    ingestion.record(paid())
    again = ingestion.record(paid())
    assert again.duplicate
    assert (again.points.points, again.points.duplicate, again.points.balance) == (0, True, 39)


def test_a_failure_in_crediting_rolls_back_the_event(ingestion, store, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("ledger write failed")

    monkeypatch.setattr(event_ingestion, "credit_for_event", broken)
    with pytest.raises(RuntimeError):
        ingestion.record(paid())
    assert rows(store, business_events) == 0
    assert store.contact_by_identity(ALICE) is None
    monkeypatch.undo()
    # The retry by the shop then lands both, as if the first attempt never happened.
    retried = ingestion.record(paid())
    assert (retried.duplicate, retried.points.points) == (False, 39)


def test_a_conflicting_event_credits_nothing(ingestion, store):
    ingestion.record(paid())
    with pytest.raises(EventConflict):
        ingestion.record(paid(order_id="B-200", amount=500.0))
    assert rows(store, loyalty_ledger) == 1
