"""Per-contact analytics facts (journey_state/analytics/facts.py): stage_reached,
contact_facts, contact_rollup, attribution_facts and attribution_rollup, the facts_dirty queue and its triggers
(journey_state/store/facts_queue.py). Every existing contact is marked; the first dashboard
computes the facts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

from journey_state.store import facts_queue
from journey_state.store.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facts_dirty",
        sa.Column("contact_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("v", sa.Integer, nullable=False),
    )
    op.create_table(
        "facts_models",
        sa.Column("journey_model", sa.String(64), primary_key=True),
        sa.Column("stages", sa.Text, nullable=False),
    )
    op.create_table(
        "stage_reached",
        sa.Column("contact_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("journey_model", sa.String(64), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("reached_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stage_reached_period", "stage_reached", ["journey_model", "channel", "created_at", "idx", "reached_at", "persona"])
    op.create_index("ix_stage_reached_late", "stage_reached", ["journey_model", "channel", "reached_at", "created_at", "idx", "persona"])
    op.create_table(
        "contact_facts",
        sa.Column("contact_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("journey_model", sa.String(64), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("at_risk", sa.Boolean, nullable=False),
        sa.Column("dormant", sa.Boolean, nullable=False),
        sa.Column("last_activity_at", UTCDateTime()),
        sa.Column("furthest", sa.Integer, nullable=False),
        sa.Column("retained_at", UTCDateTime()),
        sa.Column("stays", sa.Text, nullable=False),
        sa.Column("feedback", sa.Text, nullable=False),
        sa.Column("offers", sa.Text, nullable=False),
    )
    op.create_index("ix_contact_facts_created", "contact_facts", ["journey_model", "created_at"])
    op.create_table(
        "contact_rollup",
        sa.Column("grain", sa.String(1), nullable=False),
        sa.Column("bucket", sa.String(10), nullable=False),
        sa.Column("journey_model", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(80), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("journey_model", "channel", "persona", "kind", "grain", "bucket", "value"),
    )
    op.create_table(
        "attribution_facts",
        sa.Column("contact_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("stage", sa.String(64), primary_key=True),
        sa.Column("journey_model", sa.String(64), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("conv_window", sa.Integer, nullable=False),
        sa.Column("exposures", sa.Text, nullable=False),
    )
    op.create_index("ix_attribution_facts_first", "attribution_facts", ["journey_model", "first_at"])
    op.create_table(
        "attribution_rollup",
        sa.Column("grain", sa.String(1), nullable=False),
        sa.Column("bucket", sa.String(10), nullable=False),
        sa.Column("journey_model", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        *(sa.Column(f"c{w}", sa.Integer, nullable=False) for w in (1, 3, 7, 14, 30, 60, 90)),
        sa.PrimaryKeyConstraint("journey_model", "channel", "persona", "grain", "bucket", "stage", "kind", "item"),
    )
    op.create_index("ix_stage_stays_left", "stage_stays", ["journey_model", "left_at", "entered_at", "stage", "seconds", "persona", "contact_id"])
    op.create_index("ix_stage_stays_contact", "stage_stays", ["contact_id", "entered_at", "left_at", "stage"])
    op.create_index("ix_feedback_handoff", "feedback", ["handoff_id"])
    conn = op.get_bind()
    facts_queue.install_triggers(conn)
    facts_queue.mark_all(conn)


def downgrade() -> None:
    facts_queue.drop_triggers(op.get_bind())
    op.drop_index("ix_feedback_handoff", table_name="feedback")
    op.drop_index("ix_stage_stays_contact", table_name="stage_stays")
    op.drop_index("ix_stage_stays_left", table_name="stage_stays")
    for table in ("contact_rollup", "contact_facts", "attribution_rollup", "attribution_facts", "stage_reached", "facts_models", "facts_dirty"):
        op.drop_table(table)
