"""The journeybot CLI: clear errors naming the problem, never a traceback."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
JOURNEYBOT = str(Path(sys.executable).with_name("journeybot"))


def run(*args, env_extra=None, tmp_path=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([JOURNEYBOT, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)


def test_check_accepts_the_shipped_configuration():
    for model in ("b2c", "b2b"):
        result = run("check", env_extra={"JOURNEYBOT_JOURNEY_MODEL": model})
        assert result.returncode == 0, result.stderr
        assert f"journey model '{model}'" in result.stdout


def test_check_lists_every_configuration_file_it_checked():
    result = run("check")
    assert result.returncode == 0, result.stderr
    for name in ("journeys/b2b.yml", "journeys/b2c.yml", "business.yml", "replies.yml", "offers.yml", "programs.yml",
                 "handoff.yml", "events.yml", "commerce.yml", "catalog.yml", "understanding.yml", "whatsapp.yml"):
        assert f"checked {PROJECT / 'data'}" in result.stdout and f"/{name}\n" in result.stdout, name


def test_check_names_file_and_key_of_broken_offers(tmp_path):
    business = tmp_path / "business"
    shutil.copytree(PROJECT / "data/business", business)
    (business / "offers.yml").write_text("offers:\n  - {id: x, title: X, text: Y, kind: voucher, stages: [purchase], priority: 1}\n")
    result = run("check", env_extra={"JOURNEYBOT_BUSINESS_DIR": str(business)})
    assert result.returncode == 1
    assert f"{business / 'offers.yml'}: offers[0].kind: must be one of discount, perk, upgrade, got 'voucher'" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_names_file_and_key_of_a_broken_model(tmp_path):
    journeys = tmp_path / "journeys"
    shutil.copytree(PROJECT / "data/journeys", journeys)
    path = journeys / "b2c.yml"
    path.write_text(path.read_text().replace("to: purchase\n", "to: purchse\n", 1))
    result = run("check", env_extra={"JOURNEYBOT_JOURNEYS_DIR": str(journeys)})
    assert result.returncode == 1
    assert f"{path}: signals[1].to: unknown stage 'purchse'" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_reports_malformed_yaml_with_position(tmp_path):
    business = tmp_path / "business"
    shutil.copytree(PROJECT / "data/business", business)
    (business / "replies.yml").write_text("replies:\n  greet: [unclosed\n")
    result = run("check", env_extra={"JOURNEYBOT_BUSINESS_DIR": str(business)})
    assert result.returncode == 1
    assert "replies.yml: malformed YAML (line" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_names_file_and_key_of_broken_event_limits(tmp_path):
    business = tmp_path / "business"
    shutil.copytree(PROJECT / "data/business", business)
    (business / "events.yml").write_text("max_amount: -5\n")
    result = run("check", env_extra={"JOURNEYBOT_BUSINESS_DIR": str(business)})
    assert result.returncode == 1
    assert f"{business / 'events.yml'}: max_amount:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name, text, message", [
    ("events.yml", "max_amount: " + "[" * 5000, "nested too deeply"),
    ("replies.yml", "replies: " + "{a: " * 5000, "nested too deeply"),
    ("events.yml", "max_amount: 1\n# caf\xe9", "not UTF-8 text"),
], ids=["deep-events", "deep-replies", "latin1-events"])
def test_check_names_the_file_of_a_hostile_business_file(tmp_path, name, text, message):
    business = tmp_path / "business"
    shutil.copytree(PROJECT / "data/business", business)
    (business / name).write_bytes(text.encode("latin-1"))
    result = run("check", env_extra={"JOURNEYBOT_BUSINESS_DIR": str(business)})
    assert result.returncode == 1
    assert f"{business / name}: {message}" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_names_the_file_of_a_journey_model_nested_too_deeply(tmp_path):
    journeys = tmp_path / "journeys"
    shutil.copytree(PROJECT / "data/journeys", journeys)
    (journeys / "b2c.yml").write_text("stages: " + "[" * 5000)
    result = run("check", env_extra={"JOURNEYBOT_JOURNEYS_DIR": str(journeys)})
    assert result.returncode == 1
    assert f"{journeys / 'b2c.yml'}: nested too deeply" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_journey_model_lists_available(tmp_path):
    result = run("check", env_extra={"JOURNEYBOT_JOURNEY_MODEL": "b2x"})
    assert result.returncode == 1
    assert "no journey model 'b2x' (available: b2b, b2c)" in result.stderr


def test_db_upgrade_on_unreachable_database_is_a_clear_error():
    result = run("db", "upgrade", env_extra={"JOURNEYBOT_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    assert result.returncode == 1
    assert "cannot migrate journey database" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_status(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert "migrations pending" in run("db", "status", env_extra={"JOURNEYBOT_DATABASE_URL": url}).stdout
    assert run("db", "upgrade", env_extra={"JOURNEYBOT_DATABASE_URL": url}).returncode == 0
    assert run("db", "status", env_extra={"JOURNEYBOT_DATABASE_URL": url}).stdout.strip() == "up to date"


def test_bad_port_setting_is_named():
    result = run("check", env_extra={"JOURNEYBOT_RASA_PORT": "fifty"})
    assert result.returncode != 0
    assert "JOURNEYBOT_RASA_PORT='fifty' is not a port number" in result.stderr


# The venv's `journeybot` imports the checkout it was installed from; these run this one's code.
THIS_CHECKOUT = {"PYTHONPATH": str(PROJECT)}


def test_check_names_file_and_key_of_a_bad_checkout_link(tmp_path):
    business = tmp_path / "business"
    shutil.copytree(PROJECT / "data/business", business)
    path = business / "commerce.yml"
    path.write_text(path.read_text().replace("premium: \"https://", "premium: \"ftp://", 1))
    result = run("check", env_extra={"JOURNEYBOT_BUSINESS_DIR": str(business), **THIS_CHECKOUT})
    assert result.returncode == 1
    assert f"{path}: checkout.links: premium: expected an absolute http(s) URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_expire_checkouts_records_unpaid_links_as_timed_out(tmp_path):
    from datetime import datetime, timedelta, timezone

    from bot.services import build
    from bot.settings import load_settings
    from journey_state.identifiers import ChannelRef
    from journey_state.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    services = build(load_settings({"JOURNEYBOT_DATABASE_URL": url}))
    try:
        old = datetime.now(timezone.utc) - timedelta(days=3)
        services.checkout.issue(ChannelRef("rest", "ann"), "rest", "premium", old)
        services.checkout.issue(ChannelRef("rest", "ben"), "rest", "basic")
    finally:
        services.close()
    env = {"JOURNEYBOT_DATABASE_URL": url, "JOURNEYBOT_VAR_DIR": str(tmp_path), **THIS_CHECKOUT}
    first, second = run("expire-checkouts", env_extra=env), run("expire-checkouts", env_extra=env)
    assert (first.returncode, first.stdout) == (0, "1 checkout link(s) timed out\n"), first.stderr
    assert second.stdout == "0 checkout link(s) timed out\n"
