"""Rasa conversations keyed by channel and sender ("whatsapp:+4915..."), not by sender alone.

Until now a conversation id was the bare sender id, so the REST channel could address a
WhatsApp customer's conversation by their number. Rasa's own `events` table (same database)
is rewritten: each conversation gets the channel of its first user message, or, for one with
no channel recorded, the channel of the journey identity with that sender id, else "rest".
Journey identities were already (channel, sender) pairs and stay as they are.

Frozen SQL only: this migration must do the same thing whatever the code looks like later.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DEFAULT_CHANNEL = "rest"


def _first_channels(conn: Connection) -> dict[str, str]:
    firsts = conn.execute(sa.text(
        "SELECT e.sender_id, e.data FROM events e JOIN "
        "(SELECT sender_id, MIN(id) AS first_id FROM events WHERE type_name = 'user' GROUP BY sender_id) f "
        "ON e.id = f.first_id"
    )).all()
    channels = {}
    for sender, data in firsts:
        try:
            channel = json.loads(data or "{}").get("input_channel")
        except ValueError:
            channel = None
        if isinstance(channel, str) and channel:
            channels[sender] = channel
    return channels


def upgrade() -> None:
    conn = op.get_bind()
    if not sa.inspect(conn).has_table("events"):
        return  # Rasa has not run on this database yet: nothing to rename
    senders = [s for (s,) in conn.execute(sa.text("SELECT DISTINCT sender_id FROM events")).all()]
    if not senders:
        return
    channels = _first_channels(conn)
    known = dict(conn.execute(sa.text("SELECT external_id, MIN(channel) FROM channel_identities GROUP BY external_id")).all())
    for sender in senders:
        channel = channels.get(sender) or known.get(sender) or DEFAULT_CHANNEL
        conn.execute(sa.text("UPDATE events SET sender_id = :new WHERE sender_id = :old"),
                     {"new": f"{channel}:{sender}", "old": sender})


def downgrade() -> None:
    conn = op.get_bind()
    if not sa.inspect(conn).has_table("events"):
        return
    senders = [s for (s,) in conn.execute(sa.text("SELECT DISTINCT sender_id FROM events")).all()]
    for conversation in senders:
        _, sep, sender = conversation.partition(":")
        if sep and sender:
            conn.execute(sa.text("UPDATE events SET sender_id = :old WHERE sender_id = :new"), {"old": sender, "new": conversation})
