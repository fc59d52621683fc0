"""The storefront's "signed in as demo customer" mode: the identity is signed on the server."""
from __future__ import annotations

import pytest

from bot.console import create_app
from bot.console.storefront import DEMO_CUSTOMER_ENV, PUBLIC_RASA_URL_ENV, demo_customer
from bot.settings import load_settings
from journey_state.identifiers import Identifier
from journey_state.identity_signing import verified_identifiers
from tests.unit.test_storefront import ENV, store, widget_config  # noqa: F401 (store is a fixture)

SECRET = "storefront-identity-secret-0123456789"


def page(store, tmp_path, monkeypatch, **env) -> str:
    monkeypatch.delenv(PUBLIC_RASA_URL_ENV, raising=False)
    app = create_app(load_settings({**ENV, "JOURNEYBOT_VAR_DIR": str(tmp_path), **env}), store)
    return app.test_client().get("/").get_data(as_text=True)


def test_the_page_passes_a_signed_identity_to_the_widget(store, tmp_path, monkeypatch):
    monkeypatch.setenv(DEMO_CUSTOMER_ENV, "demo@example.com, +49 151 1234 5678")
    html = page(store, tmp_path, monkeypatch, JOURNEYBOT_IDENTITY_SECRET=SECRET)
    custom = widget_config(html)["customData"]
    assert custom["email"] == "demo@example.com" and custom["phone"] == "+49 151 1234 5678"
    assert verified_identifiers(SECRET, custom) == [Identifier("email", "demo@example.com"), Identifier("phone", "+4915112345678")]
    assert "Signed in as demo@example.com" in html and SECRET not in html


def test_without_the_mode_nothing_is_signed(store, tmp_path, monkeypatch):
    monkeypatch.delenv(DEMO_CUSTOMER_ENV, raising=False)
    html = page(store, tmp_path, monkeypatch)
    assert "customData" not in widget_config(html) and "Signed in as" not in html


@pytest.mark.parametrize("env, problem", [
    ({DEMO_CUSTOMER_ENV: "demo@example.com"}, "JOURNEYBOT_IDENTITY_SECRET is not"),
    ({DEMO_CUSTOMER_ENV: "0151 1234", "JOURNEYBOT_IDENTITY_SECRET": SECRET}, "international form"),
])
def test_a_bad_demo_customer_stops_the_console_with_a_clear_message(env, problem):
    with pytest.raises(SystemExit, match=problem):
        demo_customer(load_settings(env), env)
