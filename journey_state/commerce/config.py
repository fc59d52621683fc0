"""Which commerce backend answers order questions, from data/business/commerce.yml; secrets come from the environment."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import requests
from pydantic import root_validator, validator
from sqlalchemy.engine import Engine

from journey_state.catalog import Catalog
from journey_state.checkout.config import CheckoutFile, CheckoutSettings
from journey_state.commerce.base import (
    DEFAULT_PREFIX,
    BackendMisconfigured,
    CommerceBackend,
)
from journey_state.config_files import (
    BusinessConfigError,
    KeyProblem,
    StrictModel,
    config_error,
    read_yaml,
    validate,
)

BACKENDS = ("demo", "shopify")
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
    checkout: CheckoutSettings = field(default_factory=CheckoutSettings)


def _secret_or_unknown(key: str, allowed: Sequence[str]) -> str:
    if "token" in key.lower() or "secret" in key.lower():
        return "secrets never go in this file; name an environment variable in shopify.access_token_env"
    return f"unknown key (use {', '.join(allowed)})"


def _seconds(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"must be a positive number of seconds, got {value!r}")
    return value


class ShopifyFile(StrictModel):
    """The `shopify:` section of commerce.yml."""

    shop_domain: str | None = None  # required; None reaches the validator so the message shows it
    api_version: str = ShopifySettings.api_version
    access_token_env: str = ShopifySettings.access_token_env
    order_name_format: str = ShopifySettings.order_name_format
    connect_timeout_seconds: float = ShopifySettings.connect_timeout
    read_timeout_seconds: float = ShopifySettings.read_timeout
    retries: int = ShopifySettings.retries

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return _secret_or_unknown(key, allowed)

    @validator("shop_domain", pre=True, always=True)
    def _domain(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _SHOP_DOMAIN.match(value):
            raise ValueError(f"expected the shop's myshopify.com domain, e.g. aurora-coffee.myshopify.com, got {value!r}")
        return value

    @validator("api_version", pre=True)
    def _version(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _API_VERSION.match(value):
            raise ValueError(f"expected a Shopify API version like '2024-10' (quote it), got {value!r}")
        return value

    @validator("access_token_env", pre=True)
    def _env_name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _ENV_NAME.match(value):
            raise ValueError(f"expected an environment variable name like SHOPIFY_ADMIN_TOKEN, got {value!r}")
        return value

    @validator("order_name_format", pre=True)
    def _name_format(cls, value: Any) -> Any:
        rest = value.replace("{digits}", "", 1) if isinstance(value, str) else ""
        if not isinstance(value, str) or "{digits}" not in value or "{" in rest or "}" in rest:
            raise ValueError(f"must contain {{digits}} once and no other braces, e.g. '#{{digits}}', got {value!r}")
        return value

    _timeouts = validator("connect_timeout_seconds", "read_timeout_seconds", pre=True, allow_reuse=True)(_seconds)

    @validator("retries", pre=True)
    def _retries(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
            raise ValueError(f"must be a whole number from 0 to 5, got {value!r}")
        return value


class CommerceFile(StrictModel):
    """commerce.yml as written; `parse_commerce_config` turns it into a CommerceConfig."""

    backend: str = "demo"
    order_prefix: str = DEFAULT_PREFIX
    refund_window_days: int = 30
    shopify: ShopifyFile | None = None
    checkout: CheckoutFile | None = None

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return _secret_or_unknown(key, allowed)

    @validator("backend", pre=True)
    def _backend(cls, value: Any) -> Any:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r} (use {', '.join(BACKENDS)})")
        return value

    @validator("order_prefix", pre=True)
    def _prefix(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _PREFIX.match(value):
            raise ValueError(f"expected 2-5 letters, e.g. AUR, got {value!r}")
        return value

    @validator("refund_window_days", pre=True)
    def _days(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"must be a positive whole number of days, got {value!r}")
        return value

    @validator("shopify", pre=True)
    def _shopify_mapping(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, Mapping):
            raise ValueError("expected a mapping with shop_domain, api_version and access_token_env")
        return value

    @root_validator(skip_on_failure=True)
    def _shopify_needs_settings(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("backend") == "shopify" and values.get("shopify") is None:
            raise KeyProblem(["shopify"], "backend is shopify but the shopify section is missing")
        return values


def parse_commerce_config(data: Any, source: str = "<memory>") -> CommerceConfig:
    """Validate commerce settings (the parsed YAML); errors name `source` and the key."""
    parsed = validate(CommerceFile, {} if data is None else data, source, CommerceConfigError,
                      expected="expected a mapping with backend and optional shopify settings")
    shopify = None
    if parsed.shopify is not None:
        raw = parsed.shopify
        assert raw.shop_domain is not None  # its validator refuses anything but a myshopify.com domain
        shopify = ShopifySettings(
            shop_domain=raw.shop_domain,
            api_version=raw.api_version,
            access_token_env=raw.access_token_env,
            order_name_format=raw.order_name_format,
            connect_timeout=raw.connect_timeout_seconds,
            read_timeout=raw.read_timeout_seconds,
            retries=raw.retries,
        )
    return CommerceConfig(parsed.backend, parsed.order_prefix.upper(), timedelta(days=parsed.refund_window_days), shopify, source,
                          checkout=CheckoutSettings.from_file(parsed.checkout))


def check_checkout_products(config: CommerceConfig, catalog: Catalog | None) -> None:
    """Every product with a checkout link is one the catalog sells (a typo would never be offered)."""
    if catalog is None:
        return
    for product in config.checkout.links:
        if not catalog.has_product(product):
            known = ", ".join(p.id for p in catalog)
            raise config_error(config.source, f"checkout.links.{product}", f"unknown product {product!r} (catalog.yml has {known})",
                               CommerceConfigError)


def load_commerce_config(path: str | Path) -> CommerceConfig:
    """Settings from a commerce.yml; a missing file means the demo shop with defaults."""
    path = Path(path)
    if not path.exists():
        return CommerceConfig(source=str(path))
    return parse_commerce_config(read_yaml(path), str(path))


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
        raise config_error(
            config.source, "shopify.access_token_env",
            f"environment variable {settings.access_token_env} is not set; it must hold the shop's Admin API access token",
            CommerceConfigError,
        )
    client = ShopifyAdminClient(
        settings.shop_domain, token, api_version=settings.api_version, base_url=base_url,
        timeout=(settings.connect_timeout, settings.read_timeout), retries=settings.retries, session=session,
    )
    return ShopifyBackend(client, prefix=config.order_prefix, name_format=settings.order_name_format,
                          refund_window=config.refund_window)
