"""Shared fixtures: journey models and throw-away SQLite / PostgreSQL databases.

PostgreSQL comes from JOURNEYBOT_TEST_POSTGRES_URL (an admin URL that may CREATE
and DROP databases). Every test that asks for it gets its own fresh database.
If the server is unreachable the test is skipped locally, but FAILS when the
environment variable CI is set: CI must never silently skip the PostgreSQL tests.
"""
from __future__ import annotations

import os
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
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


class _PostgresDatabases:
    """Creates and drops the per-test databases on one background thread.

    CREATE DATABASE and DROP DATABASE cost a few hundred milliseconds each, mostly
    waiting for the disk; one database is created ahead of time and drops happen
    in the background, so tests rarely wait for either.
    """

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.engine = _admin_engine(admin_url)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jb-test-db")
        self.ready = deque()
        self.dropped = []

    def _execute(self, sql: str) -> None:
        with self.engine.connect() as conn:
            conn.execute(text(sql))

    def _create(self) -> str:
        name = f"jb_test_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}"')
        return name

    def url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def take(self) -> str:
        """The name of a new, empty database (and start creating the next one)."""
        if not self.ready:
            self.ready.append(self.worker.submit(self._create))
        name = self.ready.popleft().result()
        self.ready.append(self.worker.submit(self._create))
        return name

    def drop(self, name: str) -> None:
        self.dropped.append((name, self.worker.submit(self._execute, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))

    def close(self) -> None:
        for future in self.ready:
            if future.exception() is None:
                self.drop(future.result())
        self.worker.shutdown(wait=True)
        self.engine.dispose()
        failed = [f"{name}: {future.exception()}" for name, future in self.dropped if future.exception() is not None]
        assert not failed, "could not drop test databases: " + "; ".join(failed)


@pytest.fixture(scope="session")
def _postgres_databases():
    databases = _PostgresDatabases(require_postgres())
    yield databases
    databases.close()


@pytest.fixture
def postgres_url(_postgres_databases):
    """URL of a brand-new, empty PostgreSQL database (jb_test_<hex>), dropped after the test."""
    name = _postgres_databases.take()
    try:
        yield _postgres_databases.url(name)
    finally:
        _postgres_databases.drop(name)


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
