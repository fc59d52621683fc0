"""Installing and dropping a set of triggers (and, on PostgreSQL, the functions they call)."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.engine import Connection


def install(conn: Connection, sqlite_ddl: Callable[[], list[str]], postgres_ddl: Callable[[], list[str]],
            triggers: Iterable[tuple[str, str]], functions: Iterable[str]) -> None:
    """(Re)create the triggers: drop them, then run the dialect's DDL."""
    drop(conn, triggers, functions)
    for statement in sqlite_ddl() if conn.dialect.name == "sqlite" else postgres_ddl():
        conn.exec_driver_sql(statement)


def drop(conn: Connection, triggers: Iterable[tuple[str, str]], functions: Iterable[str]) -> None:
    """Drop the (trigger name, table) pairs and, on PostgreSQL, the functions, if they exist."""
    sqlite = conn.dialect.name == "sqlite"
    for name, table in triggers:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else f" ON {table}"))
    if not sqlite:
        for name in functions:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name} CASCADE")
