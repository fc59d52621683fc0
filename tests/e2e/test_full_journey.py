"""A whole customer journey over the REST channel: awareness → consideration → purchase → retention → advocacy."""
from __future__ import annotations

import re
import uuid

import pytest

from journey_state.commerce.demo_shop import seed_demo_orders
from journey_state.store import make_engine


@pytest.fixture
def stack(stack_factory, sqlite_db):
    seed_demo_orders(make_engine(sqlite_db), ["demo@auroracoffee.example"])
    return stack_factory(sqlite_db, "journey")


def texts(messages):
    return [m.get("text") or "" for m in messages]


def contact(stack, sender):
    response = stack.api("GET", f"/api/contacts/by-channel/rest/{sender}")
    assert response.status_code == 200, response.text
    return response.json()


def event(stack, key, type_, sender, **payload):
    body = {"idempotency_key": key, "type": type_, "contact": {"channel": "rest", "external_id": sender}, "payload": payload}
    response = stack.api("POST", "/api/events", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_awareness_to_advocacy_with_offer_points_nps_and_referral(stack):
    ann = f"ann-{uuid.uuid4().hex[:6]}"
    stack.say(ann, "hi")
    assert contact(stack, ann)["stage"] == "awareness"

    pricing = texts(stack.say(ann, "how much does the premium plan cost?"))
    assert contact(stack, ann)["stage"] == "consideration"
    assert any("first bag free" in t for t in pricing[1:]), pricing  # the welcome offer, recorded as shown

    stack.say(ann, "I'd like to buy it")
    assert contact(stack, ann)["stage"] == "purchase"

    paid = event(stack, f"{ann}-paid", "order_paid", ann, order_id="AUR-30001", amount=29.0, currency="EUR")
    assert paid["loyalty_points"]["earned"] > 0
    assert event(stack, f"{ann}-delivered", "order_delivered", ann, order_id="AUR-30001")["stage"] == "retention"

    balance = texts(stack.say(ann, "how many loyalty points do I have?"))
    assert str(paid["loyalty_points"]["balance"]) in balance[0], balance

    assert "0 to 10" in texts(stack.say(ann, "I'd like to leave a review"))[0]
    retry = texts(stack.say(ann, "11"))[0]  # out of range: asked again, with the scale explained, nothing stored
    assert "from 0" in retry and "to 10" in retry, retry
    assert "reason" in texts(stack.say(ann, "10"))[0]
    thanks = texts(stack.say(ann, "the coffee is always fresh"))
    code = re.search(r"AURORA-[A-Z0-9]{6}", " ".join(thanks)).group(0)
    after = contact(stack, ann)
    assert after["stage"] == "advocacy"
    assert [t["evidence"]["rule"] for t in after["transitions"] if t["kind"] == "stage"][-1] == "promoter_feedback"

    ben = f"ben-{uuid.uuid4().hex[:6]}"
    welcome = texts(stack.say(ben, f"hi, my friend gave me the referral code {code}"))
    assert any("points" in t for t in welcome), welcome
    assert contact(stack, ben)["loyalty_points"] > 0
    assert contact(stack, ann)["loyalty_points"] > paid["loyalty_points"]["balance"]

    timeline = stack.api("GET", f"/api/contacts/{after['id']}/timeline").json()["items"]
    kinds = {item["type"] for item in timeline}
    assert {"touchpoint", "transition", "business_event", "offer_shown", "feedback"} <= kinds


def test_order_support_through_the_demo_shop(stack):
    cy = f"cy-{uuid.uuid4().hex[:6]}"
    asked = texts(stack.say(cy, "where is my order?"))
    assert "order number" in asked[0].lower()
    status = texts(stack.say(cy, "AUR-10043"))
    assert "AUR-10043" in status[0] and "on its way" in status[0]
    unknown = texts(stack.say(cy, "track order AUR-99999 please"))
    assert "couldn't find order AUR-99999" in unknown[0]


def test_odd_messages_get_helpful_replies(stack):
    dee = f"dee-{uuid.uuid4().hex[:6]}"
    for text in ["😡😡😡", "Привет 你好 premium?", "x" * 10_000, "   "]:
        replies = stack.say(dee, text)
        assert replies and all(r.get("text") for r in replies), (text[:20], replies)
    stages = {t["to"] for t in contact(stack, dee)["transitions"] if t["kind"] == "stage"}
    assert stages <= {"consideration", "purchase"}  # nothing odd moved the contact
    assert "1 (very unhappy) to 5" not in " ".join(texts(stack.say(dee, "great")))
