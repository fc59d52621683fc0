"""`create-user` (bot/staff_cli.py): hashed passwords, roles, clear errors."""
from __future__ import annotations

from click.testing import CliRunner
from werkzeug.security import check_password_hash

from bot.staff_cli import create_user
from journey_state.handoff import HandoffConfig
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine
from journey_state.store.handoffs import HandoffStore
from tests.conftest import JOURNEYS_DIR


def test_create_user_from_stdin(migrated_url, monkeypatch):
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", migrated_url)
    runner = CliRunner()
    result = runner.invoke(create_user, ["ann", "--role", "admin", "--password-stdin"], input="a long secret pw\n")
    assert result.exit_code == 0, result.output
    assert "created admin 'ann'" in result.output
    again = runner.invoke(create_user, ["ann", "--password-stdin"], input="another long pw\n")
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(create_user, ["bob", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    bad_role = runner.invoke(create_user, ["bob", "--role", "boss", "--password-stdin"], input="a long secret pw\n")
    assert bad_role.exit_code == 2
    engine = make_engine(migrated_url)
    try:
        user = HandoffStore(JourneyStore(engine, load_named_model(JOURNEYS_DIR, "b2c")), HandoffConfig(triggers={})).find_user("ann")
    finally:
        engine.dispose()
    assert user.role == "admin" and user.password_hash != "a long secret pw"
    assert check_password_hash(user.password_hash, "a long secret pw")


def test_create_user_prompts_twice(sqlite_url, monkeypatch):
    from journey_state.store.migrate import upgrade

    upgrade(sqlite_url)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(create_user, ["carol"], input="a long secret pw\na long secret pw\n")
    assert result.exit_code == 0 and "created agent 'carol'" in result.output
