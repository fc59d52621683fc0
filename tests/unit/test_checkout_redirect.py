"""GET /c/<token> on the console (bot/console/checkout_redirect.py), through Flask's test client."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.console import create_app
from bot.settings import load_settings
from journey_state.identifiers import ChannelRef
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine
from journey_state.store.migrate import upgrade

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"JOURNEYBOT_API_TOKEN": "unit-test-token", "JOURNEYBOT_HOST": "127.0.0.1"}
ALICE = ChannelRef("rest", "alice")
SHOP = "https://shop.auroracoffee.example/checkout?plan=premium&ref="


@pytest.fixture()
def app(tmp_path):
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    store = JourneyStore(make_engine(url), load_named_model(PROJECT / "data/journeys", "b2c"))
    app = create_app(load_settings({**ENV, "JOURNEYBOT_VAR_DIR": str(tmp_path)}), store)
    yield app
    store.engine.dispose()


def opened(app, token: str) -> list[str]:
    services = app.extensions["services"]
    uid = services.store.contact_by_identity(ALICE)["id"]
    return [e["event_type"] for e in services.store.timeline(uid) if e.get("event_type") == "checkout_opened"]


def test_a_link_redirects_to_the_configured_checkout_and_is_recorded(app):
    links = app.extensions["services"].checkout
    token = links.issue(ALICE, "rest", "premium").token
    client = app.test_client()
    # A chat app drawing a preview, and a HEAD request, are redirected but open nothing.
    preview = client.get(f"/c/{token}", headers={"User-Agent": "TelegramBot (like TwitterBot)"})
    assert (preview.status_code, preview.headers["Location"]) == (302, SHOP + token)
    assert client.head(f"/c/{token}").status_code == 302
    assert opened(app, token) == []
    response = client.get(f"/c/{token}", headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 302 and response.headers["Location"] == SHOP + token
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"
    assert client.get(f"/c/{token}").status_code == 302
    assert opened(app, token) == ["checkout_opened"]


@pytest.mark.parametrize(
    "path",
    [
        "/c/Unknown0000000000000000000000000000",
        "/c/short",
        "/c/" + "a" * 65,
        "/c/%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00",
        "/c/%ED%B2%80aaaaaaaaaaaaaaaaaaaaaaaaa",
        "/c/..%2F..%2Fstaff",
        "/c/https%3A%2F%2Fevil.example%2F",
        "/c/aaaaaaaaaaaaaaaaaaaa/https://evil.example/",
    ],
)
def test_unknown_or_malformed_tokens_are_404_and_never_redirect(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 404 and "Location" not in response.headers
    assert "not valid or has expired" in response.get_data(as_text=True)


def test_an_expired_link_is_404_and_recorded_as_timed_out(app):
    links = app.extensions["services"].checkout
    long_ago = datetime.now(timezone.utc) - links.settings.expire_after - timedelta(minutes=1)
    token = links.issue(ALICE, "rest", "premium", long_ago).token
    assert app.test_client().get(f"/c/{token}").status_code == 404
    services = app.extensions["services"]
    uid = services.store.contact_by_identity(ALICE)["id"]
    assert [e["event_type"] for e in services.store.timeline(uid) if e["type"] == "business_event"] == [
        "checkout_link_sent", "checkout_timed_out"]


def test_a_post_is_refused_with_405(app):
    assert app.test_client().post("/c/Unknown0000000000000000000000000000").status_code == 405
