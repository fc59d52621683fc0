"""Runtime settings, read from environment variables with embedded defaults."""
from __future__ import annotations

import ipaddress
import os
import re
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
    # The address Rasa, the action server and the console listen on (JOURNEYBOT_BIND).
    bind: str = "127.0.0.1"
    # Browser origins allowed to call Rasa (the storefront's web chat); never "*".
    cors_origins: tuple[str, ...] = ()

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


# A bind address is an IP address or a host name; anything else (a URL, "host:port", spaces)
# would only fail later inside Sanic or waitress with a less helpful message.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# An origin as browsers send it: scheme://host[:port], no path, no trailing slash.
_ORIGIN = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


def _bind(env: dict) -> str:
    raw = (env.get("JOURNEYBOT_BIND") or "").strip()
    if not raw:
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    if not _HOSTNAME.match(raw):
        raise SystemExit(f"journeybot: JOURNEYBOT_BIND={raw!r} is not an IP address or host name (e.g. 127.0.0.1 or 0.0.0.0)")
    return raw


def _default_host(bind: str) -> str:
    """How journeybot's own processes reach each other: a server bound to one address is only there."""
    if bind in ("127.0.0.1", "0.0.0.0", "::"):
        return "localhost"
    return f"[{bind}]" if ":" in bind else bind


def _cors_origins(env: dict, host: str, console_port: int) -> tuple[str, ...]:
    raw = env.get("JOURNEYBOT_CORS_ORIGINS") or ""
    origins = [o.rstrip("/") for o in re.split(r"[\s,]+", raw) if o]
    if not origins:
        # The storefront is the console's own page, reached by any of these names.
        names = dict.fromkeys(("127.0.0.1", "localhost", host))
        return tuple(f"http://{name}:{console_port}" for name in names)
    for origin in origins:
        if origin == "*":
            raise SystemExit("journeybot: JOURNEYBOT_CORS_ORIGINS must list origins; '*' would let every web site talk to Rasa")
        if not _ORIGIN.match(origin):
            raise SystemExit(f"journeybot: JOURNEYBOT_CORS_ORIGINS entry {origin!r} is not an origin like https://shop.example.com")
    return tuple(dict.fromkeys(origins))


def load_settings(env: dict | None = None) -> Settings:
    """Settings from `env` (default: os.environ)."""
    env = dict(os.environ if env is None else env)
    project = Path(env.get("JOURNEYBOT_PROJECT_DIR") or PROJECT_DIR)
    var_dir = Path(env.get("JOURNEYBOT_VAR_DIR") or project / "var")
    data_dir = project / "data"
    bind = _bind(env)
    host = env.get("JOURNEYBOT_HOST") or _default_host(bind)
    console_port = _port(env, "JOURNEYBOT_CONSOLE_PORT", 5080)
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
        console_port=console_port,
        host=host,
        identity_secret=env.get("JOURNEYBOT_IDENTITY_SECRET") or None,
        bind=bind,
        cors_origins=_cors_origins(env, host, console_port),
    )
