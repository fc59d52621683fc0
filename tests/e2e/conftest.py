"""Real processes: a trained model, Rasa server, action server and console on free ports."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.stack import Stack
from bot.training import ensure_model
from journey_state.store.migrate import upgrade

PROJECT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The shipped config trained once per fingerprint (reused across runs in models/)."""
    models = Path(os.environ.get("JOURNEYBOT_TEST_MODELS_DIR", PROJECT / "models"))
    return ensure_model(PROJECT, models, quiet=True)


@pytest.fixture()
def sqlite_db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'journeybot.db'}"
    upgrade(url)
    return url


@pytest.fixture()
def stack_factory(trained_model, tmp_path):
    """Start stacks on a given database; every one is stopped at the end of the test."""
    started: list[Stack] = []

    def start(database_url: str, name: str = "stack", **kwargs) -> Stack:
        stack = Stack.create(trained_model, database_url, tmp_path / name, **kwargs)
        started.append(stack)
        try:
            return stack.start()
        except Exception:
            stack.stop()
            raise

    yield start
    for stack in started:
        stack.stop()
