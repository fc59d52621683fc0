"""The checkout_links table (journey_state/checkout), on the journey store's `metadata` (revision 0014)."""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from journey_state.store.base import UTCDateTime, metadata

checkout_links = Table(
    "checkout_links",
    metadata,
    Column("id", Integer, primary_key=True),
    # secrets.token_urlsafe(24): 32 characters, the only thing a customer's link carries.
    Column("token", String(64), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("product", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("sent_count", Integer, nullable=False, default=1),
    Column("opened_at", UTCDateTime()),
    Column("paid_at", UTCDateTime()),
    Column("order_id", String(200)),
    Column("timed_out_at", UTCDateTime()),
    UniqueConstraint("token", name="uq_checkout_links_token"),
    Index("ix_checkout_links_contact", "contact_id", "created_at"),
    Index("ix_checkout_links_open", "expires_at"),  # the timeout sweep reads the oldest open links
)
