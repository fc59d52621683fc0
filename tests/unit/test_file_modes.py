"""Local state in var/ is owner-only: the SQLite database (and its WAL) and the generated secrets."""
from __future__ import annotations

import os
import stat

from sqlalchemy import text

from bot.local_secrets import ensure_local_tokens
from journey_state.store import make_engine, migrate


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_sqlite_database_and_its_wal_are_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask, under which SQLite would create 0644
    try:
        db = tmp_path / "journeybot.db"
        migrate.upgrade(f"sqlite:///{db}")
        assert mode(db) == 0o600
        engine = make_engine(f"sqlite:///{db}")
        try:
            with engine.begin() as conn:  # a write, with the connection open, leaves the WAL in place
                conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
                assert mode(f"{db}-wal") == 0o600
        finally:
            engine.dispose()
    finally:
        os.umask(old)


def test_an_existing_database_file_keeps_its_data_and_memory_databases_work(tmp_path):
    db = tmp_path / "kept.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (7)"))
    engine.dispose()
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalar_one() == 7
    engine.dispose()
    memory = make_engine("sqlite://")
    with memory.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    memory.dispose()


def test_local_secrets_are_owner_only_even_when_the_file_existed(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh"
        ensure_local_tokens(fresh, {})
        assert mode(fresh / "local-secrets.env") == 0o600

        existing = tmp_path / "existing"
        existing.mkdir()
        path = existing / "local-secrets.env"
        path.write_text("JOURNEYBOT_API_TOKEN=kept\n")
        path.chmod(0o644)  # e.g. written by hand or by an older version
        tokens = ensure_local_tokens(existing, {})
        assert tokens["JOURNEYBOT_API_TOKEN"] == "kept" and tokens["JOURNEYBOT_RASA_TOKEN"]
        assert mode(path) == 0o600
        assert "JOURNEYBOT_RASA_TOKEN=" in path.read_text()
    finally:
        os.umask(old)
