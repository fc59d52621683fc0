"""Indexes for journey analytics (journey_state/analytics): covering indexes for the
touchpoint aggregates and per-contact stage scans, and time-range indexes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_touchpoints_analytics", "touchpoints", ["stage", "channel", "intent", "emotion", "at"]),
    ("ix_touchpoints_contact_stage", "touchpoints", ["contact_id", "stage", "intent", "at"]),
    ("ix_transitions_contact_kind", "transitions", ["contact_id", "kind", "to_value", "at"]),
    ("ix_contacts_model_created", "contacts", ["journey_model", "created_at"]),
    ("ix_offer_events_at", "offer_events", ["at"]),
    ("ix_handoffs_created", "handoffs", ["created_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
