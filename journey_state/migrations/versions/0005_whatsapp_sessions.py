"""WhatsApp: last inbound time per user (24-hour window) and inbound message ids (dedupe).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_sessions",
        sa.Column("wa_id", sa.String(32), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "whatsapp_inbound",
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("wa_id", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_whatsapp_inbound_wa_id", "whatsapp_inbound", ["wa_id"])


def downgrade() -> None:
    op.drop_index("ix_whatsapp_inbound_wa_id", table_name="whatsapp_inbound")
    op.drop_table("whatsapp_inbound")
    op.drop_table("whatsapp_sessions")
