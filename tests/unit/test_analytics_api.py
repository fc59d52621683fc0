"""GET /api/analytics/* through Flask's test client, on the hand-built journeys (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from bot.console import create_app
from bot.settings import load_settings
from tests.unit.test_analytics_metrics import PERIOD, build

TOKEN = "analytics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(migrated_url, b2c_model, business_dir, journeys_dir, tmp_path):
    built = build(migrated_url, b2c_model, business_dir, journeys_dir)
    settings = load_settings({"JOURNEYBOT_API_TOKEN": TOKEN, "JOURNEYBOT_VAR_DIR": str(tmp_path)})
    app = create_app(settings, built.store)
    yield app.test_client()
    built.store.engine.dispose()


def test_dashboard_funnel_and_journey_map(client):
    dash = client.get("/api/analytics/dashboard", query_string=PERIOD, headers=AUTH)
    assert dash.status_code == 200
    body = dash.get_json()
    assert [s["reached"] for s in body["funnel"]["stages"]] == [5, 4, 3, 1, 1]
    assert body["feedback"]["overall"]["nps"] == 33.3 and body["attribution"]["kind"] == "correlation"
    funnel = client.get("/api/analytics/funnel", query_string={**PERIOD, "channel": "whatsapp"}, headers=AUTH).get_json()
    assert [s["reached"] for s in funnel["stages"]] == [2, 1, 0, 0, 0] and funnel["filters"]["channel"] == "whatsapp"
    jmap = client.get("/api/analytics/journey-map", query_string={**PERIOD, "persona": "p2"}, headers=AUTH).get_json()
    assert jmap["segment"] == "p2" and next(c["stage"] for c in jmap["columns"]) == "awareness"
    assert {s["persona"] for s in jmap["segments"]} == {"p1", "p2"}


def test_bad_filters_are_422_with_a_clear_message(client):
    inverted = client.get("/api/analytics/dashboard", query_string={"from": "2026-03-10", "to": "2026-03-01"}, headers=AUTH)
    assert inverted.status_code == 422
    error = inverted.get_json()["error"]
    assert error["code"] == "invalid_filter" and error["details"] == {"param": "from"}
    assert error["message"].startswith("from: the period is empty or inverted")
    model = client.get("/api/analytics/funnel", query_string={"model": "b2x"}, headers=AUTH)
    assert model.status_code == 422 and "unknown journey model 'b2x'" in model.get_json()["error"]["message"]
    date = client.get("/api/analytics/journey-map", query_string={"from": "soon"}, headers=AUTH)
    assert date.status_code == 422 and "'soon' is not a date" in date.get_json()["error"]["message"]


def test_unknown_values_and_empty_periods_are_empty_results(client):
    for query in ({**PERIOD, "channel": "pigeon"}, {"from": "2025-01-01", "to": "2025-01-31"}):
        body = client.get("/api/analytics/dashboard", query_string=query, headers=AUTH).get_json()
        assert body["empty"] is True and body["funnel"]["population"] == 0


def test_token_required(client):
    assert client.get("/api/analytics/dashboard").status_code == 401
    assert client.get("/api/analytics/funnel", headers={"Authorization": "Bearer nope"}).status_code == 401
