"""Staff console dashboard (bot/console/dashboard/views.py) with Flask's test client on the hand-built journeys."""
from __future__ import annotations

import re

import pytest

from bot.console import create_app
from bot.console.dashboard.views import CHART_BUNDLE
from bot.console.staff.auth import hash_password
from bot.settings import load_settings
from tests.unit.test_analytics_metrics import PERIOD, build, t

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
XSS = "<script>alert(1)</script> costs $5 & more"


def make_app(url, model, business_dir, journeys_dir, var_dir):
    built = build(url, model, business_dir, journeys_dir)
    built.say("D", "complaint", t(days=11, minutes=40), "angry", XSS)  # customer text must stay text
    settings = load_settings({"JOURNEYBOT_API_TOKEN": "api-token", "JOURNEYBOT_VAR_DIR": str(var_dir)})
    app = create_app(settings, built.store)
    handoffs = app.extensions["handoffs"]
    handoffs.create_user("ann", hash_password(PASSWORD), "agent")
    handoffs.create_user("root", hash_password(PASSWORD), "admin")
    return app


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("JOURNEYBOT_CONSOLE_SECRET", "s" * 40)


@pytest.fixture
def app(migrated_url, b2c_model, business_dir, journeys_dir, tmp_path):
    """The metrics on SQLite and PostgreSQL."""
    app = make_app(migrated_url, b2c_model, business_dir, journeys_dir, tmp_path)
    yield app
    app.extensions["journey_store"].engine.dispose()


@pytest.fixture
def sqlite_app(sqlite_url, b2c_model, business_dir, journeys_dir, tmp_path):
    """Sessions and pages do not depend on the backend."""
    from journey_state.store import migrate

    migrate.upgrade(sqlite_url)
    app = make_app(sqlite_url, b2c_model, business_dir, journeys_dir, tmp_path)
    yield app
    app.extensions["journey_store"].engine.dispose()


def logged_in(app, username="ann"):
    client = app.test_client()
    token = CSRF.search(client.get("/staff/login").get_data(as_text=True)).group(1)
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def data(client, **query):
    return client.get("/staff/dashboard/data.json", query_string=query)


def test_everything_needs_a_staff_session_not_the_api_token(sqlite_app):
    client = sqlite_app.test_client()
    page = client.get("/staff/dashboard")
    assert page.status_code == 302 and "/staff/login" in page.headers["Location"]
    for path in ("/staff/dashboard/data.json", "/staff/dashboard/journey-map.html", "/staff/dashboard/journey-map.png"):
        anonymous = client.get(path, headers={"Accept": "application/json"})
        assert anonymous.status_code == 401, path
        with_token = client.get(path, headers={"Authorization": "Bearer api-token", "Accept": "application/json"})
        assert with_token.status_code == 401, path  # the API token is not a console login
    assert data(client).get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("username", ["ann", "root"])
