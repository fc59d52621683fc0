"""The storefront's chat widget in headless Chromium against the real stack (socket.io channel)."""
from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect
from werkzeug.serving import make_server

from bot.console.app import create_app
from bot.console.storefront import WIDGET_BUNDLE, storefront
from devtools.stack import free_port
from tests.e2e.socketio_channel import socketio_env
from tests.e2e.widget import TIMEOUT_MS, bot_says, chat_session, launcher_says, open_chat, send, settled, widget_is

PRICING = "how much does the premium plan cost?"


@pytest.fixture
def stack(stack_factory, sqlite_db, tmp_path):
    if not WIDGET_BUNDLE.is_file():
        pytest.fail(f"the chat widget is not installed ({WIDGET_BUNDLE}); `make test` runs `npm ci` in bot/console/web")
    return stack_factory(sqlite_db, "web", extra_env=socketio_env(tmp_path / "channels"))


@pytest.fixture
def storefront_url(stack):
    """The console's own `/` once create_app registers the storefront; until then the same blueprint in-process."""
    try:
        served = requests.get(f"{stack.settings.console_url}/", timeout=10)
        if served.status_code == 200 and "webchat-config" in served.text:
            yield f"{stack.settings.console_url}/"
            return
    except requests.RequestException:
        pass
    app = create_app(stack.settings)
    if "storefront" not in app.blueprints:
        app.register_blueprint(storefront)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(10)


def test_visitor_chats_on_the_storefront_and_keeps_the_conversation_after_reload(stack, storefront_url, browser, replies, tmp_path):
    greeting = replies.choose("greet", "awareness", "socketio")
    first_pricing = replies.choose("ask_pricing", "awareness", "socketio")
    comparison = replies.choose("ask_pricing", "consideration", "socketio")
    welcome_back = replies.choose("greet", "consideration", "socketio")
    assert len({greeting.text, welcome_back.text, first_pricing.text, comparison.text}) == 4  # the stage shows

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    allowed = {urlsplit(storefront_url).netloc, urlsplit(stack.settings.rasa_url).netloc}
    foreign, errors = [], []
    page.on("request", lambda r: None if urlsplit(r.url).netloc in allowed or r.url.startswith("data:") else foreign.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(storefront_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Freshly roasted")
    expect(page.locator("#plans")).to_contain_text("€12 a month")
    expect(page.locator("#plans")).to_contain_text("€29 a month")

    open_chat(page)
    send(page, "hi")
    bot_says(page, greeting.text)
    for button in greeting.buttons:
        expect(page.locator(".rw-reply", has_text=button.title)).to_be_visible()

    page.locator(".rw-reply", has_text="See the plans").click()
    bot_says(page, first_pricing.text)  # asked in awareness: the awareness variant

    send(page, "how much does the premium plan cost?")
    bot_says(page, comparison.text)  # now in consideration: the comparison with the offer
    page.screenshot(path=str(tmp_path / "storefront-chat.png"))

    session_id = chat_session(page)["session_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", session_id), session_id
    before = settled(page, stack)

    # The widget comes back as it was left: open, with the conversation and the same session.
    page.reload()
    widget_is(page, "open")
    launcher_says(page, "Close chat", expanded=True)
    bot_says(page, comparison.text)
    assert settled(page, stack) == before
    assert chat_session(page)["session_id"] == session_id

    # Escape closes it and says so; the launcher opens it again.
    page.keyboard.press("Escape")
    widget_is(page, "closed")
    launcher_says(page, "Open chat", expanded=False)
    expect(page.get_by_role("button", name="Open chat")).to_be_focused()
    open_chat(page)

    # The new connection joins the same Rasa conversation: the greeting now knows the stage.
    send(page, "hi")
    bot_says(page, welcome_back.text)
    for button in welcome_back.buttons:
        expect(page.locator(".rw-reply", has_text=button.title)).to_be_visible()
    page.screenshot(path=str(tmp_path / "storefront-after-reload.png"))

    contact = stack.api("GET", f"/api/contacts/by-channel/socketio/{session_id}")
    assert contact.status_code == 200, contact.text
    view = contact.json()
    assert view["stage"] == "consideration"
    assert [(i["channel"], i["external_id"]) for i in view["identities"]] == [("socketio", session_id)]

    assert foreign == [], f"the page loaded something from outside the stack: {foreign}"
    assert errors == [], errors
    context.close()
