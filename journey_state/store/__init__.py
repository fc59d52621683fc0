"""Persistence for the journey domain (SQLAlchemy Core, 2.0 style, Alembic migrations)."""
from journey_state.identifiers import ChannelRef, ContactRef
from journey_state.store.db import make_engine
from journey_state.store.events import EventConflict, EventOutcome
from journey_state.store.identity import MergeResult
from journey_state.store.repository import JourneyStore
from journey_state.store.signals import SignalOutcome, Touch

__all__ = [
    "ChannelRef",
    "ContactRef",
    "EventConflict",
    "EventOutcome",
    "JourneyStore",
    "MergeResult",
    "SignalOutcome",
    "Touch",
    "make_engine",
]
