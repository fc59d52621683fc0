"""Create or upgrade the journey schema with Alembic."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from journey_state.store.db import make_engine
from journey_state.store.errors import unavailable_as_error

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "journeybot_alembic_version"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`, creating it if empty."""
    engine = make_engine(url)
    try:
        with unavailable_as_error("cannot migrate journey database", missing_tables=None), engine.begin() as conn:
            config = alembic_config(url)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def pending(url: str) -> bool:
    """True if the database is not at the latest revision."""
    engine = make_engine(url)
    try:
        with unavailable_as_error(missing_tables=None), engine.connect() as conn:
            current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    finally:
        engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    return current != head
