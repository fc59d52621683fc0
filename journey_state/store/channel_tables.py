"""State the channel connectors keep in the journey database (revisions 0004 and 0005).

They live with the store, not in bot/channels, so that the schema registry (and Alembic)
is complete without importing the connectors, and so that erasure knows which rows are
keyed by a sender id rather than by a contact.

telegram_updates: update ids already taken, so a retried delivery is processed once.
telegram_callbacks: full button payloads behind the short keys sent as `callback_data`.
whatsapp_sessions: when each WhatsApp user last wrote to us (the 24-hour customer-service window).
whatsapp_inbound: every inbound message id seen, so a redelivery is processed once.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text

from journey_state.store.base import UTCDateTime, metadata

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

whatsapp_sessions = Table(
    "whatsapp_sessions",
    metadata,
    Column("wa_id", String(32), primary_key=True),  # E.164 with '+', the channel's sender id
    Column("provider", String(16), nullable=False),  # cloud | twilio: who carried the last message
    Column("last_inbound_at", UTCDateTime(), nullable=False),
)

whatsapp_inbound = Table(
    "whatsapp_inbound",
    metadata,
    Column("message_id", String(255), primary_key=True),  # wamid.… (Cloud API) or twilio:SM… (Twilio)
    Column("wa_id", String(32), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Index("ix_whatsapp_inbound_wa_id", "wa_id"),
)

# (table, column) pairs whose column holds a channel sender id: GDPR erasure deletes the
# rows of an erased contact's senders. Telegram's tables hold no sender ids.
SENDER_KEYED: tuple[tuple[Table, str], ...] = (
    (whatsapp_sessions, "wa_id"),
    (whatsapp_inbound, "wa_id"),
)
