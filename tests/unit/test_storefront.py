"""The storefront page and the widget bundle, through Flask's test client; the web chat channel's set-up."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.console import create_app
from bot.console.storefront import PUBLIC_RASA_URL_ENV, WIDGET_BUNDLE, public_rasa_url, storefront
from bot.settings import load_settings
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine
from journey_state.store.migrate import upgrade

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"JOURNEYBOT_API_TOKEN": "unit-test-token", "JOURNEYBOT_RASA_PORT": "5105", "JOURNEYBOT_HOST": "127.0.0.1"}


@pytest.fixture()
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    return JourneyStore(make_engine(url), load_named_model(PROJECT / "data/journeys", "b2c"))


def make_client(store, tmp_path, monkeypatch, public_url: str | None = None):
    if public_url is None:
        monkeypatch.delenv(PUBLIC_RASA_URL_ENV, raising=False)
    else:
        monkeypatch.setenv(PUBLIC_RASA_URL_ENV, public_url)
    app = create_app(load_settings({**ENV, "JOURNEYBOT_VAR_DIR": str(tmp_path)}), store)
    if "storefront" not in app.blueprints:  # until create_app registers it
        app.register_blueprint(storefront)
    return app.test_client()


def widget_config(html: str) -> dict:
    match = re.search(r'<script id="webchat-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no widget configuration on the page"
    return json.loads(match.group(1))


def test_page_shows_the_shop_and_points_the_widget_at_rasa(store, tmp_path, monkeypatch):
    response = make_client(store, tmp_path, monkeypatch).get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("Aurora Coffee Club", "€12 a month", "€29 a month", 'lang="en"', 'aria-label="Chat with Aurora Coffee Club"'):
        assert text in html
    assert widget_config(html) == {
        "socketUrl": "http://127.0.0.1:5105",
        "socketPath": "/socket.io/",
        "title": "Aurora Coffee Club",
        "subtitle": "Ask us about plans, prices and deliveries",
        "inputTextFieldHint": "Type your question…",
    }
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from another host"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "connect-src 'self' http://127.0.0.1:5105 ws://127.0.0.1:5105;" in csp


def test_public_rasa_url_wins_over_the_local_one(store, tmp_path, monkeypatch):
    html = make_client(store, tmp_path, monkeypatch, "https://chat.aurora.example/").get("/").get_data(as_text=True)
    assert widget_config(html)["socketUrl"] == "https://chat.aurora.example"


@pytest.mark.parametrize("bad", ["chat.aurora.example", "ftp://chat.aurora.example", "https://"])
def test_a_bad_public_rasa_url_stops_start_up_naming_the_variable(bad):
    settings = load_settings(ENV)
    with pytest.raises(SystemExit, match=PUBLIC_RASA_URL_ENV):
        public_rasa_url(settings, {PUBLIC_RASA_URL_ENV: bad})
    assert public_rasa_url(settings, {PUBLIC_RASA_URL_ENV: "  "}) == "http://127.0.0.1:5105"


def test_widget_bundle_is_served_from_node_modules_without_cdn_imports(store, tmp_path, monkeypatch):
    if not WIDGET_BUNDLE.is_file():
        pytest.fail(f"{WIDGET_BUNDLE} is missing: `make test` runs `npm ci` in bot/console/web")
    response = make_client(store, tmp_path, monkeypatch).get("/storefront/webchat.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    body = response.get_data()
    assert b"WebChat" in body and b"fonts.googleapis.com" not in body
    assert b"socket.io-client" in body


def test_static_assets_are_served(store, tmp_path, monkeypatch):
    client = make_client(store, tmp_path, monkeypatch)
    for path in ("storefront.css", "storefront.js", "favicon.svg"):
        assert client.get(f"/storefront/static/{path}").status_code == 200


def test_web_chat_channel_serves_long_polling_and_keeps_rasas_channel_name():
    from bot.channels.webchat.channel import WebChatInput

    channel = WebChatInput.from_credentials(
        {"user_message_evt": "user_uttered", "bot_message_evt": "bot_uttered", "session_persistence": True}
    )
    channel.blueprint(lambda message: None)
    assert WebChatInput.name() == "socketio"
    assert channel.session_persistence is True
    assert channel.sio.eio.allow_upgrades is False and channel.sio.eio.transports == ["polling"]
