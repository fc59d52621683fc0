"""Persistence for the journey domain (SQLAlchemy Core, 2.0 style, Alembic migrations)."""
from journey_state.store.db import make_engine
from journey_state.store.repository import ChannelRef, JourneyStore, SignalOutcome

__all__ = ["ChannelRef", "JourneyStore", "SignalOutcome", "make_engine"]
