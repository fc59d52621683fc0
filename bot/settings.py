"""Runtime settings: every environment variable journeybot reads, typed and validated in one place.

`load_settings()` reads them when a process or command starts (never at import, so tests that
set variables see them). A bad value stops the process with a message naming the variable.
Two groups: `Settings` for every process, `ConsoleSettings` for what only the console reads
(built when the console app is created). Variables whose *name* is configured in a file
(credentials.yml tokens, commerce.yml's `access_token_env`) are read where that file is.
"""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseSettings, Field, ValidationError, validator

PROJECT_DIR = Path(__file__).resolve().parent.parent

# A bind address is an IP address or a host name; anything else (a URL, "host:port", spaces)
# would only fail later inside Sanic or waitress with a less helpful message.
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# An origin as browsers send it: scheme://host[:port], no path, no trailing slash.
ORIGIN = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


def _blank_is_unset(value: Any) -> Any:
    """The shell's `X=` means "not set" here, as it always has for journeybot."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _port(name: str, raw: Any, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise ValueError(f"{name}={value} is out of range 1-65535")
    return value


def default_host(bind: str) -> str:
    """How journeybot's own processes reach each other: a server bound to one address is only there."""
    if bind in ("127.0.0.1", "0.0.0.0", "::"):
        return "localhost"
    return f"[{bind}]" if ":" in bind else bind


class _EnvSettings(BaseSettings):
    class Config:
        frozen = True
        # Values come from one mapping (see `_from_env`), so a test's dict is never mixed with os.environ.
        @classmethod
        def customise_sources(cls, init_settings: Any, env_settings: Any, file_secret_settings: Any) -> tuple[Any, ...]:
            return (init_settings,)


S = TypeVar("S", bound=_EnvSettings)


def _from_env(cls: type[S], env: Mapping[str, str] | None) -> S:
    """`cls` from `env` (default: os.environ now); a bad value is a SystemExit naming its variable."""
    env = os.environ if env is None else env
    values = {name: env.get(str(field.field_info.extra["env"])) for name, field in cls.__fields__.items()}
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = cls.__fields__[str(first["loc"][0])]
        name = str(field.field_info.extra["env"])
        message = first["msg"]
        raise SystemExit(f"journeybot: {message if name in message else f'{name}: {message}'}") from None


