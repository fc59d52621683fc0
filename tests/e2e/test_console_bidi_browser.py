"""Bidi controls in customer text, as the console's own scripts draw it, in headless Chromium.

The server strips them from what it renders (tests/unit/test_console_hardening.py); these
check the scripts that draw data after the page loaded: the dashboard's tables and map
(from /staff/dashboard/data.json) and the live transcript (console.js polling
transcript.json). In-process console on a SQLite store and a fake Rasa HTTP API.
"""
from __future__ import annotations

import json
import threading
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from bot.console.app import create_app
from bot.console.dashboard.views import CHART_BUNDLE
from bot.console.staff.auth import hash_password
from bot.settings import load_settings
from devtools.stack import free_port
from journey_state.bidi import BIDI_CONTROLS
from journey_state.handoff import CUSTOMER_REQUEST
from journey_state.model import load_named_model
from journey_state.store.migrate import upgrade
from tests.e2e.conftest import PROJECT
from tests.fakes.rasa_api import FakeRasa
from tests.unit.test_analytics_metrics import PERIOD, build, t

PASSWORD = "correct horse battery"
RLO = "\u202e"
TIMEOUT_MS = 20_000


@pytest.fixture
def console(tmp_path, monkeypatch):
    if not CHART_BUNDLE.is_file():
        pytest.fail(f"Chart.js is not installed ({CHART_BUNDLE}); `make test` runs `npm ci` in bot/console/web")
    url = f"sqlite:///{tmp_path / 'journeybot.db'}"
    upgrade(url)
    journeys, business = PROJECT / "data/journeys", PROJECT / "data/business"
    built = build(url, load_named_model(journeys, "b2c"), business, journeys)
    built.say("D", "complaint", t(days=11, minutes=40), "angry", f"the bag {RLO}was torn")
    with FakeRasa() as rasa:
        monkeypatch.setenv("JOURNEYBOT_CONSOLE_SECRET", "s" * 40)
        monkeypatch.setenv("JOURNEYBOT_RASA_TOKEN", rasa.token)
        app = create_app(load_settings({"JOURNEYBOT_API_TOKEN": "api-token", "JOURNEYBOT_VAR_DIR": str(tmp_path)}), built.store)
        app.extensions["rasa_client"].base_url = rasa.url
        handoffs = app.extensions["handoffs"]
        handoffs.create_user("ann", hash_password(PASSWORD), "agent")
        handoff = handoffs.open(built.refs["D"], CUSTOMER_REQUEST, reason="a person please").place.handoff
        rasa.events[handoff.sender_id] = [{"event": "user", "text": "hello", "timestamp": 1.0}]
        server = make_server("127.0.0.1", free_port(), app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}", handoff
        finally:
            server.shutdown()
            thread.join(10)
            built.store.engine.dispose()


def log_in(page, base: str, path: str) -> None:
    page.goto(base + path)
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def bidi_in(text: str) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in text if c in BIDI_CONTROLS})


def test_dashboard_tables_and_map_drop_bidi_controls(console, browser):
    base, _ = console
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    data = []
    page.on("response", lambda r: data.append(r) if "/staff/dashboard/data.json" in r.url else None)
    log_in(page, base, f"/staff/dashboard?{urlencode(PERIOD)}")
    page.wait_for_function("() => document.getElementById('dashboard').dataset.state === 'ready'")
    assert RLO in json.dumps(data[-1].json(), ensure_ascii=False), "the data itself carries the control; the page must drop it"
    results = page.evaluate("() => document.getElementById('results').textContent")
    assert "the bag was torn" in results
    assert bidi_in(results) == []
    context.close()


def test_the_live_transcript_drops_bidi_controls_and_isolates_each_message(console, browser):
    base, handoff = console
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, base, "/staff/")
    expect(page.get_by_role("heading", name="Waiting for a person (1)")).to_be_visible()
    # The server never sends a control (unit-tested); answer the script's poll as if it had,
    # so what is checked is console.js itself.
    polled = {"handoff": {"id": handoff.id, "status": "queued", "agent": None}, "paused": True, "problem": None,
              "messages": [{"from": "customer", "agent": None, "text": f"refund {RLO}005 now", "at": "2026-03-02T09:00:00+00:00", "channel": "rest"}]}
    page.route("**/transcript.json", lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(polled)))
    page.goto(f"{base}/staff/handoffs/{handoff.id}")
    message = page.locator("#transcript .msg.customer .text")
    expect(message).to_have_text("refund 005 now")  # redrawn from the poll
    assert message.evaluate("el => el.tagName") == "BDI"
    assert bidi_in(page.evaluate("() => document.getElementById('transcript').textContent")) == []
    context.close()
