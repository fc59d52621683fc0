"""Table definitions. Schema changes go through Alembic (journey_state/migrations)."""
from __future__ import annotations

from datetime import timezone

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator



class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; journeybot stores aware UTC times only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


metadata = MetaData()

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(32), nullable=False, unique=True),
    Column("journey_model", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("at_risk", Boolean, nullable=False, default=False),
    Column("dormant", Boolean, nullable=False, default=False),
    Column("persona", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_activity_at", UTCDateTime()),
    Index("ix_contacts_stage", "journey_model", "stage"),
)

channel_identities = Table(
    "channel_identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("channel", "external_id", name="uq_channel_identity"),
    Index("ix_channel_identities_contact", "contact_id"),
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_value", String(64), nullable=False),
    Column("to_value", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("signal_type", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("signal_id", String(255), nullable=False),
    Column("excerpt", Text, nullable=False, default=""),
    Column("confidence", Float, nullable=False),
    Column("rule", String(64), nullable=False),
    Index("ix_transitions_contact_at", "contact_id", "at"),
)

applied_signals = Table(
    "applied_signals",
    metadata,
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("signal_id", String(255), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
)

touchpoints = Table(
    "touchpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("message_id", String(255)),
    Column("intent", String(64)),
    Column("confidence", Float),
    Column("emotion", String(16)),
    Column("stage", String(64), nullable=False),
    Column("excerpt", Text, nullable=False, default=""),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_touchpoints_contact_at", "contact_id", "at"),
)

OWN_TABLES = frozenset(metadata.tables)
