"""Telegram channel state on the journey store's `metadata` (Alembic revision 0004).

telegram_updates: update ids already taken, so a retried delivery is processed once.
telegram_callbacks: full button payloads behind the short keys sent as `callback_data`.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text

from journey_state.store.tables import UTCDateTime, metadata

telegram_updates = Table(
    "telegram_updates",
    metadata,
    Column("bot_id", String(32), nullable=False),  # the digits before ':' in the bot token
    Column("update_id", BigInteger, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("bot_id", "update_id", name="pk_telegram_updates"),
    Index("ix_telegram_updates_received_at", "received_at"),
)

telegram_callbacks = Table(
    "telegram_callbacks",
    metadata,
    Column("key", String(64), primary_key=True),  # deterministic: derived from the payload
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
