"""WhatsApp tables on the journey store's `metadata` (revision 0005).

`whatsapp_sessions`: when each WhatsApp user last wrote to us (the 24-hour customer-service
window). `whatsapp_inbound`: every inbound message id seen, so a redelivery is processed once.
"""
from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from journey_state.store.tables import UTCDateTime, metadata, register_sender_keyed

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

WHATSAPP_TABLES = frozenset({whatsapp_sessions.name, whatsapp_inbound.name})


# GDPR erasure deletes these rows with the contact (their key is the WhatsApp sender id).
register_sender_keyed(whatsapp_sessions, "wa_id")
register_sender_keyed(whatsapp_inbound, "wa_id")
