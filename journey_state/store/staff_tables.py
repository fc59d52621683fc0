"""Staff console tables (revisions 0007 and 0010), on the journey store's `metadata` so Alembic manages them."""
from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from journey_state.store.base import UTCDateTime, metadata

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

# Server-side console sessions (revision 0010). The browser holds only a random token; the
# row is keyed by its SHA-256, so reading this table gives no usable cookie. `credential`
# is a digest of the password hash at login: a new password (any way it is set) ends the
# sessions opened with the old one. Deleting a user deletes their sessions.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
    Column("credential", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
    Index("ix_staff_sessions_user", "user_id"),
)
