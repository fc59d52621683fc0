"""Runtime settings, read from environment variables with embedded defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    var_dir: Path
    database_url: str
    api_token: str | None
    journey_model: str
    journeys_dir: Path
    business_dir: Path
    rasa_port: int
    actions_port: int
    console_port: int
    host: str
    # Signs web chat identity claims (journey_state/identity_signing.py); kept out of repr() and logs.
    identity_secret: str | None = field(default=None, repr=False)

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.host}:{self.actions_port}"

    @property
    def console_url(self) -> str:
        return f"http://{self.host}:{self.console_port}"


def _port(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"journeybot: {name}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise SystemExit(f"journeybot: {name}={value} is out of range 1-65535")
    return value


def load_settings(env: dict | None = None) -> Settings:
    """Settings from `env` (default: os.environ)."""
    env = dict(os.environ if env is None else env)
    project = Path(env.get("JOURNEYBOT_PROJECT_DIR") or PROJECT_DIR)
    var_dir = Path(env.get("JOURNEYBOT_VAR_DIR") or project / "var")
    data_dir = project / "data"
    return Settings(
        project_dir=project,
        var_dir=var_dir,
        database_url=env.get("JOURNEYBOT_DATABASE_URL") or f"sqlite:///{var_dir / 'journeybot.db'}",
        api_token=env.get("JOURNEYBOT_API_TOKEN") or None,
        journey_model=env.get("JOURNEYBOT_JOURNEY_MODEL") or "b2c",
        journeys_dir=Path(env.get("JOURNEYBOT_JOURNEYS_DIR") or data_dir / "journeys"),
        business_dir=Path(env.get("JOURNEYBOT_BUSINESS_DIR") or data_dir / "business"),
        rasa_port=_port(env, "JOURNEYBOT_RASA_PORT", 5005),
        actions_port=_port(env, "JOURNEYBOT_ACTIONS_PORT", 5055),
        console_port=_port(env, "JOURNEYBOT_CONSOLE_PORT", 5080),
        host=env.get("JOURNEYBOT_HOST") or "localhost",
        identity_secret=env.get("JOURNEYBOT_IDENTITY_SECRET") or None,
    )
