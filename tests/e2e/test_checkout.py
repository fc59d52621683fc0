"""Buying through the real Rasa server, action server and console: a checkout link, resent, opened, paid."""
from __future__ import annotations

import re
import uuid
from pathlib import Path

import requests

from journey_state.business_config import load_business_config

PROJECT = Path(__file__).resolve().parents[2]
# The venv's `journeybot` imports the checkout it was installed from; the stack runs this one.
THIS_CHECKOUT = {"PYTHONPATH": str(PROJECT)}
CHECKOUT = load_business_config(PROJECT / "data/business", PROJECT / "data/journeys").commerce.checkout


def texts(messages):
    return [m.get("text") or "" for m in messages]


def links_in(stack, messages) -> list[str]:
    pattern = re.escape(stack.settings.console_url) + r"/c/[A-Za-z0-9_-]+"
    return [found for text in texts(messages) for found in re.findall(pattern, text)]


def timeline(stack, sender) -> list[dict]:
    contact = stack.api("GET", f"/api/contacts/by-channel/rest/{sender}")
    assert contact.status_code == 200, contact.text
    response = stack.api("GET", f"/api/contacts/{contact.json()['id']}/timeline")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def checkout_events(stack, sender) -> list[str]:
    return [e["event_type"] for e in timeline(stack, sender) if e["type"] == "business_event" and e["event_type"].startswith("checkout_")]


def test_a_customer_who_wants_premium_gets_a_link_that_is_resent_opened_and_paid(stack_factory, sqlite_db, replies):
    stack = stack_factory(sqlite_db, extra_env=THIS_CHECKOUT)
    sender = f"buyer-{uuid.uuid4().hex[:8]}"

    order = stack.say(sender, "I'd like to order premium")
    [link] = links_in(stack, order)
    assert "Premium" in texts(order)[0] and "checkout link" in texts(order)[0]
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 32
    assert stack.api("GET", f"/api/contacts/by-channel/rest/{sender}").json()["stage"] == "purchase"

    again = stack.say(sender, "where's the link?")
    assert links_in(stack, again) == [link]
    assert texts(again)[0].startswith("Here it is again")
    # The "Order Premium" button of the pricing answers sends the same link, and no person is called in.
    button = stack.say(sender, '/place_order{"product": "premium"}')
    assert links_in(stack, button) == [link] and not any("queue" in t for t in texts(button))

    assert checkout_events(stack, sender) == ["checkout_link_sent"]
    opened = requests.get(link, allow_redirects=False, timeout=10)
    assert opened.status_code == 302
    assert opened.headers["Location"] == CHECKOUT.target("premium", token)
    assert checkout_events(stack, sender) == ["checkout_link_sent", "checkout_opened"]

    paid = stack.api("POST", "/api/events", json={
        "idempotency_key": f"paid-{sender}", "type": "order_paid", "contact": {"channel": "rest", "external_id": sender},
        "payload": {"order_id": "AUR-30001", "amount": 29, "currency": "EUR", "checkout_ref": token},
    })
    assert paid.status_code == 201, paid.text
    assert checkout_events(stack, sender) == ["checkout_link_sent", "checkout_opened", "checkout_paid"]
    # The funnel's checkout step counts it: one link sent (twice more on request), opened and paid.
    funnel = stack.api("GET", "/api/analytics/funnel", params={"channel": "rest"})
    assert funnel.status_code == 200, funnel.text
    got = funnel.json()["checkout"]
    assert (got["sent"], got["resent"], got["opened"], got["paid"], got["paid_rate"]) == (1, 2, 1, 1, 1.0)

    unknown = requests.get(f"{stack.settings.console_url}/c/{'x' * 32}", allow_redirects=False, timeout=10)
    assert unknown.status_code == 404 and "Location" not in unknown.headers


def test_buying_without_naming_a_plan_offers_the_plans_and_the_button_sends_the_link(stack_factory, sqlite_db, replies):
    stack = stack_factory(sqlite_db, extra_env=THIS_CHECKOUT)
    sender = f"undecided-{uuid.uuid4().hex[:8]}"

    nothing_yet = stack.say(sender, "where is the checkout link?")
    assert texts(nothing_yet) == [replies.choose("checkout_link_missing", "awareness", "rest").text]

    choose = stack.say(sender, "I want to order")
    assert texts(choose) == [replies.choose("place_order", "awareness", "rest").text]
    payloads = [b["payload"] for b in choose[-1].get("buttons", [])]
    assert '/place_order{"product": "basic"}' in payloads
    # Now in purchase: pressing a plan still gets its link, not a person.
    basic = stack.say(sender, '/place_order{"product": "basic"}')
    [link] = links_in(stack, basic)
    assert "Basic" in texts(basic)[0] and not any("queue" in t for t in texts(basic))
    assert requests.get(link, allow_redirects=False, timeout=10).headers["Location"] == CHECKOUT.target("basic", link.rsplit("/", 1)[1])
