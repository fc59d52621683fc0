"""A PostgreSQL database that goes away for a moment, as during a server restart, without restarting the server.

New connections to the one database are refused (ALLOW_CONNECTIONS false) and the open ones
are cut (pg_terminate_backend): what a restart does to its clients. Other databases, and
other people's tests on the same server, are not touched.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url


@contextmanager
def database_unreachable(admin: Engine, url: str, for_s: float | None = None) -> Iterator[None]:
    """New connections to this database refused and open ones cut, as during a restart; back after `for_s` (or at exit)."""
    name = make_url(url).database

    def allow(on: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if on else "false"}'))

    allow(False)
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
    timer = threading.Timer(for_s, allow, (True,)) if for_s is not None else None
    if timer:
        timer.start()
    try:
        yield
    finally:
        if timer:
            timer.join()
        allow(True)
