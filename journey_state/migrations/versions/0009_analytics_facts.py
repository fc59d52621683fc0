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
from sqlalchemy.engine import Connection

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


# The triggers' DDL as it was at this revision, frozen here so that later changes to
# journey_state/store/facts_queue.py cannot change what this migration does.
TRIGGERS = (
    ("tr_facts_touchpoints_insert", "touchpoints"),
    ("tr_facts_touchpoints_delete", "touchpoints"),
    ("tr_facts_touchpoints_update", "touchpoints"),
    ("tr_facts_transitions_insert", "transitions"),
    ("tr_facts_transitions_delete", "transitions"),
    ("tr_facts_transitions_update", "transitions"),
    ("tr_facts_offer_events_insert", "offer_events"),
    ("tr_facts_offer_events_delete", "offer_events"),
    ("tr_facts_offer_events_update", "offer_events"),
    ("tr_facts_channel_identities_insert", "channel_identities"),
    ("tr_facts_channel_identities_delete", "channel_identities"),
    ("tr_facts_channel_identities_update", "channel_identities"),
    ("tr_facts_feedback_insert", "feedback"),
    ("tr_facts_feedback_delete", "feedback"),
    ("tr_facts_feedback_update", "feedback"),
    ("tr_facts_contacts_insert", "contacts"),
    ("tr_facts_contacts_delete", "contacts"),
    ("tr_facts_contacts_update", "contacts"),
)

FUNCTIONS = (
    "facts_mark_contact_id",
    "facts_mark_id",
)

SQLITE_DDL = (
    (
        "CREATE TRIGGER tr_facts_touchpoints_insert AFTER INSERT ON touchpoints BEGIN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; "
        "END"
    ),
    (
        "CREATE TRIGGER tr_facts_touchpoints_delete AFTER DELETE ON touchpoints BEGIN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; "
        "END"
    ),
    (
        "CREATE TRIGGER tr_facts_touchpoints_update AFTER UPDATE OF contact_id, stage, channel, intent, at ON "
        "touchpoints BEGIN INSERT INTO facts_dirty (contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT "
        "(contact_id) DO UPDATE SET v = facts_dirty.v + 1; INSERT INTO facts_dirty (contact_id, v) VALUES "
        "(NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_transitions_insert AFTER INSERT ON transitions WHEN NEW.kind = 'stage' BEGIN "
        "INSERT INTO facts_dirty (contact_id, v) VALUES (NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE "
        "SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_transitions_delete AFTER DELETE ON transitions WHEN OLD.kind = 'stage' BEGIN "
        "INSERT INTO facts_dirty (contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE "
        "SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_transitions_update AFTER UPDATE OF contact_id, kind, to_value, at ON transitions "
        "BEGIN INSERT INTO facts_dirty (contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT (contact_id) DO "
        "UPDATE SET v = facts_dirty.v + 1; INSERT INTO facts_dirty (contact_id, v) VALUES (NEW.contact_id, 1) ON "
        "CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_offer_events_insert AFTER INSERT ON offer_events BEGIN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; "
        "END"
    ),
    (
        "CREATE TRIGGER tr_facts_offer_events_delete AFTER DELETE ON offer_events BEGIN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; "
        "END"
    ),
    (
        "CREATE TRIGGER tr_facts_offer_events_update AFTER UPDATE OF contact_id, kind, offer_id, stage, channel, "
        "at ON offer_events BEGIN INSERT INTO facts_dirty (contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT "
        "(contact_id) DO UPDATE SET v = facts_dirty.v + 1; INSERT INTO facts_dirty (contact_id, v) VALUES "
        "(NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_channel_identities_insert AFTER INSERT ON channel_identities BEGIN INSERT INTO "
        "facts_dirty (contact_id, v) VALUES (NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = "
        "facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_channel_identities_delete AFTER DELETE ON channel_identities BEGIN INSERT INTO "
        "facts_dirty (contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = "
        "facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_channel_identities_update AFTER UPDATE OF contact_id, channel ON "
        "channel_identities BEGIN INSERT INTO facts_dirty (contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT "
        "(contact_id) DO UPDATE SET v = facts_dirty.v + 1; INSERT INTO facts_dirty (contact_id, v) VALUES "
        "(NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_feedback_insert AFTER INSERT ON feedback BEGIN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; "
        "END"
    ),
    (
        "CREATE TRIGGER tr_facts_feedback_delete AFTER DELETE ON feedback BEGIN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; "
        "END"
    ),
    (
        "CREATE TRIGGER tr_facts_feedback_update AFTER UPDATE OF contact_id, kind, score, stage, channel, at ON "
        "feedback BEGIN INSERT INTO facts_dirty (contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT "
        "(contact_id) DO UPDATE SET v = facts_dirty.v + 1; INSERT INTO facts_dirty (contact_id, v) VALUES "
        "(NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_contacts_insert AFTER INSERT ON contacts BEGIN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (NEW.id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_contacts_delete AFTER DELETE ON contacts BEGIN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (OLD.id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END"
    ),
    (
        "CREATE TRIGGER tr_facts_contacts_update AFTER UPDATE OF persona, journey_model, created_at, stage, "
        "at_risk, dormant, last_activity_at ON contacts BEGIN INSERT INTO facts_dirty (contact_id, v) VALUES "
        "(OLD.id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (NEW.id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END"
    ),
)

