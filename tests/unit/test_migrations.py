"""Alembic migrations (journey_state/migrations) against SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine, migrate
from journey_state.store.repository import Touch
from journey_state.store.schema import OWN_TABLES, metadata
from tests.conftest import PROJECT

# The journey core; later revisions add more tables, all of them listed in OWN_TABLES.
CORE_TABLES = {"contacts", "channel_identities", "transitions", "applied_signals", "touchpoints"}


def _include(obj, name, type_, reflected, compare_to):
    if type_ == "table":
        return name in OWN_TABLES
    return True


def _schema(url):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = set(inspector.get_table_names())
            schema = {
                table: (
                    sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)),
                    sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
                )
                for table in tables
            }
            version = conn.execute(text(f"SELECT version_num FROM {migrate.VERSION_TABLE}")).scalars().all()
        return tables, schema, version
    finally:
        engine.dispose()


def test_own_tables_include_the_journey_core():
    assert CORE_TABLES <= OWN_TABLES
    assert migrate.VERSION_TABLE not in OWN_TABLES


def test_upgrade_creates_the_tables(database_url):
    assert migrate.pending(database_url)
    migrate.upgrade(database_url)
    tables, schema, version = _schema(database_url)
    assert OWN_TABLES | {migrate.VERSION_TABLE} <= tables
    # ...and nothing the project does not declare as its own: env.py hides tables
    # outside OWN_TABLES from autogenerate, so their drift would go unnoticed.
    assert tables - {migrate.VERSION_TABLE} <= OWN_TABLES, "migrated tables missing from OWN_TABLES"
    head = ScriptDirectory.from_config(migrate.alembic_config(database_url)).get_current_head()
    assert version == [head]
    assert {name for name, _ in schema["transitions"][1]} >= {"ix_transitions_contact_at"}
    assert not migrate.pending(database_url)


def test_upgrade_twice_is_a_no_op(database_url):
    migrate.upgrade(database_url)
    before = _schema(database_url)
    migrate.upgrade(database_url)
    assert _schema(database_url) == before
    assert not migrate.pending(database_url)


def test_upgrade_keeps_other_tables_and_data(migrated_url):
    # Rasa's tracker store shares the database; migrations must leave it alone.
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, data TEXT)"))
            conn.execute(text("INSERT INTO events (id, data) VALUES (1, 'kept')"))
        migrate.upgrade(migrated_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT data FROM events")).scalar_one() == "kept"
            assert compare_metadata(MigrationContext.configure(conn, opts={"include_object": _include}), metadata) == []
    finally:
        engine.dispose()


def test_migrated_schema_matches_table_metadata(migrated_url):
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "compare_server_default": True, "include_object": _include},
            )
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_schema_drift_would_be_detected(migrated_url):
    """The comparison above is not vacuous: a column missing from the database shows up."""
    from sqlalchemy import Column, MetaData, String, Table

    drifted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    Table("contacts", drifted, Column("nickname", String(40)), extend_existing=True)
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"include_object": _include}), drifted)
    finally:
        engine.dispose()
    assert [(d[0], d[2], d[3].name) for d in diff if d[0] == "add_column"] == [("add_column", "contacts", "nickname")]
    assert len(diff) == 1


def test_downgrade_to_base_drops_own_tables(migrated_url):
    from alembic import command

    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            config = migrate.alembic_config(migrated_url)
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) & OWN_TABLES == set()
    finally:
        engine.dispose()
    assert migrate.pending(migrated_url)
    migrate.upgrade(migrated_url)
    assert not migrate.pending(migrated_url)


def test_rasa_conversations_get_their_channel_in_their_id(database_url):
    """Migration 0010: bare sender ids in Rasa's `events` become channel:sender, journey data untouched."""
    import asyncio

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    migrate.upgrade(database_url, "0009")
    rasa = SQLTrackerStore(Domain.empty(), host=database_url)
    conversations = {
        "+4915112345678": [UserUttered("hi", {"name": "greet", "confidence": 1.0}, input_channel="whatsapp")],
        "5550001": [UserUttered("hi", {"name": "greet", "confidence": 1.0}, input_channel="telegram")],
        "0123456789abcdef0123456789abcdef": [ActionExecuted("action_listen")],  # no message: the journey identity says
        "alice": [ActionExecuted("action_listen")],  # unknown anywhere: REST
    }
    for sender, events in conversations.items():
        asyncio.run(rasa.save(DialogueStateTracker.from_events(sender, events)))
    rasa.engine.dispose()
    engine = make_engine(database_url)
    try:
        store = JourneyStore(engine, load_named_model(PROJECT / "data/journeys", "b2c"))
        who = ChannelRef("socketio", "0123456789abcdef0123456789abcdef")
        store.record_signal(who, Signal("m1", Source.CONVERSATION, datetime(2026, 12, 1, tzinfo=timezone.utc), intent="greet"),
                            Touch("socketio", "m1", "greet", 0.9, None, "hi"))
        migrate.upgrade(database_url)
        with engine.connect() as conn:
            ids = {s for (s,) in conn.execute(text("SELECT DISTINCT sender_id FROM events"))}
        assert ids == {"whatsapp:+4915112345678", "telegram:5550001", "socketio:0123456789abcdef0123456789abcdef", "rest:alice"}
        from alembic import command

        with engine.begin() as conn:
            config = migrate.alembic_config(database_url)
            config.attributes["connection"] = conn
            command.downgrade(config, "0009")
        with engine.connect() as conn:
            assert {s for (s,) in conn.execute(text("SELECT DISTINCT sender_id FROM events"))} == set(conversations)
    finally:
        engine.dispose()


