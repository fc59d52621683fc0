"""Which commerce backend answers order questions, from data/business/commerce.yml; secrets come from the environment."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import requests
from sqlalchemy.engine import Engine

from journey_state.commerce.base import DEFAULT_PREFIX, BackendMisconfigured, CommerceBackend
from journey_state.replies import BusinessConfigError, _read_yaml

BACKENDS = ("demo", "shopify")
_TOP_KEYS = ("backend", "order_prefix", "refund_window_days", "shopify")
_SHOPIFY_KEYS = ("shop_domain", "api_version", "access_token_env", "order_name_format",
                 "connect_timeout_seconds", "read_timeout_seconds", "retries")
_SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\.myshopify\.com$")
_API_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PREFIX = re.compile(r"^[A-Za-z]{2,5}$")


class CommerceConfigError(BusinessConfigError, BackendMisconfigured):
    """commerce.yml is invalid or a secret it names is missing; the message names file and key."""


@dataclass(frozen=True)
class ShopifySettings:
    shop_domain: str
    api_version: str = "2024-10"
    access_token_env: str = "SHOPIFY_ADMIN_TOKEN"
    order_name_format: str = "#{digits}"
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    retries: int = 2


@dataclass(frozen=True)
class CommerceConfig:
    backend: str = "demo"
    order_prefix: str = DEFAULT_PREFIX
    refund_window: timedelta = timedelta(days=30)
    shopify: ShopifySettings | None = None
    source: str = "<defaults>"


def _fail(source: str, key: str, message: str) -> CommerceConfigError:
    return CommerceConfigError(f"{source}: {key}: {message}")


def _unknown(data: Mapping[str, Any], allowed: tuple[str, ...], source: str, prefix: str = "") -> None:
    for key in data:
        if key in allowed:
            continue
        if "token" in str(key).lower() or "secret" in str(key).lower():
            raise _fail(source, f"{prefix}{key}", "secrets never go in this file; name an environment variable in shopify.access_token_env")
        raise _fail(source, f"{prefix}{key}", f"unknown key (use {', '.join(allowed)})")


def _number(data: Mapping[str, Any], key: str, default: float, source: str, where: str) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail(source, where, f"must be a positive number of seconds, got {value!r}")
    return float(value)


def _parse_shopify(raw: Any, source: str) -> ShopifySettings:
    if not isinstance(raw, Mapping):
        raise _fail(source, "shopify", "expected a mapping with shop_domain, api_version and access_token_env")
    _unknown(raw, _SHOPIFY_KEYS, source, "shopify.")
    domain = raw.get("shop_domain")
    if not isinstance(domain, str) or not _SHOP_DOMAIN.match(domain):
        raise _fail(source, "shopify.shop_domain",
                    f"expected the shop's myshopify.com domain, e.g. aurora-coffee.myshopify.com, got {domain!r}")
    version = raw.get("api_version", ShopifySettings.api_version)
    if not isinstance(version, str) or not _API_VERSION.match(version):
        raise _fail(source, "shopify.api_version", f"expected a Shopify API version like '2024-10' (quote it), got {version!r}")
    env_name = raw.get("access_token_env", ShopifySettings.access_token_env)
    if not isinstance(env_name, str) or not _ENV_NAME.match(env_name):
        raise _fail(source, "shopify.access_token_env", f"expected an environment variable name like SHOPIFY_ADMIN_TOKEN, got {env_name!r}")
    name_format = raw.get("order_name_format", ShopifySettings.order_name_format)
    rest = name_format.replace("{digits}", "", 1) if isinstance(name_format, str) else ""
    if not isinstance(name_format, str) or "{digits}" not in name_format or "{" in rest or "}" in rest:
        raise _fail(source, "shopify.order_name_format",
                    f"must contain {{digits}} once and no other braces, e.g. '#{{digits}}', got {name_format!r}")
    retries = raw.get("retries", ShopifySettings.retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 5:
        raise _fail(source, "shopify.retries", f"must be a whole number from 0 to 5, got {retries!r}")
    return ShopifySettings(
        shop_domain=domain,
        api_version=version,
        access_token_env=env_name,
        order_name_format=name_format,
        connect_timeout=_number(raw, "connect_timeout_seconds", ShopifySettings.connect_timeout, source, "shopify.connect_timeout_seconds"),
        read_timeout=_number(raw, "read_timeout_seconds", ShopifySettings.read_timeout, source, "shopify.read_timeout_seconds"),
        retries=retries,
    )


def parse_commerce_config(data: Any, source: str = "<memory>") -> CommerceConfig:
    """Validate commerce settings (the parsed YAML); errors name `source` and the key."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _fail(source, "(top level)", "expected a mapping with backend and optional shopify settings")
    _unknown(data, _TOP_KEYS, source)
    backend = data.get("backend", "demo")
    if backend not in BACKENDS:
        raise _fail(source, "backend", f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    prefix = data.get("order_prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise _fail(source, "order_prefix", f"expected 2-5 letters, e.g. AUR, got {prefix!r}")
    days = data.get("refund_window_days", 30)
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        raise _fail(source, "refund_window_days", f"must be a positive whole number of days, got {days!r}")
    shopify = _parse_shopify(data["shopify"], source) if data.get("shopify") is not None else None
    if backend == "shopify" and shopify is None:
        raise _fail(source, "shopify", "backend is shopify but the shopify section is missing")
    return CommerceConfig(backend, prefix.upper(), timedelta(days=days), shopify, source)


def load_commerce_config(path: str | Path) -> CommerceConfig:
    """Settings from a commerce.yml; a missing file means the demo shop with defaults."""
    path = Path(path)
    if not path.exists():
        return CommerceConfig(source=str(path))
    return parse_commerce_config(_read_yaml(path), str(path))


def build_backend(config: CommerceConfig, engine: Engine, env: Mapping[str, str] = MappingProxyType({}),
                  session: requests.Session | None = None, base_url: str | None = None) -> CommerceBackend:
    """The configured backend; the Shopify token is looked up in `env`, the caller's environment
    (journey_state reads no environment variables itself: bot/services.py passes os.environ)."""
    if config.backend == "demo":
        from journey_state.commerce.demo_shop import DemoShopBackend

        return DemoShopBackend(engine, refund_window=config.refund_window, prefix=config.order_prefix)
    from journey_state.commerce.shopify import ShopifyAdminClient, ShopifyBackend

    settings = config.shopify
    assert settings is not None  # parse_commerce_config guarantees it
    token = (env.get(settings.access_token_env) or "").strip()
    if not token:
        raise _fail(
            config.source, "shopify.access_token_env",
            f"environment variable {settings.access_token_env} is not set; it must hold the shop's Admin API access token",
        )
    client = ShopifyAdminClient(
        settings.shop_domain, token, api_version=settings.api_version, base_url=base_url,
        timeout=(settings.connect_timeout, settings.read_timeout), retries=settings.retries, session=session,
    )
    return ShopifyBackend(client, prefix=config.order_prefix, name_format=settings.order_name_format,
                          refund_window=config.refund_window)
