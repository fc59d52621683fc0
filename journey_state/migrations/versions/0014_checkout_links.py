"""Checkout links sent in the chat and what became of them (journey_state/store/checkout_tables.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkout_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_count", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True)),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("order_id", sa.String(200)),
        sa.Column("timed_out_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token", name="uq_checkout_links_token"),
    )
    op.create_index("ix_checkout_links_contact", "checkout_links", ["contact_id", "created_at"])
    op.create_index("ix_checkout_links_open", "checkout_links", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_checkout_links_open", table_name="checkout_links")
    op.drop_index("ix_checkout_links_contact", table_name="checkout_links")
    op.drop_table("checkout_links")