def test_agents_and_admins_get_the_page_with_a_nav_link(sqlite_app, username):
    client = logged_in(sqlite_app, username)
    page = client.get("/staff/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/staff/dashboard"' in html and "api-token" not in html
    assert 'src="/staff/dashboard/chart.js"' in html and 'data-url="/staff/dashboard/data.json"' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'href="/staff/dashboard"' in client.get("/staff/").get_data(as_text=True)  # reachable from the queue


def test_data_has_the_known_numbers_and_follows_the_filters(app):
    client = logged_in(app)
    body = data(client, **PERIOD).get_json()
    dash = body["dashboard"]
    assert [s["reached"] for s in dash["funnel"]["stages"]] == [5, 4, 3, 1, 1]
    assert dash["feedback"]["overall"]["nps"] == 33.3 and dash["attribution"]["kind"] == "correlation"
    assert body["options"] == {"models": ["b2b", "b2c"], "channels": ["socketio", "telegram", "whatsapp"], "personas": ["p1", "p2"]}
    assert body["notices"] == []
    whatsapp = data(client, **PERIOD, channel="whatsapp").get_json()["dashboard"]
    assert [s["reached"] for s in whatsapp["funnel"]["stages"]] == [2, 1, 0, 0, 0]
    later = data(client, **{**PERIOD, "from": "2026-03-09"}).get_json()["dashboard"]
    assert later["funnel"]["population"] == 2
    b2b = data(client, **PERIOD, model="b2b").get_json()
    assert b2b["dashboard"]["model"]["id"] == "b2b" and b2b["dashboard"]["empty"] is True and b2b["options"]["personas"] == []


def test_bad_filters_are_422_with_the_apis_message(app):
    client = logged_in(app)
    inverted = data(client, **{"from": "2026-03-10", "to": "2026-03-01"})
    assert inverted.status_code == 422
    error = inverted.get_json()["error"]
    assert error["code"] == "invalid_filter" and error["details"] == {"param": "from"}
    assert error["message"].startswith("from: the period is empty or inverted")
    model = data(client, model="b2x")
    assert model.status_code == 422 and "unknown journey model 'b2x'" in model.get_json()["error"]["message"]
    assert data(client, channel="<b>").status_code == 422
    export = client.get("/staff/dashboard/journey-map.html", query_string={"from": "soon"})
    assert export.status_code == 422 and export.mimetype == "text/plain"
    assert "'soon' is not a date" in export.get_data(as_text=True)


@pytest.mark.parametrize("query", [{"to": "9999-12-31"}, {"to": "9999-12-31T23:59:59Z"}, {"from": "0001-01-01"}])
def test_dates_out_of_range_are_4xx_with_the_accepted_range(sqlite_app, query):
    client = logged_in(sqlite_app)
    response = data(client, **query)
    assert response.status_code == 422 and "accepted dates are 2000-01-01" in response.get_json()["error"]["message"]
    for export in ("/staff/dashboard/journey-map.png", "/staff/dashboard/journey-map.html"):
        response = client.get(export, query_string=query)
        assert response.status_code == 422 and response.mimetype == "text/plain"
        assert "accepted dates are 2000-01-01" in response.get_data(as_text=True)


def test_unknown_values_and_empty_periods_are_empty_with_a_notice(app):
    client = logged_in(app)
    pigeon = data(client, **PERIOD, channel="pigeon")
    assert pigeon.status_code == 200
    body = pigeon.get_json()
    assert body["dashboard"]["empty"] is True
    assert body["notices"] == ["No contact has ever used the channel 'pigeon' (known: socketio, telegram, whatsapp); the numbers below are empty."]
    assert "persona 'p9'" in data(client, **PERIOD, persona="p9").get_json()["notices"][0]
    quiet = data(client, **{"from": "2025-01-01", "to": "2025-01-31"}).get_json()
    assert quiet["dashboard"]["funnel"]["population"] == 0
    assert quiet["notices"] == ["No journey data for this period and these filters. Widen the date range or remove a filter."]


def test_journey_map_exports_as_html_and_png(app):
    client = logged_in(app)
    html = client.get("/staff/dashboard/journey-map.html", query_string={**PERIOD, "persona": "p2"})
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert html.headers["Content-Disposition"] == 'attachment; filename="journey-map-b2c-p2-2026-03-02-2026-03-29.html"'
    text = html.get_data(as_text=True)
    assert "Segment: p2" in text and "<svg" in text and "moment of truth" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; costs $5 &amp; more" in text and "<script>" not in text
    png = client.get("/staff/dashboard/journey-map.png", query_string=PERIOD)
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n" and len(png.data) > 20_000
    assert png.headers["Content-Disposition"].endswith('.png"')
    empty = client.get("/staff/dashboard/journey-map.png", query_string={"from": "2025-01-01", "to": "2025-01-31"})
    assert empty.status_code == 200 and empty.data[:4] == b"\x89PNG"


def test_chart_library_is_served_locally(sqlite_app):
    if not CHART_BUNDLE.is_file():
        pytest.fail(f"Chart.js is not installed ({CHART_BUNDLE}); `make test` runs `npm ci` in bot/console/web")
    bundle = sqlite_app.test_client().get("/staff/dashboard/chart.js")
    assert bundle.status_code == 200 and bundle.mimetype == "text/javascript"
    assert b"Chart.js v4." in bundle.data[:200]
