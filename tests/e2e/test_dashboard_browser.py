"""The staff console's journey dashboard in headless Chromium, on known journeys in a real store.

The console runs in-process (werkzeug) on a SQLite store filled through the real engine with
the five hand-built journeys of tests/unit/test_analytics_metrics.py; no Rasa is needed.
"""
from __future__ import annotations

import threading
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from bot.console.app import create_app
from bot.console.dashboard.views import CHART_BUNDLE
from bot.console.staff.auth import hash_password
from bot.settings import load_settings
from devtools.stack import free_port
from journey_state.model import load_named_model
from journey_state.store.migrate import upgrade
from tests.e2e.conftest import PROJECT
from tests.unit.test_analytics_metrics import PERIOD, build, t

PASSWORD = "correct horse battery"
XSS = "<img src=x onerror=alert(1)> the bag was torn"
TIMEOUT_MS = 20_000
CANVASES = (
    "chart-funnel", "chart-time", "chart-feedback-stage", "chart-feedback-channel", "chart-feedback-week",
    "chart-channels", "chart-offers", "chart-handoffs", "chart-emotion",
)


@pytest.fixture
def console(tmp_path, monkeypatch):
    if not CHART_BUNDLE.is_file():
        pytest.fail(f"Chart.js is not installed ({CHART_BUNDLE}); `make test` runs `npm ci` in bot/console/web")
    url = f"sqlite:///{tmp_path / 'journeybot.db'}"
    upgrade(url)
    journeys, business = PROJECT / "data/journeys", PROJECT / "data/business"
    built = build(url, load_named_model(journeys, "b2c"), business, journeys)
    built.say("D", "complaint", t(days=11, minutes=40), "angry", XSS)
    monkeypatch.setenv("JOURNEYBOT_CONSOLE_SECRET", "s" * 40)
    app = create_app(load_settings({"JOURNEYBOT_API_TOKEN": "api-token", "JOURNEYBOT_VAR_DIR": str(tmp_path)}), built.store)
    app.extensions["handoffs"].create_user("ann", hash_password(PASSWORD), "agent")
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        built.store.engine.dispose()


def loaded(page, state: str = "ready", **filters) -> None:
    """Wait until the dashboard has answered for exactly these filters (in the form's order)."""
    query = urlencode({k: v for k, v in (("from", filters.get("from")), ("to", filters.get("to")), ("channel", filters.get("channel")),
                                          ("model", filters.get("model", "b2c")), ("persona", filters.get("persona"))) if v})
    page.wait_for_function(
        "([q, s]) => { const d = document.getElementById('dashboard'); return d.dataset.query === q && d.dataset.state === s; }",
        arg=[query, state],
    )


def chart_data(page, canvas_id: str, dataset: int = 0) -> list:
    return page.evaluate("([id, i]) => Chart.getChart(document.getElementById(id)).data.datasets[i].data", [canvas_id, dataset])


def kpi(page, name: str) -> str:
    return page.locator(f"[data-kpi={name}] .value").inner_text()


def painted_pixels(page, canvas_id: str) -> int:
    return page.evaluate(
        """id => { const c = document.getElementById(id); const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++; return n; }""",
        canvas_id,
    )


