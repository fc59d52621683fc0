"""Staff console tables (revision 0007), on the journey store's `metadata` so Alembic manages them."""
from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from journey_state.store.tables import UTCDateTime, metadata

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    CheckConstraint("role IN ('agent', 'admin')", name="ck_staff_users_role"),
)

# Notes are about a contact, optionally written during one handoff; erasing the contact
# deletes them (ON DELETE CASCADE), as they may quote the customer.
staff_notes = Table(
    "staff_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("handoff_id", Integer, ForeignKey("handoffs.id", ondelete="CASCADE")),
    Column("author", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_staff_notes_contact_at", "contact_id", "at"),
)
