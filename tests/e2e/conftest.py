"""Real processes: a trained model, Rasa server, action server and console on free ports."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bot.training import ensure_model
from devtools.stack import Stack
from journey_state.model import load_named_model
from journey_state.replies import load_replies
from journey_state.store.migrate import upgrade
from tests.fakes import whatsapp as wa

PROJECT = Path(__file__).resolve().parents[2]
# Debian's Chromium, headless, with nothing that would reach the internet.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]


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


@pytest.fixture
def browser():
    """Headless Chromium (Playwright), closed after the test."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def replies():
    """The shipped reply book for the B2C model (what the bot should say at each stage)."""
    model = load_named_model(PROJECT / "data/journeys", "b2c")
    return load_replies(PROJECT / "data/business", model.stage_ids)


@pytest.fixture()
def graph():
    """A fake WhatsApp Cloud API (Graph) server on 127.0.0.1."""
    fake = wa.FakeGraph().start()
    yield fake
    fake.stop()


def pytest_terminal_summary(terminalreporter):
    """The conversation suite's pass rate per theme and per needed feature, when it ran."""
    import sys

    # Imported as e2e.test_conversation_suite or tests.e2e.... depending on the rootdir.
    suite = next((m for name, m in list(sys.modules.items()) if name.endswith("test_conversation_suite")), None)
    if suite is None or not getattr(suite, "OUTCOMES", None):
        return
    from devtools.conversations import summary

    terminalreporter.section("conversation suite")
    for line in summary(suite.OUTCOMES, suite.PENDING):
        terminalreporter.write_line(line)
