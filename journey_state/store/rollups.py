"""Precomputed analytics data, kept exact by database triggers: touch_rollup and stage_stays.

`touch_rollup` holds, per UTC day (grain "d") and per UTC month (grain "m"), the number of
touchpoints for each (journey model, persona, stage, channel, intent, emotion) of their
contact. Triggers on `touchpoints` and `contacts` update it in the same statement as the
write, so it cannot drift, whichever code writes: the store, an identity merge moving
touchpoints, an erasure, a persona set by hand or a bulk load. NULL persona, intent and
emotion are stored as "" so that they can be part of the primary key.

`stage_stays` holds each contact's stays in a stage (its creation, then each stage
transition, up to the next one), recomputed for the contact by triggers whenever its
transitions, creation time, persona or model change.

Cost per write: a touchpoint fires one trigger with two upserts; a stage transition
recomputes the contact's few stays. `rebuild` recomputes both tables from the raw data.
"""
from __future__ import annotations

from sqlalchemy import delete, func, insert, literal, literal_column, select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import CompoundSelect

from journey_state.store import triggers
from journey_state.store.tables import contacts, stage_stays, touch_rollup, touchpoints

DAY, MONTH = "d", "m"
KEY = ("journey_model", "persona", "stage", "channel", "intent", "emotion")
_PK = "grain, bucket, " + ", ".join(KEY)


def _bucket_sql(dialect: str, at: str, grain: str) -> str:
    """SQL for the day ('YYYY-MM-DD') or month ('YYYY-MM') of a touchpoint time, in UTC."""
    if dialect == "sqlite":  # UTCDateTime stores naive UTC text 'YYYY-MM-DD HH:MM:SS...'
        return f"substr({at}, 1, {10 if grain == DAY else 7})"
    return f"to_char({at} AT TIME ZONE 'UTC', '{'YYYY-MM-DD' if grain == DAY else 'YYYY-MM'}')"


def _upsert(selects: str) -> str:
    """Add the selected (key..., n) rows to touch_rollup."""
    return f"INSERT INTO touch_rollup ({_PK}, n) {selects} ON CONFLICT ({_PK}) DO UPDATE SET n = touch_rollup.n + excluded.n"


def _add(dialect: str, row: str, delta: str, contact_id: str) -> str:
    """One upsert statement adding `delta` for touchpoint `row` (NEW/OLD) at both grains."""
    selects = " UNION ALL ".join(
        f"SELECT '{grain}', {_bucket_sql(dialect, row + '.at', grain)}, c.journey_model, COALESCE(c.persona, ''), "
        f"{row}.stage, {row}.channel, COALESCE({row}.intent, ''), COALESCE({row}.emotion, ''), {delta} "
        f"FROM contacts c WHERE c.id = {contact_id}"
        for grain in (DAY, MONTH)
    )
    return _upsert(selects)


def _move_contact(dialect: str, contact: str, sign: str) -> str:
    """Upsert adding (sign=+1) or removing (-1) all touchpoints of a contact under its row `contact` (NEW/OLD)."""
    selects = " UNION ALL ".join(
        f"SELECT '{grain}', {_bucket_sql(dialect, 't.at', grain)} AS b, {contact}.journey_model, COALESCE({contact}.persona, ''), "
        f"t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, ''), {sign} * COUNT(*) "
        f"FROM touchpoints t WHERE t.contact_id = {contact}.id "
        f"GROUP BY b, t.stage, t.channel, COALESCE(t.intent, ''), COALESCE(t.emotion, '')"
        for grain in (DAY, MONTH)
    )
    return _upsert(selects)


def _persona_changed(old: str, new: str, dialect: str) -> str:
    distinct = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    return f"({old}.persona {distinct} {new}.persona OR {old}.journey_model <> {new}.journey_model)"


def _epoch(dialect: str, column: str) -> str:
    """Seconds since 1970, written exactly as journey_state.analytics._sql.epoch renders it."""
    if dialect == "sqlite":
        return f"((julianday({column}) - 2440587.5) * 86400.0)"
    return f"CAST(EXTRACT(epoch FROM {column}) AS FLOAT)"


def _stays_select(dialect: str, contact_id: str | None) -> str:
    """SELECT of the stays of one contact (`contact_id` SQL) or, with None, of every contact."""
    one_c = "" if contact_id is None else f" AND c.id = {contact_id}"
    one_t = "" if contact_id is None else f" AND t.contact_id = {contact_id}"
    entries = (
        f"SELECT c.id AS cid, 0 AS seq, '' AS stage, c.created_at AS at FROM contacts c WHERE 1 = 1{one_c} "
        f"UNION ALL SELECT t.contact_id, t.id, t.to_value, t.at FROM transitions t WHERE t.kind = 'stage'{one_t}"
    )
    ordered = f"SELECT cid, seq, stage, at, LEAD(at) OVER (PARTITION BY cid ORDER BY at, seq) AS nxt FROM ({entries}) u"
    return (
        "SELECT e.cid, e.seq, c.journey_model, COALESCE(c.persona, ''), e.stage, e.at, e.nxt, "
        f"{_epoch(dialect, 'e.nxt')} - {_epoch(dialect, 'e.at')} FROM ({ordered}) e JOIN contacts c ON c.id = e.cid"
    )


