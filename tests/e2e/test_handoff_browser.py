"""Human handoff in two headless Chromium contexts: the customer in the storefront widget, the agent in the staff console.

Real stack (Rasa with the socket.io channel, action server, console process on its own
port); the agent's reply reaches the widget through Rasa's
`POST /conversations/{id}/tracker/events?execute_side_effects=true&output_channel=latest`.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bot.console.storefront import WIDGET_BUNDLE
from devtools.stack import create_staff_user
from tests.e2e.socketio_channel import socketio_env
from tests.e2e.widget import TIMEOUT_MS, bot_says, chat_session, open_chat, rasa_tracker, send, settled

AGENT, PASSWORD = "ann", "agent password 1"
PRICING = "how much does the premium plan cost?"
ASK_HUMAN = "I want to talk to a human"
CSAT_QUESTION = "from 1 (very unhappy) to 5"


@pytest.fixture
def stack(stack_factory, sqlite_db, tmp_path):
    if not WIDGET_BUNDLE.is_file():
        pytest.fail(f"the chat widget is not installed ({WIDGET_BUNDLE}); `make test` runs `npm ci` in bot/console/web")
    env = {**socketio_env(tmp_path / "channels"), "JOURNEYBOT_CONSOLE_SECRET": "browser-e2e-secret" * 3}
    stack = stack_factory(sqlite_db, "handoff-web", extra_env=env)
    create_staff_user(sqlite_db, AGENT, PASSWORD)
    return stack


def last_is(page, stack, text: str) -> None:
    """The bot stayed silent: with the turn stored by Rasa and every bot message shown, `text` is still the last."""
    texts = settled(page, stack)
    assert texts and text in texts[-1], f"expected the chat to end with {text!r}, got {texts[-3:]}"


def watch_errors(page, errors: list) -> None:
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)


def test_customer_in_the_widget_agent_in_the_console(stack, browser, replies, tmp_path):
    console = stack.settings.console_url
    errors: list[str] = []

    # -- the customer, on the storefront --------------------------------------------------
    customer_context = browser.new_context(viewport={"width": 1280, "height": 860})
    customer = customer_context.new_page()
    customer.set_default_timeout(TIMEOUT_MS)
    watch_errors(customer, errors)
    customer.goto(f"{console}/")
    open_chat(customer)
    send(customer, PRICING)
    bot_says(customer, replies.choose("ask_pricing", "awareness", "socketio").text)
    settled(customer, stack)
    send(customer, ASK_HUMAN)
    bot_says(customer, "number 1 in the queue")
    sender = chat_session(customer)["session_id"]
    assert rasa_tracker(stack, sender)["paused"] is True

    send(customer, "hello? is anyone there?")
    bot_says(customer, "Still in line")  # paused: logged for the agent; the first message hears where they stand
    send(customer, "anyone?")
    last_is(customer, stack, "anyone?")  # the next ones get no update each

    # -- the agent, in the staff console (a separate browser context: its own cookies) ---------
    agent_context = browser.new_context(viewport={"width": 1280, "height": 900})
    agent = agent_context.new_page()
    agent.set_default_timeout(TIMEOUT_MS)
    watch_errors(agent, errors)
    agent.goto(f"{console}/staff/")
    expect(agent).to_have_url(re.compile(r".*/staff/login\b.*"))  # no session: the login page
    agent.get_by_label("Username").fill(AGENT)
    agent.get_by_label("Password").fill("not the password")
    agent.get_by_role("button", name="Log in").click()
    expect(agent.get_by_role("alert")).to_have_text("Wrong username or password.")
    agent.get_by_label("Username").fill(AGENT)
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Log in").click()

    row = agent.locator("#queue tbody tr", has_text=f"socketio/{sender}")
    expect(row).to_contain_text("customer_request")
    expect(row).to_contain_text(ASK_HUMAN)
    row.get_by_role("link", name="View").click()

    # The context card before claiming: the stage and the evidence that put the customer there.
    card = agent.locator("aside.context")
    expect(card).to_contain_text("Consideration (consideration)")
    expect(card.locator(".evidence")).to_contain_text("evaluates_offer")
    expect(card.locator(".evidence")).to_contain_text(PRICING)
    expect(agent.locator("#transcript")).to_contain_text("hello? is anyone there?")
    agent.get_by_role("button", name="Claim").click()
    bot_says(customer, f"{AGENT.capitalize()} from the team joined the chat.")  # the customer is told who joined

    reply = "Hi, this is Ann from the team. How can I help?"
    agent.get_by_placeholder("Reply to the customer").fill(reply)
    agent.get_by_role("button", name="Send", exact=True).click()
    expect(agent.locator("#transcript li.agent").last).to_contain_text(reply)
    bot_says(customer, reply)  # the agent's words in the customer's widget
    last_is(customer, stack, reply)

    # The customer's next message shows up in the agent's transcript without a reload.
    agent.evaluate("() => { window.__no_reload = true; }")
    follow_up = "my order AUR-1001 never arrived"
    send(customer, follow_up)
    expect(agent.locator("#transcript li.customer").last).to_contain_text(follow_up)
    assert agent.evaluate("() => window.__no_reload === true"), "the page was reloaded"
    last_is(customer, stack, follow_up)  # still no bot answer
    agent.screenshot(path=str(tmp_path / "agent-console.png"))

    # Hand back: the bot resumes with the stage's follow-up and the CSAT question.
    agent.get_by_role("button", name="Hand back to the bot (asks for CSAT)").click()
    expect(agent).to_have_url(f"{console}/staff/")
    bot_says(customer, "You're back with our virtual assistant")
    bot_says(customer, CSAT_QUESTION)
    state = rasa_tracker(stack, sender)
    assert state["paused"] is False and state["active_loop"].get("name") == "csat_form"
    customer.locator(".rw-reply", has_text="5").last.click()
    bot_says(customer, "Thanks for rating us")
    customer.screenshot(path=str(tmp_path / "customer-widget.png"))

    agent_texts = [e for e in rasa_tracker(stack, sender)["events"] if e["event"] == "bot" and (e.get("metadata") or {}).get("agent")]
    joined = f"{AGENT.capitalize()} from the team joined the chat."
    assert [(e["text"], e["metadata"]["agent"]) for e in agent_texts] == [(joined, AGENT), (reply, AGENT)]
    # The one deliberate wrong password is the only failed request either page saw.
    assert [e for e in errors if "status of 401" not in e or "/staff/login" not in e] == [], errors
    assert len(errors) == 1, errors
    agent_context.close()
    customer_context.close()
