"""Shared fixtures: journey models and throw-away SQLite / PostgreSQL databases.

PostgreSQL comes from JOURNEYBOT_TEST_POSTGRES_URL (an admin URL that may CREATE
and DROP databases). Every test that asks for it gets its own fresh database.
If the server is unreachable the test is skipped locally, but FAILS when the
environment variable CI is set: CI must never silently skip the PostgreSQL tests.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from journey_state.model import JourneyModel, load_named_model

PROJECT = Path(__file__).resolve().parent.parent
JOURNEYS_DIR = PROJECT / "data" / "journeys"
BUSINESS_DIR = PROJECT / "data" / "business"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

_postgres_problem: dict[str, str | None] = {}


def postgres_admin_url() -> str:
    return os.environ.get("JOURNEYBOT_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def _admin_engine(url: str):
    return create_engine(url, future=True, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def _check_postgres(url: str) -> str | None:
    """None if the admin URL is usable, else a message saying why not (checked once per session)."""
    if url not in _postgres_problem:
        engine = _admin_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _postgres_problem[url] = None
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0]
            _postgres_problem[url] = f"PostgreSQL unreachable at {make_url(url).render_as_string(hide_password=True)}: {reason}"
        finally:
            engine.dispose()
    return _postgres_problem[url]


def require_postgres() -> str:
    """The admin URL, or skip (locally) / fail (CI) with a clear message."""
    url = postgres_admin_url()
    problem = _check_postgres(url)
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; CI requires it (set JOURNEYBOT_TEST_POSTGRES_URL)", pytrace=False)
        pytest.skip(f"{problem}; set JOURNEYBOT_TEST_POSTGRES_URL to run the PostgreSQL tests")
    return url


def pytest_collection_modifyitems(items):
    # Tests that ask for postgres_url directly get the marker too (database_url's
    # postgres param carries it already), so `-m "not postgres"` deselects them.
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def _postgres_admin():
    """An AUTOCOMMIT engine on the admin URL (CREATE/DROP DATABASE cannot run in a transaction)."""
    url = require_postgres()
    engine = _admin_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def postgres_url(_postgres_admin):
    """URL of a brand-new, empty PostgreSQL database (jb_test_<hex>), dropped after the test."""
    admin_url, admin = _postgres_admin
    name = f"jb_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE ends connections the test left open (e.g. an engine it did not dispose).
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a SQLite file in the test's temporary directory (created on first use)."""
    return f"sqlite:///{tmp_path / 'journeybot-test.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request) -> str:
    """An empty database on each supported backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def migrated_url(database_url) -> str:
    """`database_url` after `journeybot db upgrade`."""
    from journey_state.store import migrate

    migrate.upgrade(database_url)
    return database_url


@pytest.fixture(scope="session")
def journeys_dir() -> Path:
    return JOURNEYS_DIR


@pytest.fixture(scope="session")
def business_dir() -> Path:
    return BUSINESS_DIR


@pytest.fixture(scope="session")
def b2c_model() -> JourneyModel:
    return load_named_model(JOURNEYS_DIR, "b2c")


@pytest.fixture(scope="session")
def b2b_model() -> JourneyModel:
    return load_named_model(JOURNEYS_DIR, "b2b")