def test_cx_manager_reads_the_dashboard_and_filters_it(console, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    foreign, errors, dialogs = [], [], []
    page.on("request", lambda r: None if urlsplit(r.url).netloc == urlsplit(console).netloc or r.url.startswith("data:") else foreign.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # Logging in from the dashboard's own link brings the agent back to it, filters included.
    page.goto(f"{console}/staff/dashboard?{urlencode(PERIOD)}")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Journey dashboard")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()  # in the console navigation
    loaded(page, **PERIOD)

    # The charts exist, Chart.js drew them, and the numbers are the known journeys'.
    for canvas in CANVASES:
        assert page.evaluate("id => !!Chart.getChart(document.getElementById(id))", canvas), canvas
    assert painted_pixels(page, "chart-funnel") > 2000 and painted_pixels(page, "chart-emotion") > 500
    assert chart_data(page, "chart-funnel") == [5, 4, 3, 1, 1]
    assert chart_data(page, "chart-funnel", 1) == [1, 1, 2, 0, 0]  # stalled
    assert chart_data(page, "chart-time", 0)[0] == 3.5  # awareness median 12600 s
    assert (kpi(page, "population"), kpi(page, "nps"), kpi(page, "csat"), kpi(page, "handoffs"), kpi(page, "at_risk")) == ("5", "33.3", "3", "2", "1")
    funnel_rows = page.locator("#funnel-table tbody tr")
    expect(funnel_rows.nth(0)).to_contain_text("80%")  # awareness → consideration
    expect(funnel_rows.nth(2)).to_contain_text("67%")  # purchase drop-off
    expect(page.locator("#cohort-table tbody tr")).to_have_count(2)
    expect(page.locator("#cohort-table tbody tr").nth(0)).to_contain_text("67%")
    expect(page.locator("#offers-table")).to_contain_text("first_bag_free")
    expect(page.locator("#referrals [data-key=referred_reached_purchase]")).to_have_text("1")
    expect(page.locator("#handoffs [data-key=csat_after]")).to_contain_text("2")
    expect(page.locator("#attribution")).to_contain_text("correlation, not causation")
    expect(page.locator("#questions-table")).to_contain_text("ask_pricing")
    purchase = page.locator(".map-col[data-stage=purchase]")
    expect(purchase).to_contain_text("moment of truth")
    expect(purchase).to_contain_text(XSS)  # customer text shown as text, never run
    assert page.locator("#journey-map img").count() == 0 and dialogs == []
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    # The journey map downloads as HTML and PNG for the same filters.
    png = context.request.get(console + page.locator("#export-png").get_attribute("href"))
    assert png.status == 200 and png.headers["content-type"] == "image/png" and png.body()[:4] == b"\x89PNG"
    html = context.request.get(console + page.locator("#export-html").get_attribute("href"))
    assert html.status == 200 and "attachment" in html.headers["content-disposition"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in html.text()

    # Channel filter: only the WhatsApp contacts (B and C).
    page.locator("#f-channel").select_option("whatsapp")
    loaded(page, **PERIOD, channel="whatsapp")
    assert chart_data(page, "chart-funnel") == [2, 1, 0, 0, 0]
    assert kpi(page, "population") == "2" and kpi(page, "nps") == "100"
    assert "channel=whatsapp" in page.url and "channel=whatsapp" in page.locator("#export-png").get_attribute("href")

    # Persona filter on top of it: C only.
    page.locator("#f-persona").select_option("p1")
    loaded(page, **PERIOD, channel="whatsapp", persona="p1")
    assert chart_data(page, "chart-funnel") == [1, 0, 0, 0, 0]
    expect(page.locator("#map-segment")).to_contain_text("p1")

    # Date range: from the second week only D and E first came; both reached purchase.
    page.locator("#f-persona").select_option("")
    page.locator("#f-channel").select_option("")
    loaded(page, **PERIOD)
    page.locator("#f-from").fill("2026-03-09")
    loaded(page, **{**PERIOD, "from": "2026-03-09"})
    assert chart_data(page, "chart-funnel") == [2, 2, 2, 0, 0]
    assert kpi(page, "population") == "2"

    # An inverted range: a clear message instead of numbers.
    page.locator("#f-to").fill("2026-03-05")
    loaded(page, "error", **{"from": "2026-03-09", "to": "2026-03-05"})
    message = page.locator("#dashboard-message")
    expect(message).to_be_visible()
    expect(message).to_contain_text("the period is empty or inverted")
    expect(page.locator("#results")).to_be_hidden()

    # A period with no data: empty-state charts and a note, not an error.
    page.locator("#f-from").fill("2025-01-01")
    page.locator("#f-to").fill("2025-01-31")
    loaded(page, **{"from": "2025-01-01", "to": "2025-01-31"})
    expect(message).to_be_hidden()
    expect(page.locator("#notices")).to_contain_text("No journey data for this period")
    assert chart_data(page, "chart-funnel") == [0, 0, 0, 0, 0]
    expect(page.locator("#chart-funnel").locator("xpath=..")).to_have_class("chart is-empty")
    expect(page.locator("#cohort-table")).to_contain_text("No contact first came in this period.")
    assert kpi(page, "population") == "0" and kpi(page, "nps") == "–"

    # An unknown channel in a shared link: a note saying so, and empty numbers.
    page.goto(f"{console}/staff/dashboard?{urlencode({**PERIOD, 'channel': 'pigeon'})}")
    loaded(page, **PERIOD, channel="pigeon")
    expect(page.locator("#notices")).to_contain_text("No contact has ever used the channel 'pigeon'")
    assert chart_data(page, "chart-funnel") == [0, 0, 0, 0, 0]

    assert foreign == [], f"the page loaded something from outside the console: {foreign}"
    # Chromium logs every 4xx response as a console error; the inverted range's 422 is the only one.
    expected = "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
    assert errors == [expected], errors
    assert dialogs == []
    context.close()