class Settings(_EnvSettings):
    """What every journeybot process reads; each field names its variable and its default."""

    project_dir: Path = Field(PROJECT_DIR, env="JOURNEYBOT_PROJECT_DIR", description="The checkout (default: this one).")
    var_dir: Path = Field(None, env="JOURNEYBOT_VAR_DIR", description="Runtime state (default: <project>/var).")
    database_url: str = Field(None, env="JOURNEYBOT_DATABASE_URL", description="SQLAlchemy URL (default: sqlite:///<var>/journeybot.db).")
    api_token: str | None = Field(None, env="JOURNEYBOT_API_TOKEN", repr=False, description="The journey API's bearer token (no default; the console refuses to start without it).")
    journey_model: str = Field("b2c", env="JOURNEYBOT_JOURNEY_MODEL", description="Journey model id (default: b2c).")
    journeys_dir: Path = Field(None, env="JOURNEYBOT_JOURNEYS_DIR", description="Journey models (default: <project>/data/journeys).")
    business_dir: Path = Field(None, env="JOURNEYBOT_BUSINESS_DIR", description="Business YAML (default: <project>/data/business).")
    rasa_port: int = Field(None, env="JOURNEYBOT_RASA_PORT", description="Rasa server port (default: 5005).")
    actions_port: int = Field(None, env="JOURNEYBOT_ACTIONS_PORT", description="Action server port (default: 5055).")
    console_port: int = Field(None, env="JOURNEYBOT_CONSOLE_PORT", description="Console port (default: 5080).")
    # Signs web chat identity claims (journey_state/identity_signing.py); kept out of repr() and logs.
    identity_secret: str | None = Field(None, env="JOURNEYBOT_IDENTITY_SECRET", repr=False, description="Web chat identity HMAC key (default: none, claims are not trusted).")
    bind: str = Field("127.0.0.1", env="JOURNEYBOT_BIND", description="Address Rasa, the action server and the console listen on (default: 127.0.0.1).")
    host: str = Field(None, env="JOURNEYBOT_HOST", description="How the processes reach each other (default: derived from JOURNEYBOT_BIND).")
    # Browser origins allowed to call Rasa (the storefront's web chat); never "*".
    cors_origins: tuple[str, ...] = Field((), env="JOURNEYBOT_CORS_ORIGINS", description="Comma/space separated origins (default: the console's own).")
    rasa_token: str | None = Field(None, env="JOURNEYBOT_RASA_TOKEN", repr=False, description="Rasa HTTP API token (no default; `journeybot rasa` refuses to start without it).")
    actions_token: str | None = Field(None, env="JOURNEYBOT_ACTIONS_TOKEN", repr=False, description="Shared secret Rasa sends the action server (no default; required by `journeybot actions`).")
    actions_webhook: str | None = Field(None, env="JOURNEYBOT_ACTIONS_URL", description="Where Rasa calls the actions (default: this machine's action server).")
    rasa_model: str | None = Field(None, env="JOURNEYBOT_MODEL", description="Trained Rasa model the Procfile serves (default: none; `journeybot up` sets it).")
    credentials: str = Field("credentials.yml", env="JOURNEYBOT_CREDENTIALS", description="Rasa channel credentials file (default: credentials.yml).")
    public_console_url: str | None = Field(None, env="JOURNEYBOT_PUBLIC_CONSOLE_URL", description="The console as customers reach it, for checkout links /c/<token> (default: the local console URL).")

    @validator("*", pre=True, always=True)
    def _blank(cls, value: Any) -> Any:
        return _blank_is_unset(value)

    @validator("project_dir", pre=True, always=True)
    def _project(cls, value: Any) -> Any:
        return PROJECT_DIR if value is None else value

    @validator("var_dir", pre=True, always=True)
    def _var(cls, value: Any, values: dict[str, Any]) -> Any:
        return Path(values["project_dir"]) / "var" if value is None else value

    @validator("database_url", pre=True, always=True)
    def _database(cls, value: Any, values: dict[str, Any]) -> Any:
        return f"sqlite:///{Path(values['var_dir']) / 'journeybot.db'}" if value is None else value

    @validator("journey_model", "credentials", pre=True, always=True)
    def _defaults(cls, value: Any, field: Any) -> Any:
        return field.default if value is None else value

    @validator("journeys_dir", pre=True, always=True)
    def _journeys(cls, value: Any, values: dict[str, Any]) -> Any:
        return Path(values["project_dir"]) / "data" / "journeys" if value is None else value

    @validator("business_dir", pre=True, always=True)
    def _business(cls, value: Any, values: dict[str, Any]) -> Any:
        return Path(values["project_dir"]) / "data" / "business" if value is None else value

    @validator("rasa_port", "actions_port", "console_port", pre=True, always=True)
    def _ports(cls, value: Any, field: Any) -> int:
        defaults = {"rasa_port": 5005, "actions_port": 5055, "console_port": 5080}
        return _port(str(field.field_info.extra["env"]), value, defaults[field.name])

    @validator("bind", pre=True, always=True)
    def _bind(cls, value: Any) -> str:
        if value is None:
            return "127.0.0.1"
        raw = str(value).strip()
        try:
            return str(ipaddress.ip_address(raw))
        except ValueError:
            pass
        if not HOSTNAME.match(raw):
            raise ValueError(f"JOURNEYBOT_BIND={raw!r} is not an IP address or host name (e.g. 127.0.0.1 or 0.0.0.0)")
        return raw

    @validator("host", pre=True, always=True)
    def _host(cls, value: Any, values: dict[str, Any]) -> Any:
        if value is not None:
            return value
        # A bad JOURNEYBOT_BIND is reported on its own; the host then does not matter.
        return default_host(values["bind"]) if "bind" in values else "localhost"

    @validator("cors_origins", pre=True, always=True)
    def _cors(cls, value: Any, values: dict[str, Any]) -> tuple[str, ...]:
        origins = [o.rstrip("/") for o in re.split(r"[\s,]+", value or "") if o] if not isinstance(value, tuple) else list(value)
        if not origins:
            # The storefront is the console's own page, reached by any of these names.
            names = dict.fromkeys(("127.0.0.1", "localhost", values.get("host", "localhost")))
            return tuple(f"http://{name}:{values.get('console_port', 5080)}" for name in names)
        for origin in origins:
            if origin == "*":
                raise ValueError("JOURNEYBOT_CORS_ORIGINS must list origins; '*' would let every web site talk to Rasa")
            if not ORIGIN.match(origin):
                raise ValueError(f"JOURNEYBOT_CORS_ORIGINS entry {origin!r} is not an origin like https://shop.example.com")
        return tuple(dict.fromkeys(origins))

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.host}:{self.actions_port}"

    @property
    def actions_webhook_url(self) -> str:
        """Where Rasa calls the actions: JOURNEYBOT_ACTIONS_URL, else the local action server."""
        if self.actions_webhook:
            return self.actions_webhook
        address = "127.0.0.1" if self.bind in ("0.0.0.0", "::") else (f"[{self.bind}]" if ":" in self.bind else self.bind)
        return f"http://{address}:{self.actions_port}/webhook"

    @property
    def console_url(self) -> str:
        return f"http://{self.host}:{self.console_port}"

    @property
    def checkout_base_url(self) -> str:
        """Where checkout links in the chat point: JOURNEYBOT_PUBLIC_CONSOLE_URL, else the local console."""
        return self.public_console_url or self.console_url

    @validator("public_console_url")
    def _public_console(cls, value: Any) -> Any:
        if value is None:
            return None
        parts = urlsplit(str(value).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"JOURNEYBOT_PUBLIC_CONSOLE_URL={value!r} is not a URL like https://shop.example.com")
        return str(value).strip().rstrip("/")


