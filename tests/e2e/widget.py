"""Driving the storefront's chat widget in Chromium without racing it.

Every wait here ends on a fact, never on a pause: the widget's `data-chat-state` (set by
storefront.js once the open/closed state restored from storage is on screen), and Rasa's own
tracker, which is saved only after a turn is fully processed, so once it holds as many user
messages as the widget shows, every bot message of that turn has already been emitted.
"""
from __future__ import annotations

import json
import time

import requests
from playwright.sync_api import expect

TIMEOUT_MS = 30_000
# One `.rw-response` per bot message; the typing dots reuse the class inside their own message.
BOT_BUBBLES = ".rw-message:not(.rw-typing-indication) .rw-response"
USER_BUBBLES = ".rw-client"


def chat_session(page) -> dict:
    raw = page.evaluate("() => window.localStorage.getItem('chat_session')")
    assert raw, "the widget stored no session in localStorage"
    return json.loads(raw)


def widget_is(page, state: str) -> None:
    """Wait until the widget shows `state` ("open" or "closed") after restoring itself."""
    expect(page.locator("#webchat")).to_have_attribute("data-chat-state", state, timeout=TIMEOUT_MS)


def open_chat(page) -> None:
    widget_is(page, "closed")
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    widget_is(page, "open")
    launcher_says(page, "Close chat", expanded=True)


def launcher_says(page, name: str, expanded: bool) -> None:
    """The one launcher button both opens and closes the chat: its name and state follow what a press does."""
    launcher = page.locator(".rw-launcher")
    expect(launcher).to_have_attribute("aria-label", name)
    expect(launcher).to_have_attribute("aria-expanded", str(expanded).lower())


def bot_says(page, text: str):
    expect(page.locator(".rw-response", has_text=text).last).to_be_visible(timeout=TIMEOUT_MS)


def send(page, text: str):
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(USER_BUBBLES, has_text=text).last).to_be_visible(timeout=TIMEOUT_MS)


def rasa_tracker(stack, sender: str) -> dict:
    response = requests.get(f"{stack.settings.rasa_url}/conversations/socketio:{sender}/tracker",
                            params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def settled(page, stack) -> list[str]:
    """The chat's messages once Rasa has finished every turn the widget sent and the widget shows all its replies.

    A bot that wrongly answers (say, while a human owns the chat) is caught: its message is in
    the tracker, so the widget must show it before this returns.
    """
    sender = chat_session(page)["session_id"]
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    seen: tuple = ()
    while time.monotonic() < deadline:
        events = rasa_tracker(stack, sender)["events"]
        stored = (sum(e["event"] == "user" for e in events), sum(e["event"] == "bot" for e in events))
        shown = (page.locator(USER_BUBBLES).count(), page.locator(BOT_BUBBLES).count())
        typing = page.locator(".rw-typing-indication").count()
        if stored == shown and not typing:
            return page.locator(".rw-message").all_inner_texts()
        seen = (stored, shown, typing)
        page.wait_for_timeout(100)
    raise AssertionError(f"the widget never caught up with Rasa: (user, bot) stored vs shown, typing = {seen}")
