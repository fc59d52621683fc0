"""Triggers that list in facts_dirty every contact whose analytics facts must be recomputed.

A contact is marked when its touchpoints, stage transitions, offer events, feedback,
channel identities or its own row (stage, flags, last activity, persona, model, creation) change, whichever code writes (the
store, an identity merge, an erasure, a bulk load with the triggers on). Marking is one
upsert that bumps the row's version; journey_state/analytics/facts.py recomputes the marked
contacts and clears only the version it read, so a change made during a refresh is not lost.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from journey_state.store import triggers

_MARK = "INSERT INTO facts_dirty (contact_id, v) VALUES ({cid}, 1) ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1"

# (table, contact id column, WHEN condition on the row or None, columns whose update matters)
WATCHED = (
    ("touchpoints", "contact_id", None, "contact_id, stage, channel, intent, at"),
    ("transitions", "contact_id", "{row}.kind = 'stage'", "contact_id, kind, to_value, at"),
    ("offer_events", "contact_id", None, "contact_id, kind, offer_id, stage, channel, at"),
    ("channel_identities", "contact_id", None, "contact_id, channel"),
    ("feedback", "contact_id", None, "contact_id, kind, score, stage, channel, at"),
    ("contacts", "id", None, "persona, journey_model, created_at, stage, at_risk, dormant, last_activity_at"),
)
TRIGGERS = tuple((f"tr_facts_{table}_{op}", table) for table, *_ in WATCHED for op in ("insert", "delete", "update"))
FUNCTIONS = ("facts_mark_contact_id", "facts_mark_id")


def _sqlite_ddl() -> list[str]:
    ddl = []
    for table, column, condition, columns in WATCHED:
        for op, rows in (("insert", ("NEW",)), ("delete", ("OLD",)), ("update", ("OLD", "NEW"))):
            when = f" WHEN {condition.format(row=rows[0])}" if condition and op != "update" else ""
            event = f"UPDATE OF {columns}" if op == "update" else op.upper()
            body = " ".join(_MARK.format(cid=f"{row}.{column}") + ";" for row in rows)
            ddl.append(f"CREATE TRIGGER tr_facts_{table}_{op} AFTER {event} ON {table}{when} BEGIN {body} END")
    return ddl


def _postgres_ddl() -> list[str]:
    ddl = []
    for column in ("contact_id", "id"):
        body = (
            f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_MARK.format(cid='OLD.' + column)}; END IF; "
            f"IF TG_OP IN ('UPDATE', 'INSERT') THEN {_MARK.format(cid='NEW.' + column)}; END IF; RETURN NULL;"
        )
        ddl.append(f"CREATE FUNCTION facts_mark_{column}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$")
    for table, column, condition, columns in WATCHED:
        for op, row in (("insert", "NEW"), ("delete", "OLD"), ("update", None)):
            when = f" WHEN ({condition.format(row=row)})" if condition and row else ""
            event = f"UPDATE OF {columns}" if op == "update" else op.upper()
            ddl.append(f"CREATE TRIGGER tr_facts_{table}_{op} AFTER {event} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION facts_mark_{column}()")
    return ddl


def ddl(dialect: str) -> list[str]:
    """The statements that create the triggers on `dialect` ("sqlite" or "postgresql").

    Migrations hold a frozen copy; tests/unit/test_migrations.py checks that a migrated
    database has exactly these, so a change here needs a new migration.
    """
    return _sqlite_ddl() if dialect == "sqlite" else _postgres_ddl()


def install_triggers(conn: Connection) -> None:
    """(Re)create the marking triggers (SQLite or PostgreSQL)."""
    triggers.install(conn, _sqlite_ddl, _postgres_ddl, TRIGGERS, FUNCTIONS)


def drop_triggers(conn: Connection) -> None:
    """Remove the marking triggers (around a bulk load; mark every contact afterwards)."""
    triggers.drop(conn, TRIGGERS, FUNCTIONS)


def mark_all(conn: Connection, journey_model: str | None = None) -> None:
    """Mark every contact (of one journey model) for recomputation."""
    where = "1 = 1" if journey_model is None else "journey_model = :model"
    # The WHERE before ON CONFLICT keeps SQLite's parser from reading ON as a join constraint.
    conn.execute(
        text(f"INSERT INTO facts_dirty (contact_id, v) SELECT id, 1 FROM contacts WHERE {where} ON CONFLICT (contact_id) DO UPDATE SET v = facts_dirty.v + 1"),
        {} if journey_model is None else {"model": journey_model},
    )
