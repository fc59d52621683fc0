"""Analytics rollups kept exact by triggers (journey_state/store/rollups.py): touch_rollup
(touchpoint counts per day and month) and stage_stays (each contact's stays in a stage),
filled from the existing data; indexes for partial days, complaints and segments.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

from journey_state.store import rollups
from journey_state.store.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_touchpoints_intent_at", "touchpoints", ["intent", "at"]),
    ("ix_touchpoints_at", "touchpoints", ["at", "stage", "channel", "intent", "emotion"]),  # partial days around the rollup
    ("ix_contacts_model_persona", "contacts", ["journey_model", "persona"]),
    ("ix_channel_identities_channel", "channel_identities", ["channel", "contact_id"]),
)


def upgrade() -> None:
    op.create_table(
        "touch_rollup",
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("bucket", sa.String(10), primary_key=True),
        sa.Column("journey_model", sa.String(64), primary_key=True),
        sa.Column("persona", sa.String(64), primary_key=True),
        sa.Column("stage", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("intent", sa.String(64), primary_key=True),
        sa.Column("emotion", sa.String(16), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.create_table(
        "stage_stays",
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("journey_model", sa.String(64), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("left_at", UTCDateTime()),
        sa.Column("seconds", sa.Float),
    )
    op.create_index("ix_stage_stays_entered", "stage_stays", ["journey_model", "entered_at", "stage", "left_at", "persona", "contact_id"])
    op.create_index("ix_stage_stays_seconds", "stage_stays", ["journey_model", "stage", "seconds", "entered_at", "left_at", "persona", "contact_id"])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    # The channel joins 0006's index so that attribution with a channel filter still reads the index only.
    op.drop_index("ix_touchpoints_contact_stage", table_name="touchpoints")
    op.create_index("ix_touchpoints_contact_stage", "touchpoints", ["contact_id", "stage", "intent", "at", "channel"])
    conn = op.get_bind()
    rollups.install_triggers(conn)
    rollups.rebuild(conn)


def downgrade() -> None:
    rollups.drop_triggers(op.get_bind())
    op.drop_index("ix_touchpoints_contact_stage", table_name="touchpoints")
    op.create_index("ix_touchpoints_contact_stage", "touchpoints", ["contact_id", "stage", "intent", "at"])
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("stage_stays")
    op.drop_table("touch_rollup")
