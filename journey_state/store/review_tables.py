"""The review loop's table (revision 0013): an admin's label for a message the bot did not understand.

One row per reviewed touchpoint, not a copy of its text: erasing the contact deletes its
touchpoints and, through ON DELETE CASCADE, their labels, so an erased customer's words
never reach the exported training data.
"""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from journey_state.store.base import UTCDateTime, metadata

reviewed_messages = Table(
    "reviewed_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("touchpoint_id", Integer, ForeignKey("touchpoints.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("label", String(64), nullable=False),
    Column("reviewer", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_reviewed_messages_label", "label"),
)