POSTGRES_DDL = (
    (
        "CREATE FUNCTION facts_mark_contact_id() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP IN "
        "('UPDATE', 'DELETE') THEN INSERT INTO facts_dirty (contact_id, v) VALUES (OLD.contact_id, 1) ON CONFLICT "
        "(contact_id) DO UPDATE SET v = facts_dirty.v + 1; END IF; IF TG_OP IN ('UPDATE', 'INSERT') THEN INSERT "
        "INTO facts_dirty (contact_id, v) VALUES (NEW.contact_id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = "
        "facts_dirty.v + 1; END IF; RETURN NULL; END $$"
    ),
    (
        "CREATE FUNCTION facts_mark_id() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP IN ('UPDATE', "
        "'DELETE') THEN INSERT INTO facts_dirty (contact_id, v) VALUES (OLD.id, 1) ON CONFLICT (contact_id) DO "
        "UPDATE SET v = facts_dirty.v + 1; END IF; IF TG_OP IN ('UPDATE', 'INSERT') THEN INSERT INTO facts_dirty "
        "(contact_id, v) VALUES (NEW.id, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1; END IF; "
        "RETURN NULL; END $$"
    ),
    (
        "CREATE TRIGGER tr_facts_touchpoints_insert AFTER INSERT ON touchpoints FOR EACH ROW EXECUTE FUNCTION "
        "facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_touchpoints_delete AFTER DELETE ON touchpoints FOR EACH ROW EXECUTE FUNCTION "
        "facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_touchpoints_update AFTER UPDATE OF contact_id, stage, channel, intent, at ON "
        "touchpoints FOR EACH ROW EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_transitions_insert AFTER INSERT ON transitions FOR EACH ROW WHEN (NEW.kind = "
        "'stage') EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_transitions_delete AFTER DELETE ON transitions FOR EACH ROW WHEN (OLD.kind = "
        "'stage') EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_transitions_update AFTER UPDATE OF contact_id, kind, to_value, at ON transitions "
        "FOR EACH ROW EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_offer_events_insert AFTER INSERT ON offer_events FOR EACH ROW EXECUTE FUNCTION "
        "facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_offer_events_delete AFTER DELETE ON offer_events FOR EACH ROW EXECUTE FUNCTION "
        "facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_offer_events_update AFTER UPDATE OF contact_id, kind, offer_id, stage, channel, "
        "at ON offer_events FOR EACH ROW EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_channel_identities_insert AFTER INSERT ON channel_identities FOR EACH ROW "
        "EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_channel_identities_delete AFTER DELETE ON channel_identities FOR EACH ROW "
        "EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_channel_identities_update AFTER UPDATE OF contact_id, channel ON "
        "channel_identities FOR EACH ROW EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_feedback_insert AFTER INSERT ON feedback FOR EACH ROW EXECUTE FUNCTION "
        "facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_feedback_delete AFTER DELETE ON feedback FOR EACH ROW EXECUTE FUNCTION "
        "facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_feedback_update AFTER UPDATE OF contact_id, kind, score, stage, channel, at ON "
        "feedback FOR EACH ROW EXECUTE FUNCTION facts_mark_contact_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_contacts_insert AFTER INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION "
        "facts_mark_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_contacts_delete AFTER DELETE ON contacts FOR EACH ROW EXECUTE FUNCTION "
        "facts_mark_id()"
    ),
    (
        "CREATE TRIGGER tr_facts_contacts_update AFTER UPDATE OF persona, journey_model, created_at, stage, "
        "at_risk, dormant, last_activity_at ON contacts FOR EACH ROW EXECUTE FUNCTION facts_mark_id()"
    ),
)


# Every existing contact is marked for its first facts computation.
MARK_ALL = (
    "INSERT INTO facts_dirty (contact_id, v) SELECT id, 1 FROM contacts WHERE 1 = 1 "
    "ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1"
)


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
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stage_reached_period", "stage_reached", ["journey_model", "channel", "created_at", "idx", "reached_at", "persona"])
    op.create_index("ix_stage_reached_late", "stage_reached", ["journey_model", "channel", "reached_at", "created_at", "idx", "persona"])
    op.create_table(
        "contact_facts",
        sa.Column("contact_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("journey_model", sa.String(64), nullable=False),
        sa.Column("persona", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("at_risk", sa.Boolean, nullable=False),
        sa.Column("dormant", sa.Boolean, nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True)),
        sa.Column("furthest", sa.Integer, nullable=False),
        sa.Column("retained_at", sa.DateTime(timezone=True)),
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
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
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
    _install_triggers(conn)
    conn.exec_driver_sql(MARK_ALL)


def downgrade() -> None:
    _drop_triggers(op.get_bind())
    op.drop_index("ix_feedback_handoff", table_name="feedback")
    op.drop_index("ix_stage_stays_contact", table_name="stage_stays")
    op.drop_index("ix_stage_stays_left", table_name="stage_stays")
    for table in ("contact_rollup", "contact_facts", "attribution_rollup", "attribution_facts", "stage_reached", "facts_models", "facts_dirty"):
        op.drop_table(table)


def _drop_triggers(conn: Connection) -> None:
    sqlite = conn.dialect.name == "sqlite"
    for name, table in TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
    if not sqlite:
        for name in FUNCTIONS:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name} CASCADE")


def _install_triggers(conn: Connection) -> None:
    _drop_triggers(conn)
    for statement in SQLITE_DDL if conn.dialect.name == "sqlite" else POSTGRES_DDL:
        conn.exec_driver_sql(statement)