class ConsoleSettings(_EnvSettings):
    """What only the console reads, when its app is created."""

    console_secret: str | None = Field(None, env="JOURNEYBOT_CONSOLE_SECRET", repr=False, description="Signs staff session cookies (default: a random one per process).")
    secure_cookie: bool = Field(False, env="JOURNEYBOT_CONSOLE_SECURE_COOKIE", description="'1': staff cookies only over https (default: off).")
    trusted_proxies: int = Field(0, env="JOURNEYBOT_TRUSTED_PROXIES", description="Reverse proxies in front of the console, 0-5 (default: 0).")
    public_rasa_url: str | None = Field(None, env="JOURNEYBOT_PUBLIC_RASA_URL", description="Rasa as the visitor's browser reaches it (default: the local Rasa URL).")
    demo_customer: str | None = Field(None, env="JOURNEYBOT_DEMO_CUSTOMER", description="Email and/or phone the storefront signs in as (default: none).")
    rasa_token: str | None = Field(None, env="JOURNEYBOT_RASA_TOKEN", repr=False, description="Rasa HTTP API token the console calls Rasa with (default: none; as in Settings).")
    shopify_webhook_secret: str | None = Field(None, env="JOURNEYBOT_SHOPIFY_WEBHOOK_SECRET", repr=False, description="Signing secret of the shop's webhooks (default: none, POST /webhooks/shopify/orders-paid refuses every call).")

    @validator("*", pre=True, always=True)
    def _blank(cls, value: Any) -> Any:
        return _blank_is_unset(value)

    @validator("secure_cookie", pre=True, always=True)
    def _secure(cls, value: Any) -> bool:
        return bool(value == "1")

    @validator("trusted_proxies", pre=True, always=True)
    def _proxies(cls, value: Any) -> int:
        raw = "0" if value is None else str(value).strip()
        if not raw.isdigit() or int(raw) > 5:
            raise ValueError(f"JOURNEYBOT_TRUSTED_PROXIES={raw!r} must be the number of reverse proxies in front of the console (0-5)")
        return int(raw)

    @validator("public_rasa_url", pre=True, always=True)
    def _public_rasa_url(cls, value: Any) -> Any:
        return None if value is None else str(value).strip()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (default: os.environ, read now)."""
    return _from_env(Settings, env)


def load_console_settings(env: Mapping[str, str] | None = None) -> ConsoleSettings:
    """The console's own settings from `env` (default: os.environ, read now)."""
    return _from_env(ConsoleSettings, env)


def check_environment(env: Mapping[str, str] | None = None) -> str:
    """Validate every variable journeybot reads (for `journeybot check`); SystemExit names a bad one."""
    env = os.environ if env is None else env
    load_settings(env)
    load_console_settings(env)
    names = sorted(str(f.field_info.extra["env"]) for cls in (Settings, ConsoleSettings) for f in cls.__fields__.values())
    return f"environment: {len(set(names))} JOURNEYBOT_* variables valid"