STAY_COLUMNS = "contact_id, seq, journey_model, persona, stage, entered_at, left_at, seconds"


def _refresh_stays(dialect: str, contact_id: str) -> list[str]:
    return [
        f"DELETE FROM stage_stays WHERE contact_id = {contact_id}",
        f"INSERT INTO stage_stays ({STAY_COLUMNS}) {_stays_select(dialect, contact_id)}",
    ]


TRIGGERS = (
    ("tr_touch_rollup_insert", "touchpoints"),
    ("tr_touch_rollup_delete", "touchpoints"),
    ("tr_touch_rollup_update", "touchpoints"),
    ("tr_touch_rollup_contact", "contacts"),
    ("tr_rollups_contact_delete", "contacts"),
    ("tr_stage_stays_insert", "transitions"),
    ("tr_stage_stays_delete", "transitions"),
    ("tr_stage_stays_update", "transitions"),
    ("tr_stage_stays_contact_insert", "contacts"),
    ("tr_stage_stays_contact_update", "contacts"),
)
FUNCTIONS = ("touch_rollup_touch", "touch_rollup_contact", "rollups_contact_delete", "stage_stays_refresh", "stage_stays_transition", "stage_stays_contact")
# Deleting a contact's touchpoints, transitions and stays before the contact (while it still
# exists) lets their triggers subtract them; the foreign-key cascade then finds none.
_BEFORE_CONTACT_DELETE = (
    "DELETE FROM touchpoints WHERE contact_id = OLD.id",
    "DELETE FROM transitions WHERE contact_id = OLD.id",
    "DELETE FROM stage_stays WHERE contact_id = OLD.id",
)


def _sqlite_ddl() -> list[str]:
    d = "sqlite"

    def body(*statements: str) -> str:
        return "BEGIN " + " ".join(f"{x};" for x in statements) + " END"

    return [
        f"CREATE TRIGGER tr_touch_rollup_insert AFTER INSERT ON touchpoints {body(_add(d, 'NEW', '1', 'NEW.contact_id'))}",
        f"CREATE TRIGGER tr_touch_rollup_delete AFTER DELETE ON touchpoints {body(_add(d, 'OLD', '-1', 'OLD.contact_id'))}",
        "CREATE TRIGGER tr_touch_rollup_update AFTER UPDATE OF contact_id, stage, channel, intent, emotion, at ON touchpoints "
        + body(_add(d, 'OLD', '-1', 'OLD.contact_id'), _add(d, 'NEW', '1', 'NEW.contact_id')),
        f"CREATE TRIGGER tr_touch_rollup_contact AFTER UPDATE OF persona, journey_model ON contacts WHEN {_persona_changed('OLD', 'NEW', d)} "
        + body(_move_contact(d, 'OLD', '-1'), _move_contact(d, 'NEW', '1')),
        f"CREATE TRIGGER tr_rollups_contact_delete BEFORE DELETE ON contacts {body(*_BEFORE_CONTACT_DELETE)}",
        f"CREATE TRIGGER tr_stage_stays_insert AFTER INSERT ON transitions WHEN NEW.kind = 'stage' {body(*_refresh_stays(d, 'NEW.contact_id'))}",
        f"CREATE TRIGGER tr_stage_stays_delete AFTER DELETE ON transitions WHEN OLD.kind = 'stage' {body(*_refresh_stays(d, 'OLD.contact_id'))}",
        "CREATE TRIGGER tr_stage_stays_update AFTER UPDATE OF contact_id, kind, to_value, at ON transitions "
        + body(*_refresh_stays(d, 'OLD.contact_id'), *_refresh_stays(d, 'NEW.contact_id')),
        f"CREATE TRIGGER tr_stage_stays_contact_insert AFTER INSERT ON contacts {body(*_refresh_stays(d, 'NEW.id'))}",
        f"CREATE TRIGGER tr_stage_stays_contact_update AFTER UPDATE OF created_at, persona, journey_model ON contacts {body(*_refresh_stays(d, 'NEW.id'))}",
    ]


