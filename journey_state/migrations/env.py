"""Alembic environment for the journey store.

Only journeybot's own tables are managed here: Rasa's tracker store shares the database.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.sql.schema import SchemaItem

from journey_state.errors import StoreUnavailable
from journey_state.store.db import make_engine
from journey_state.store.schema import OWN_TABLES, metadata

VERSION_TABLE = "journeybot_alembic_version"
config = context.config


def _include(obj: SchemaItem, name: str | None, type_: str, reflected: bool, compare_to: SchemaItem | None) -> bool:
    if type_ == "table":
        return name in OWN_TABLES
    return True


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise StoreUnavailable("no database URL (sqlalchemy.url) and no connection given to the migrations")
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_object=_include,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
