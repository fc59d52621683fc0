"""`journeybot report` and `journeybot simulate` (the click commands, run with CliRunner on a real SQLite store)."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.analytics_cli import report, simulate
from journey_state.store import make_engine
from journey_state.store.migrate import upgrade
from journey_state.store.tables import contacts, feedback, offer_events, touchpoints
from tests.unit.test_analytics_metrics import PERIOD, build


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    return {"JOURNEYBOT_DATABASE_URL": url, "JOURNEYBOT_VAR_DIR": str(tmp_path / "var"), "JOURNEYBOT_JOURNEY_MODEL": "b2c"}


@pytest.fixture
def built_env(env, b2c_model, business_dir, journeys_dir):
    build(env["JOURNEYBOT_DATABASE_URL"], b2c_model, business_dir, journeys_dir).store.engine.dispose()
    return env


def run(command, args, env):
    return CliRunner().invoke(command, args, env=env, catch_exceptions=False)


def test_report_writes_self_contained_html_json_and_csv(built_env, tmp_path):
    period = ["--from", PERIOD["from"], "--to", PERIOD["to"]]
    html_path, json_path, csv_path = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "r.csv"
    for fmt, path in (("html", html_path), ("json", json_path), ("csv", csv_path)):
        result = run(report, [*period, "--format", fmt, "-o", str(path)], built_env)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == str(path)
        assert "computing funnel..." in result.stderr  # progress
    page = html_path.read_text()
    assert page.count("src='data:image/png;base64,") >= 5
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page), "the report must not load anything from elsewhere"
    assert not re.search(r"""(?:src|href)=['"](?!data:)""", page)
    assert "Journey map – all contacts" in page and "Correlation, not causation" in page
    dash = json.loads(json_path.read_text())
    assert [s["reached"] for s in dash["funnel"]["stages"]] == [5, 4, 3, 1, 1]
    rows = list(csv.reader(io.StringIO(csv_path.read_text())))
    assert rows[0] == ["section", "dimension", "key", "metric", "value"]
    assert ["funnel", "stage", "awareness", "reached", "5"] in rows
    assert ["feedback", "all", "all", "nps", "33.3"] in rows


def test_report_defaults_to_var_reports_and_stdout(built_env, tmp_path):
    result = run(report, ["--from", "2026-03-02", "--to", "2026-03-29", "--format", "json"], built_env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "var" / "reports" / "journey-report-2026-03-02-2026-03-30.json")
    result = run(report, ["--from", "2026-03-02", "--to", "2026-03-29", "--format", "csv", "-o", "-"], built_env)
    assert result.stdout.startswith("section,dimension,key,metric,value\n")


def test_report_bad_input_is_a_clear_message(built_env, tmp_path):
    result = run(report, ["--from", "2026-03-10", "--to", "2026-03-01", "-o", str(tmp_path / "x.html")], built_env)
    assert result.exit_code == 2
    assert "Invalid value for --from: the period is empty or inverted" in result.stderr
    result = run(report, ["--model", "b2x", "-o", str(tmp_path / "x.html")], built_env)
    assert result.exit_code == 2 and "unknown journey model 'b2x' (available: b2b, b2c)" in result.stderr
    result = run(report, ["--from", "2025-01-01", "--to", "2025-01-31", "-o", str(tmp_path / "empty.html")], built_env)
    assert result.exit_code == 0 and "no journey data" in result.stderr
    assert "No journey data for this period" in (tmp_path / "empty.html").read_text()
    result = run(report, [*("--from", "2026-03-02", "--to", "2026-03-29"), "--attribution-days", "10", "-o", str(tmp_path / "x.json")], built_env)
    assert result.exit_code == 2 and "Invalid value for '--attribution-days': '10' is not one of '1', '3', '7', '14', '30', '60', '90'" in result.stderr


def test_report_attribution_window_changes_conversions(built_env, tmp_path):
    converted = {}
    for days in ("1", "3"):
        path = tmp_path / f"a{days}.json"
        result = run(report, ["--from", "2026-03-02", "--to", "2026-03-29", "--attribution-days", days, "--format", "json", "-o", str(path)], built_env)
        assert result.exit_code == 0, result.stderr
        attribution = json.loads(path.read_text())["attribution"]
        assert attribution["window_days"] == int(days)
        converted[days] = {s["stage"]: s["converted"] for s in attribution["stages"]}
    # D entered purchase 1 day 21 h after its first consideration touch: only the 3-day window counts it.
    assert converted["3"]["consideration"] == converted["1"]["consideration"] + 1


def test_simulate_writes_journeys_through_the_store_once(env):
    result = run(simulate, ["--contacts", "25"], env)
    assert result.exit_code == 0, result.stderr
    assert "contacts 25, skipped 0" in result.stdout
    engine = make_engine(env["JOURNEYBOT_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            count = lambda table: conn.execute(select(func.count()).select_from(table)).scalar_one()  # noqa: E731
            before = {t.name: count(t) for t in (contacts, touchpoints, feedback, offer_events)}
            personas = set(conn.execute(select(contacts.c.persona).distinct()).scalars())
            stages = set(conn.execute(select(contacts.c.stage).distinct()).scalars())
        assert before["contacts"] == 25 and before["touchpoints"] > 50 and before["offer_events"] > 0
        assert personas <= {"bargain_hunter", "coffee_enthusiast", "office_manager"} and len(personas) >= 2
        assert len(stages) >= 3  # the engine moved contacts through the funnel
        again = run(simulate, ["--contacts", "25"], env)
        assert "contacts 0, skipped 25" in again.stdout
        seeded = run(simulate, ["--contacts", "5", "--if-empty"], env)
        assert "already has 25 contact(s); no demo data added" in seeded.stdout
        with engine.connect() as conn:
            assert {t.name: count(t) for t in (contacts, touchpoints, feedback, offer_events)} == before
    finally:
        engine.dispose()


def test_simulated_journeys_feed_every_section(migrated_url, b2c_model, business_dir, journeys_dir):
    from datetime import datetime, timezone

    from journey_state.analytics import dashboard, parse_filters
    from journey_state.analytics.simulate import simulate as generate
    from journey_state.store import JourneyStore
    from journey_state.store.programs import ProgramsStore

    store = JourneyStore(make_engine(migrated_url), b2c_model)
    try:
        now = datetime(2026, 6, 1, tzinfo=timezone.utc)
        counts = generate(store, ProgramsStore.load(store, business_dir, journeys_dir), 60, seed=7, days=60, now=now)
        assert counts["contacts"] == 60 and counts["offers"] > 0 and counts["feedback"] > 0
        dash = dashboard.compute(store.engine, b2c_model, parse_filters({"from": "2026-03-01", "to": "2026-06-01"}, ["b2b", "b2c"], "b2c"), journeys_dir)
        assert dash["funnel"]["population"] == 60
        reached = [s["reached"] for s in dash["funnel"]["stages"]]
        assert reached == sorted(reached, reverse=True) and reached[2] > 0  # some bought
        for section in ("time_in_stage", "cohorts", "feedback", "touchpoints", "offers", "attribution", "journey_map"):
            assert dash[section]["empty"] is False, section
        assert len(dash["cohorts"]["cohorts"]) >= 6  # first contacts spread over weeks
        assert dash["journey_map"]["opportunities"]
    finally:
        store.engine.dispose()


def test_seed_if_empty_seeds_only_an_empty_database(env, b2c_model, business_dir, journeys_dir):
    from journey_state.analytics.simulate import seed_if_empty
    from journey_state.store import JourneyStore
    from journey_state.store.programs import ProgramsStore

    store = JourneyStore(make_engine(env["JOURNEYBOT_DATABASE_URL"]), b2c_model)
    try:
        programs = ProgramsStore.load(store, business_dir, journeys_dir)
        assert seed_if_empty(store, programs, 3)["contacts"] == 3
        assert seed_if_empty(store, programs, 3) is None
    finally:
        store.engine.dispose()


def test_up_brings_the_analytics_facts_up_to_date(built_env, monkeypatch):
    from bot.launcher import refresh_analytics
    from bot.settings import load_settings
    from journey_state.store.tables import contact_facts, facts_dirty

    for key, value in built_env.items():
        monkeypatch.setenv(key, value)
    said: list[str] = []
    assert refresh_analytics(load_settings(), echo=said.append) == 5  # the five built journeys were marked by the triggers
    assert said == ["journeybot: analytics facts brought up to date for 5 contacts"]
    engine = make_engine(built_env["JOURNEYBOT_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(facts_dirty)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(contact_facts).where(contact_facts.c.channel == "")).scalar_one() == 5
    finally:
        engine.dispose()
    assert refresh_analytics(load_settings(), echo=said.append) == 0 and len(said) == 1  # nothing left to do, nothing said
