"""Forms never trap a customer: the issue's own examples through the real Rasa model, action server and console."""
from __future__ import annotations

import uuid

import pytest

from devtools.stack import Stack
from journey_state.store.migrate import upgrade
from tests.e2e.test_handoff import console_client, tracker

ASK_NUMBER = "What's your order number?"


@pytest.fixture(scope="module")
def stack(trained_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("repair")
    url = f"sqlite:///{work / 'journeybot.db'}"
    upgrade(url)
    stack = Stack.create(trained_model, url, work / "stack")
    try:
        yield stack.start()
    finally:
        stack.stop()


def joined(messages: list[dict]) -> str:
    return " | ".join(m.get("text", "") for m in messages)


def new_sender(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def in_order_form(stack: Stack) -> str:
    sender = new_sender("order")
    assert ASK_NUMBER in joined(stack.say(sender, "where is my order?"))
    return sender


@pytest.mark.parametrize("text", ["never mind", "stop", "forget it", "cancel that"])
def test_leaving_the_order_form(stack, text):
    sender = in_order_form(stack)
    answer = joined(stack.say(sender, text))
    assert "stopped there" in answer and "order number" not in answer.lower(), answer
    state = tracker(stack, sender)
    assert not state["active_loop"] and state["slots"]["order_id"] is None
    # Free again: a question gets its answer.
    assert "Premium" in joined(stack.say(sender, "how much is the premium plan?"))


def test_a_question_inside_the_order_form_is_answered_and_the_form_resumes_on_yes(stack):
    sender = in_order_form(stack)
    answer = stack.say(sender, "actually, how much is the premium plan?")
    text = joined(answer)
    assert "Premium" in text and "doesn't look like" not in text, text
    assert answer[-1]["text"] == "Shall we get back to your order?" and answer[-1].get("buttons")
    assert ASK_NUMBER in joined(stack.say(sender, "yes please"))
    done = joined(stack.say(sender, "AUR-10043"))
    assert "AUR-10043" in done and ASK_NUMBER not in done


def test_a_person_from_inside_the_order_form(stack):
    sender = in_order_form(stack)
    answer = joined(stack.say(sender, "I want to talk to a real person"))
    assert "queue" in answer and "doesn't look like" not in answer, answer
    state = tracker(stack, sender)
    assert state["paused"] is True and not state["active_loop"]


def test_repeated_nonsense_changes_the_question_and_never_loops(stack):
    sender = in_order_form(stack)
    replies = [joined(stack.say(sender, text)) for text in ("blue", "green", "purple")]
    assert len(set(replies)) == 3, replies
    assert "person" in replies[1]  # the second miss offers a person
    assert not tracker(stack, sender)["active_loop"]  # the third ends the question


def test_the_csat_question_after_a_hand_back_lets_the_customer_reach_a_person(stack, monkeypatch):
    sender = new_sender("csat")
    stack.say(sender, "hi")
    assert "queue" in joined(stack.say(sender, "I want to talk to a human"))
    app, console, token = console_client(stack, monkeypatch)
    queued = next(h for h in app.extensions["handoffs"].queue() if h.sender_id == f"rest:{sender}" or h.sender_id == sender)
    assert console.post(f"/staff/handoffs/{queued.id}/claim", data={"csrf_token": token}).status_code == 303
    assert console.post(f"/staff/handoffs/{queued.id}/handback", data={"csrf_token": token}).status_code == 303
    assert tracker(stack, sender)["active_loop"].get("name") == "csat_form"
    answer = joined(stack.say(sender, "I want to talk to a human"))
    assert "queue" in answer and "no score found" not in answer and "1 to 5" not in answer, answer
    assert tracker(stack, sender)["paused"] is True