VERSIONS = PROJECT / "journey_state" / "migrations" / "versions"


def project_imports(source: str) -> list[str]:
    """The journey_state/bot/actions modules a migration's source imports, at any depth."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.ImportFrom) and node.level:
            names = [f".{node.module or ''}"]  # relative: inside the project by definition
        found += [n for n in names if n.startswith(".") or n.split(".")[0] in ("journey_state", "bot", "actions")]
    return found


def test_migrations_hold_their_own_ddl():
    # A migration that imports live code changes whenever that code does; old databases
    # would then have been migrated differently from new ones.
    files = sorted(VERSIONS.glob("*.py"))
    assert len(files) >= 11
    assert {f.name: project_imports(f.read_text(encoding="utf-8")) for f in files} == {f.name: [] for f in files}


def test_the_import_check_sees_project_imports():
    source = "import os\nfrom journey_state.store import rollups\ndef f():\n    import bot.cli\n    from . import x\n"
    assert project_imports(source) == ["journey_state.store", "bot.cli", "."]


def _function_body(statement: str) -> str:
    return statement.split("$$", 2)[1].strip()


def test_migrated_triggers_are_the_ones_the_code_defines(migrated_url):
    """Migrations hold frozen trigger DDL; the head database must have what the code expects."""
    from journey_state.store import facts_queue, rollups

    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            dialect = conn.dialect.name
            expected = [*rollups.ddl(dialect), *facts_queue.ddl(dialect)]
            names = {s.split()[2] for s in expected if s.startswith("CREATE TRIGGER")}
            if dialect == "sqlite":
                found = set(conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'trigger'").scalars())
                assert found == set(expected)
            else:
                found = set(conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").scalars())
                assert found == names
                bodies = dict(conn.exec_driver_sql(
                    "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
                ).all())
                functions = {s.split()[2].split("(")[0]: _function_body(s) for s in expected if s.startswith("CREATE FUNCTION")}
                assert {name: bodies.get(name, "").strip() for name in functions} == functions
    finally:
        engine.dispose()


def test_rollups_and_facts_queue_are_filled_from_existing_data(database_url, b2c_model):
    """0008 and 0009 fill touch_rollup, stage_stays and facts_dirty from data written before them."""
    from sqlalchemy import select

    from journey_state.store import rollups
    from journey_state.store.tables import contacts, facts_dirty, touch_rollup

    migrate.upgrade(database_url, "0007")
    engine = make_engine(database_url)
    try:
        store = JourneyStore(engine, b2c_model)
        at = datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc)
        for n, (channel, intent) in enumerate([("socketio", "greet"), ("telegram", "place_order"), ("socketio", None)]):
            who = ChannelRef(channel, f"u{n % 2}")
            store.record_signal(who, Signal(f"s{n}", Source.CONVERSATION, at, intent=intent), Touch(channel, f"m{n}", intent, 0.9, None, "x"))
        migrate.upgrade(database_url)
        with engine.connect() as conn:
            rollup = sorted(tuple(r) for r in conn.execute(select(touch_rollup)).all())
            assert rollup == sorted(tuple(r) for r in conn.execute(rollups.recomputed(conn)).all())
            assert len(rollup) >= 4
            stays = sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT {rollups.STAY_COLUMNS} FROM stage_stays").all())
            assert stays and stays == sorted(tuple(r) for r in conn.exec_driver_sql(rollups.recomputed_stays(conn)).all())
            assert set(conn.execute(select(facts_dirty.c.contact_id)).scalars()) == set(conn.execute(select(contacts.c.id)).scalars())
    finally:
        engine.dispose()
