"""One journey-aware conversation through the real Rasa server, action server and console."""
from __future__ import annotations

import uuid

PRICING = "how much does the premium plan cost?"


def texts(messages):
    return [m.get("text") for m in messages]


def stage_of(stack, sender):
    response = stack.api("GET", f"/api/contacts/by-channel/rest/{sender}")
    assert response.status_code == 200, response.text
    return response.json()


def test_conversation_moves_through_stages_and_survives_restart(stack_factory, sqlite_db, replies):
    stack = stack_factory(sqlite_db, "first")
    sender = f"alice-{uuid.uuid4().hex[:8]}"

    greeting = stack.say(sender, "hi")
    assert texts(greeting) == [replies.choose("greet", "awareness", "rest").text]
    assert stage_of(stack, sender)["stage"] == "awareness"

    pricing = stack.say(sender, PRICING)
    assert texts(pricing)[0] == replies.choose("ask_pricing", "awareness", "rest").text  # then the welcome offer
    contact = stage_of(stack, sender)
    assert contact["stage"] == "consideration"

    buying = stack.say(sender, "I'd like to buy it")
    assert texts(buying) == [replies.choose("place_order", "consideration", "rest").text]
    contact = stage_of(stack, sender)
    assert contact["stage"] == "purchase"

    moves = [(t["from"], t["to"]) for t in contact["transitions"] if t["kind"] == "stage"]
    assert moves == [("awareness", "consideration"), ("consideration", "purchase")]
    evidence = [t["evidence"] for t in contact["transitions"]]
    assert [e["excerpt"] for e in evidence] == [PRICING, "I'd like to buy it"]
    assert [e["rule"] for e in evidence] == ["evaluates_offer", "decides_to_buy"]
    assert all(e["source"] == "conversation" and e["signal_type"] == "intent" for e in evidence)
    assert all(0.0 < e["confidence"] <= 1.0 for e in evidence)

    # The same pricing question, asked again from a later stage, gets a different answer.
    second_sender = f"bob-{uuid.uuid4().hex[:8]}"
    stack.say(second_sender, PRICING)
    again = stack.say(second_sender, PRICING)
    assert texts(again)[0] == replies.choose("ask_pricing", "consideration", "rest").text
    assert texts(again)[0] != texts(pricing)[0]

    # Stop every process, start new ones on the same database: the journey is still there.
    stack.stop()
    restarted = stack_factory(sqlite_db, "second")
    after = stage_of(restarted, sender)
    assert after["stage"] == "purchase"
    assert after["transitions"] == contact["transitions"]
    answer = restarted.say(sender, PRICING)
    assert texts(answer)[0] == replies.choose("ask_pricing", "purchase", "rest").text
    assert stage_of(restarted, sender)["stage"] == "purchase"  # a question never moves a buyer back


def test_api_errors_are_clear_json(stack_factory, sqlite_db):
    stack = stack_factory(sqlite_db)
    sender = f"carol-{uuid.uuid4().hex[:8]}"
    stack.say(sender, "hello")

    missing = stack.api("GET", f"/api/contacts/by-channel/rest/{sender}", token=None)
    wrong = stack.api("GET", f"/api/contacts/by-channel/rest/{sender}", token="not-the-token")
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"

    unknown = stack.api("GET", "/api/contacts/by-channel/rest/nobody-here")
    assert unknown.status_code == 404
    assert "nobody-here" in unknown.json()["error"]["message"]

    malformed = stack.api("POST", "/api/events", data="{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"

    oversized = stack.api("POST", "/api/events", json={"type": "order_paid", "payload": {"x": "y" * 100_000}})
    assert oversized.status_code == 413
    assert "too large" in oversized.json()["error"]["message"]

    # None of that touched the stored journey.
    assert stage_of(stack, sender)["stage"] == "awareness"


def test_oversized_and_empty_messages_do_not_break_the_conversation(stack_factory, sqlite_db, replies):
    stack = stack_factory(sqlite_db)
    sender = f"dave-{uuid.uuid4().hex[:8]}"
    long_reply = stack.say(sender, "coffee " * 1500)  # ~10,000 characters
    assert len(long_reply) == 1 and long_reply[0]["text"]
    assert stack.say(sender, "hi") and stage_of(stack, sender)["stage"] in ("awareness", "consideration")
    # Excerpts are stored shortened, never the whole 10k message.
    for t in stage_of(stack, sender)["transitions"]:
        assert len(t["evidence"]["excerpt"]) <= 160


def test_business_event_moves_contact(stack_factory, sqlite_db):
    stack = stack_factory(sqlite_db)
    sender = f"erin-{uuid.uuid4().hex[:8]}"
    stack.say(sender, "I want to order")
    event = {
        "idempotency_key": f"ord-{sender}-delivered",
        "type": "order_delivered",
        "contact": {"channel": "rest", "external_id": sender},
        "payload": {"order": "AUR-1001"},
    }
    first = stack.api("POST", "/api/events", json=event)
    assert first.status_code == 201, first.text
    assert first.json()["stage"] == "retention"
    replay = stack.api("POST", "/api/events", json=event)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    contact = stage_of(stack, sender)
    assert [t["to"] for t in contact["transitions"] if t["kind"] == "stage"] == ["purchase", "retention"]

    bad = stack.api("POST", "/api/events", json={**event, "type": "order_teleported", "idempotency_key": "x"})
    assert bad.status_code == 422
    assert "order_teleported" in bad.json()["error"]["message"]
