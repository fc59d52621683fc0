"""Demo shop: orders and refunds behind the embedded commerce backend.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "demo_orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("customer_email", sa.String(254), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("total_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True)),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("estimated_delivery", sa.Date),
        sa.Column("carrier", sa.String(64)),
        sa.Column("tracking_number", sa.String(64)),
        sa.Column("tracking_url", sa.String(500)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.Column("cancel_reason", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("number", name="uq_demo_orders_number"),
        sa.CheckConstraint(
            "status IN ('placed', 'paid', 'fulfilled', 'in_transit', 'delivered', 'cancelled', 'refunded')",
            name="ck_demo_orders_status",
        ),
    )
    op.create_index("ix_demo_orders_customer_email", "demo_orders", ["customer_email", "placed_at"])
    op.create_table(
        "demo_refunds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("demo_orders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("order_id", name="uq_demo_refunds_order"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'completed')", name="ck_demo_refunds_status"),
    )


def downgrade() -> None:
    op.drop_table("demo_refunds")
    op.drop_index("ix_demo_orders_customer_email", table_name="demo_orders")
    op.drop_table("demo_orders")
