"""Labels admins give to messages the bot did not understand (journey_state/store/review_tables.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviewed_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("touchpoint_id", sa.Integer, sa.ForeignKey("touchpoints.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reviewed_messages_label", "reviewed_messages", ["label"])


def downgrade() -> None:
    op.drop_index("ix_reviewed_messages_label", table_name="reviewed_messages")
    op.drop_table("reviewed_messages")
