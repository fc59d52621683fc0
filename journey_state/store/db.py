"""Engine creation for SQLite (embedded default) and PostgreSQL."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import QueuePool

from journey_state.errors import StoreUnavailable

SQLITE_BUSY_TIMEOUT_S = 30
SQLITE_CACHE_KIB = 32768  # per pooled connection
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
READ_ONLY = "journeybot_read_only"  # execution option for connections that never write
DB_FILE_MODE = 0o600


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and write-locking transactions."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailable(f"bad database URL {url!r}; expected e.g. sqlite:///var/journeybot.db or postgresql://host/db") from None
    if parsed.get_backend_name() == "sqlite":
        _create_private(parsed.database)
        # A pool keeps connections open: with SQLAlchemy 1.4's default NullPool every
        # transaction reopens the file, and closing the last connection checkpoints and
        # deletes the WAL (two fsyncs per write; measured p95 28 ms → 6 ms with a pool).
        engine = create_engine(
            url,
            future=True,
            poolclass=QueuePool,
            pool_size=5,
            max_overflow=5,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        _sqlite_locking(engine)
        return engine
    return create_engine(url, future=True, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _create_private(database: str | None) -> None:
    """Create a missing SQLite file as owner-only before SQLite creates it world-readable.

    The file holds customers' conversations and staff password hashes; SQLite creates it
    with 0644 under the usual umask, and its -wal/-shm files copy the database file's mode.
    An existing file keeps its mode (the operator may have chosen it).
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite reports the missing directory itself
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DB_FILE_MODE))


def _sqlite_locking(engine: Engine) -> None:
    # pysqlite defers BEGIN until the first write, which lets two processes read the
    # same row and then both write it. BEGIN IMMEDIATE takes the write lock up front,
    # so read-modify-write of a contact is serialised across action-server workers.
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # SQLite's default page cache is 2 MiB; at 100k contacts / 1M touchpoints the index
        # pages a turn touches no longer fit and every insert reads them back through the OS.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    def _on_begin(connection: Connection) -> None:
        # Reads (marked read_only) begin deferred, so WAL lets them run beside a writer.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    # event.listen rather than the @event.listens_for decorator: SQLAlchemy 1.4 ships no types,
    # and an untyped decorator would make the listeners untyped.
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)


_shared: dict[str, Engine] = {}
_shared_lock = threading.Lock()


def shared_engine(url: str) -> Engine:
    """One engine (and connection pool) per database URL for the whole process.

    The channels in the Rasa server (Telegram state, WhatsApp sessions, identity proofs)
    share it instead of each opening its own pool on the same database.
    """
    with _shared_lock:
        engine = _shared.get(url)
        if engine is None:
            engine = _shared[url] = make_engine(url)
        return engine


# A PostgreSQL restart refuses connections for 1-3 s on one machine (measured: back within
# 2.5 s); a turn waits that out rather than losing its touchpoint (pool_pre_ping already
# replaces the connections the restart closed).
CONNECT_FOR_S = 4.0


def connect_waiting(engine: Engine, wait_s: float = CONNECT_FOR_S) -> Connection:
    """A connection, waiting up to `wait_s` for a database that refuses them (restarting).

    Only connecting is retried: nothing has run yet, so it is safe for every caller.
    Hand-written rather than tenacity, which is not in the lock.
    """
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            return engine.connect()
        except OperationalError:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
