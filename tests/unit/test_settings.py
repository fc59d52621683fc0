"""bot/settings.py: every variable typed and validated at start, a bad value named, nothing read at import."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR, ConsoleSettings, Settings, check_environment, load_console_settings, load_settings

JOURNEYBOT = str(Path(sys.executable).with_name("journeybot"))


def test_defaults_are_the_documented_ones():
    settings = load_settings({})
    assert settings.project_dir == PROJECT_DIR and settings.var_dir == PROJECT_DIR / "var"
    assert settings.database_url == f"sqlite:///{PROJECT_DIR / 'var' / 'journeybot.db'}"
    assert settings.journeys_dir == PROJECT_DIR / "data" / "journeys"
    assert settings.business_dir == PROJECT_DIR / "data" / "business"
    assert (settings.rasa_port, settings.actions_port, settings.console_port) == (5005, 5055, 5080)
    assert settings.journey_model == "b2c" and settings.api_token is None and settings.credentials == "credentials.yml"
    assert settings.actions_webhook_url == "http://127.0.0.1:5055/webhook"


def test_every_field_documents_its_variable_and_default():
    for cls in (Settings, ConsoleSettings):
        for field in cls.__fields__.values():
            assert str(field.field_info.extra["env"]).startswith("JOURNEYBOT_"), field.name
            assert "default" in (field.field_info.description or ""), field.name


def test_derived_defaults_follow_the_variables_they_derive_from(tmp_path):
    settings = load_settings({"JOURNEYBOT_PROJECT_DIR": str(tmp_path), "JOURNEYBOT_ACTIONS_PORT": "6055",
                              "JOURNEYBOT_BIND": "10.0.0.5", "JOURNEYBOT_ACTIONS_URL": ""})
    assert settings.var_dir == tmp_path / "var" and settings.business_dir == tmp_path / "data" / "business"
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'journeybot.db'}"
    assert settings.actions_webhook_url == "http://10.0.0.5:6055/webhook"
    assert load_settings({"JOURNEYBOT_ACTIONS_URL": "http://actions.internal:1/webhook"}).actions_webhook_url == "http://actions.internal:1/webhook"


def test_an_explicit_mapping_is_not_mixed_with_the_process_environment(monkeypatch):
    monkeypatch.setenv("JOURNEYBOT_JOURNEY_MODEL", "b2b")
    assert load_settings({}).journey_model == "b2c"
    assert load_settings().journey_model == "b2b"  # read when asked, not at import


@pytest.mark.parametrize(("env", "named"), [
    ({"JOURNEYBOT_ACTIONS_PORT": "0"}, "JOURNEYBOT_ACTIONS_PORT=0 is out of range 1-65535"),
    ({"JOURNEYBOT_CONSOLE_PORT": "http"}, "JOURNEYBOT_CONSOLE_PORT='http' is not a port number"),
    ({"JOURNEYBOT_BIND": "a b"}, "JOURNEYBOT_BIND='a b' is not an IP address"),
    ({"JOURNEYBOT_CORS_ORIGINS": "*"}, "JOURNEYBOT_CORS_ORIGINS must list origins"),
])
def test_a_bad_value_stops_with_the_variable_named(env, named):
    with pytest.raises(SystemExit) as raised:
        load_settings(env)
    assert named in str(raised.value) and str(raised.value).startswith("journeybot: ")


@pytest.mark.parametrize("bad", ["-1", "yes", "6"])
def test_a_bad_console_value_is_named(bad):
    with pytest.raises(SystemExit, match="JOURNEYBOT_TRUSTED_PROXIES"):
        load_console_settings({"JOURNEYBOT_TRUSTED_PROXIES": bad})
    assert load_console_settings({"JOURNEYBOT_TRUSTED_PROXIES": "2"}).trusted_proxies == 2


def test_console_settings_read_flags_and_blanks_as_before():
    console = load_console_settings({"JOURNEYBOT_CONSOLE_SECURE_COOKIE": "1", "JOURNEYBOT_PUBLIC_RASA_URL": "  "})
    assert console.secure_cookie is True and console.public_rasa_url is None and console.trusted_proxies == 0
    assert load_console_settings({"JOURNEYBOT_CONSOLE_SECURE_COOKIE": "yes"}).secure_cookie is False


def test_secrets_stay_out_of_repr():
    settings = load_settings({"JOURNEYBOT_API_TOKEN": "api-s3cret", "JOURNEYBOT_RASA_TOKEN": "rasa-s3cret",
                              "JOURNEYBOT_ACTIONS_TOKEN": "act-s3cret", "JOURNEYBOT_IDENTITY_SECRET": "id-s3cret"})
    console = load_console_settings({"JOURNEYBOT_CONSOLE_SECRET": "console-s3cret", "JOURNEYBOT_RASA_TOKEN": "rasa-s3cret"})
    assert "s3cret" not in repr(settings) + repr(console)
    assert settings.rasa_token == "rasa-s3cret" and console.console_secret == "console-s3cret"


def test_check_environment_covers_the_console_variables_too():
    assert "variables valid" in check_environment({})
    with pytest.raises(SystemExit, match="JOURNEYBOT_TRUSTED_PROXIES"):
        check_environment({"JOURNEYBOT_TRUSTED_PROXIES": "many"})


def test_journeybot_check_names_a_bad_console_variable():
    env = {**os.environ, "JOURNEYBOT_TRUSTED_PROXIES": "many"}
    result = subprocess.run([JOURNEYBOT, "check"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "JOURNEYBOT_TRUSTED_PROXIES='many' must be the number of reverse proxies" in result.stderr
    assert "Traceback" not in result.stderr
