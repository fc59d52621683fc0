"""Demo-shop tables, on the journey store's `metadata` so Alembic manages them (revision 0003)."""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from journey_state.store.base import UTCDateTime, metadata

demo_orders = Table(
    "demo_orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("customer_email", String(254), nullable=False),
    Column("items", JSON, nullable=False),  # [{title, quantity, price: "12.00"}]
    Column("total_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("placed_at", UTCDateTime(), nullable=False),
    Column("shipped_at", UTCDateTime()),
    Column("delivered_at", UTCDateTime()),
    Column("estimated_delivery", Date),
    Column("carrier", String(64)),
    Column("tracking_number", String(64)),
    Column("tracking_url", String(500)),
    Column("cancelled_at", UTCDateTime()),
    Column("cancel_reason", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("number", name="uq_demo_orders_number"),
    CheckConstraint(
        "status IN ('placed', 'paid', 'fulfilled', 'in_transit', 'delivered', 'cancelled', 'refunded')",
        name="ck_demo_orders_status",
    ),
    Index("ix_demo_orders_customer_email", "customer_email", "placed_at"),
)

demo_refunds = Table(
    "demo_refunds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("demo_orders.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("order_id", name="uq_demo_refunds_order"),  # one refund per demo order
    CheckConstraint("status IN ('pending', 'approved', 'rejected', 'completed')", name="ck_demo_refunds_status"),
)

DEMO_TABLES = frozenset({demo_orders.name, demo_refunds.name})