def _postgres_ddl() -> list[str]:
    d = "postgresql"

    def function(name: str, body: str, args: str = "", returns: str = "trigger") -> str:
        return f"CREATE FUNCTION {name}({args}) RETURNS {returns} LANGUAGE plpgsql AS $$ BEGIN {body} END $$"

    def each_row(name: str, when: str, table: str, func_: str, condition: str = "") -> str:
        return f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW {condition} EXECUTE FUNCTION {func_}()"

    return [
        function(
            "touch_rollup_touch",
            f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_add(d, 'OLD', '-1', 'OLD.contact_id')}; END IF; "
            f"IF TG_OP IN ('UPDATE', 'INSERT') THEN {_add(d, 'NEW', '1', 'NEW.contact_id')}; END IF; RETURN NULL;",
        ),
        function(
            "touch_rollup_contact",
            f"IF {_persona_changed('OLD', 'NEW', d)} THEN {_move_contact(d, 'OLD', '-1')}; {_move_contact(d, 'NEW', '1')}; END IF; RETURN NULL;",
        ),
        function("rollups_contact_delete", " ".join(f"{x};" for x in _BEFORE_CONTACT_DELETE) + " RETURN OLD;"),
        function("stage_stays_refresh", " ".join(f"{x};" for x in _refresh_stays(d, "p_contact")), "p_contact integer", "void"),
        function(
            "stage_stays_transition",
            "IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM stage_stays_refresh(OLD.contact_id); END IF; "
            "IF TG_OP IN ('UPDATE', 'INSERT') AND (TG_OP = 'UPDATE' OR NEW.kind = 'stage') THEN PERFORM stage_stays_refresh(NEW.contact_id); END IF; "
            "RETURN NULL;",
        ),
        function("stage_stays_contact", "PERFORM stage_stays_refresh(NEW.id); RETURN NULL;"),
        each_row("tr_touch_rollup_insert", "AFTER INSERT OR DELETE", "touchpoints", "touch_rollup_touch"),
        each_row("tr_touch_rollup_update", "AFTER UPDATE OF contact_id, stage, channel, intent, emotion, at", "touchpoints", "touch_rollup_touch"),
        each_row("tr_touch_rollup_contact", "AFTER UPDATE OF persona, journey_model", "contacts", "touch_rollup_contact"),
        each_row("tr_rollups_contact_delete", "BEFORE DELETE", "contacts", "rollups_contact_delete"),
        each_row("tr_stage_stays_insert", "AFTER INSERT", "transitions", "stage_stays_transition", "WHEN (NEW.kind = 'stage')"),
        each_row("tr_stage_stays_delete", "AFTER DELETE", "transitions", "stage_stays_transition", "WHEN (OLD.kind = 'stage')"),
        each_row("tr_stage_stays_update", "AFTER UPDATE OF contact_id, kind, to_value, at", "transitions", "stage_stays_transition"),
        each_row("tr_stage_stays_contact_insert", "AFTER INSERT", "contacts", "stage_stays_contact"),
        each_row("tr_stage_stays_contact_update", "AFTER UPDATE OF created_at, persona, journey_model", "contacts", "stage_stays_contact"),
    ]


def ddl(dialect: str) -> list[str]:
    """The statements that create the triggers on `dialect` ("sqlite" or "postgresql").

    Migrations hold a frozen copy; tests/unit/test_migrations.py checks that a migrated
    database has exactly these, so a change here needs a new migration.
    """
    return _sqlite_ddl() if dialect == "sqlite" else _postgres_ddl()


def install_triggers(conn: Connection) -> None:
    """(Re)create the triggers that keep touch_rollup and stage_stays up to date (SQLite or PostgreSQL)."""
    triggers.install(conn, _sqlite_ddl, _postgres_ddl, TRIGGERS, FUNCTIONS)


def drop_triggers(conn: Connection) -> None:
    """Remove the triggers (e.g. around a bulk load; `rebuild` afterwards)."""
    triggers.drop(conn, TRIGGERS, FUNCTIONS)


def recomputed_stays(conn: Connection) -> str:
    """SQL of what stage_stays must hold, from contacts and transitions (rebuild and tests)."""
    return _stays_select(conn.dialect.name, None)


def recomputed(conn: Connection) -> CompoundSelect:
    """SELECT of what touch_rollup must hold, computed from the raw touchpoints (rebuild and tests)."""
    cols = [contacts.c.journey_model, func.coalesce(contacts.c.persona, ""), touchpoints.c.stage, touchpoints.c.channel,
            func.coalesce(touchpoints.c.intent, ""), func.coalesce(touchpoints.c.emotion, "")]
    parts = []
    for grain in (DAY, MONTH):
        bucket = literal_column(_bucket_sql(conn.dialect.name, "touchpoints.at", grain))
        parts.append(
            select(literal(grain).label("grain"), bucket.label("bucket"), *cols, func.count().label("n"))
            .select_from(touchpoints.join(contacts, contacts.c.id == touchpoints.c.contact_id))
            .group_by(bucket, *cols)
        )
    return union_all(*parts)


def rebuild(conn: Connection) -> int:
    """Recompute touch_rollup and stage_stays from the raw data (after a bulk load with the
    triggers dropped, or to repair); returns the number of rows written."""
    conn.execute(delete(touch_rollup))
    names = ["grain", "bucket", *KEY, "n"]
    conn.execute(insert(touch_rollup).from_select(names, recomputed(conn)))
    conn.execute(delete(stage_stays))
    conn.exec_driver_sql(f"INSERT INTO stage_stays ({STAY_COLUMNS}) {recomputed_stays(conn)}")
    return sum(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (touch_rollup, stage_stays))
