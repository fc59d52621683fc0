"""commerce.yml: validation with errors naming file and key, and building the configured backend."""
from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from journey_state.commerce import BackendMisconfigured
from journey_state.commerce.config import (
    CommerceConfig,
    CommerceConfigError,
    build_backend,
    load_commerce_config,
    parse_commerce_config,
)
from journey_state.commerce.demo_shop import DemoShopBackend
from journey_state.commerce.shopify import ShopifyBackend
from journey_state.replies import BusinessConfigError
from journey_state.store import make_engine
from tests.fakes.shopify import SHOP, TOKEN, FakeShopify

SHOPIFY = {"shop_domain": SHOP, "api_version": "2024-10", "access_token_env": "SHOPIFY_ADMIN_TOKEN"}


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def write(tmp_path, data) -> str:
    path = tmp_path / "commerce.yml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_file_selects_the_demo_shop(business_dir, engine):
    config = load_commerce_config(business_dir / "commerce.yml")
    assert config.backend == "demo" and config.order_prefix == "AUR" and config.refund_window == timedelta(days=30)
    assert config.shopify is not None and config.shopify.shop_domain.endswith(".myshopify.com")
    assert config.shopify.access_token_env == "SHOPIFY_ADMIN_TOKEN" and config.shopify.api_version == "2024-10"
    assert (config.shopify.connect_timeout, config.shopify.read_timeout, config.shopify.retries) == (3.05, 10.0, 2)
    assert isinstance(build_backend(config, engine, env={}), DemoShopBackend)


def test_a_missing_file_means_the_demo_shop(tmp_path, engine):
    config = load_commerce_config(tmp_path / "nope.yml")
    assert config == CommerceConfig(source=str(tmp_path / "nope.yml"))
    assert isinstance(build_backend(config, engine), DemoShopBackend)


def test_defaults_for_optional_keys():
    config = parse_commerce_config({"backend": "shopify", "shopify": {"shop_domain": SHOP}}, "x.yml")
    assert config.shopify.api_version == "2024-10" and config.shopify.access_token_env == "SHOPIFY_ADMIN_TOKEN"
    assert config.shopify.order_name_format == "#{digits}"
    assert parse_commerce_config(None, "empty.yml").backend == "demo"


@pytest.mark.parametrize(
    "data, key, says",
    [
        ({"backend": "magento"}, "backend", "unknown backend 'magento' (use demo, shopify)"),
        ({"backnd": "demo"}, "backnd", "unknown key (use backend, order_prefix, refund_window_days, shopify, checkout)"),
        ({"order_prefix": "A1"}, "order_prefix", "expected 2-5 letters"),
        ({"refund_window_days": -1}, "refund_window_days", "positive whole number of days"),
        ({"refund_window_days": "30d"}, "refund_window_days", "positive whole number of days"),
        ({"backend": "shopify"}, "shopify", "backend is shopify but the shopify section is missing"),
        ({"shopify": ["x"]}, "shopify", "expected a mapping"),
        ({"shopify": {**SHOPIFY, "shop_domain": "auroracoffee.example"}}, "shopify.shop_domain", "myshopify.com domain"),
        ({"shopify": {**SHOPIFY, "api_version": 2024.10}}, "shopify.api_version", "like '2024-10' (quote it)"),
        ({"shopify": {**SHOPIFY, "api_version": "2024-05"}}, "shopify.api_version", "got '2024-05'"),
        ({"shopify": {**SHOPIFY, "access_token_env": "shopify token"}}, "shopify.access_token_env", "environment variable name"),
        ({"shopify": {**SHOPIFY, "access_token": "shpat_123"}}, "shopify.access_token", "secrets never go in this file"),
        ({"shopify": {**SHOPIFY, "order_name_format": "#{number}"}}, "shopify.order_name_format", "must contain {digits}"),
        ({"shopify": {**SHOPIFY, "retries": 9}}, "shopify.retries", "from 0 to 5"),
        ({"shopify": {**SHOPIFY, "retries": True}}, "shopify.retries", "from 0 to 5"),
        ({"shopify": {**SHOPIFY, "read_timeout_seconds": 0}}, "shopify.read_timeout_seconds", "positive number of seconds"),
        ({"shopify": {**SHOPIFY, "connect_timeout_seconds": "3s"}}, "shopify.connect_timeout_seconds", "positive number of seconds"),
        ({"shopify": {**SHOPIFY, "shop": SHOP}}, "shopify.shop", "unknown key"),
        (["demo"], "(top level)", "expected a mapping"),
    ],
)
def test_errors_name_file_and_key(tmp_path, data, key, says):
    path = write(tmp_path, data)
    with pytest.raises(CommerceConfigError) as excinfo:
        load_commerce_config(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert says in message
    assert "shpat_123" not in message


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "backend: demo\nshopify: [unclosed\n")
    with pytest.raises(BusinessConfigError, match=rf"{path}: malformed YAML \(line \d+"):
        load_commerce_config(path)


def test_config_errors_are_business_config_and_backend_errors():
    assert issubclass(CommerceConfigError, BusinessConfigError) and issubclass(CommerceConfigError, BackendMisconfigured)


def test_shopify_needs_the_token_in_the_environment(tmp_path, engine):
    path = write(tmp_path, {"backend": "shopify", "shopify": SHOPIFY})
    config = load_commerce_config(path)
    for env in ({}, {"SHOPIFY_ADMIN_TOKEN": "  "}):
        with pytest.raises(CommerceConfigError) as excinfo:
            build_backend(config, engine, env=env)
        assert str(excinfo.value) == (
            f"{path}: shopify.access_token_env: environment variable SHOPIFY_ADMIN_TOKEN is not set; "
            "it must hold the shop's Admin API access token"
        )


def test_shopify_backend_uses_the_token_from_the_environment(tmp_path, engine):
    path = write(tmp_path, {"backend": "shopify", "order_prefix": "AUR", "shopify": {**SHOPIFY, "access_token_env": "AURORA_SHOPIFY", "retries": 0}})
    config = load_commerce_config(path)
    assert TOKEN not in repr(config)
    fake = FakeShopify().start()
    try:
        fake.add_order(450789469, 1001)
        backend = build_backend(config, engine, env={"AURORA_SHOPIFY": TOKEN}, base_url=fake.base_url)
        assert isinstance(backend, ShopifyBackend)
        assert backend.client.retries == 0 and backend.client.timeout == (3.05, 10.0)
        assert backend.get_order("AUR-1001").status == "paid"
        assert fake.requests[0].headers["x-shopify-access-token"] == TOKEN
    finally:
        fake.stop()
