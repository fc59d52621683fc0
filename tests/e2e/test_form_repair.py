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
    assert "AUR-10043" in done and ASK_NUMBER not in done and "which email" not in done, done


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


def feedback_of(stack: Stack, sender: str) -> list[dict]:
    contact = stack.api("GET", f"/api/contacts/by-channel/rest/{sender}").json()
    export = stack.api("GET", f"/api/contacts/{contact['id']}/export")
    assert export.status_code == 200, export.text
    return export.json()["feedback"]


def test_bad_input_inside_forms_gets_sensible_replies_and_stores_nothing_bad(stack):
    # Emoji around a valid answer.
    sender = in_order_form(stack)
    done = joined(stack.say(sender, "AUR-10043 👍"))
    assert "AUR-10043" in done and ASK_NUMBER not in done and "which email" not in done, done

    # 10,000 characters as an order number: quoted at a word, nothing stored.
    sender = in_order_form(stack)
    text = "my order number is somewhere in this long story " * 210
    answer = stack.say(sender, text[:10_000])
    quoted = joined(answer).split("'")[1]
    assert quoted.endswith("…") and len(quoted) <= 41, answer
    assert tracker(stack, sender)["slots"]["order_id"] is None

    # An order number on its own, no form open: an order question, not a score.
    sender = new_sender("bare")
    bare = joined(stack.say(sender, "AUR-10043"))
    assert "AUR-10043" in bare and "0 to 10" not in bare, bare

    # Mixed languages: an answer, never an error.
    sender = new_sender("mixed")
    assert stack.say(sender, "hola! quiero saber el precio del plan premium por favor")

    # 10,000 characters as the NPS reason: stored cut at a word, at most 1,000 characters.
    sender = new_sender("nps")
    assert "0 to 10" in joined(stack.say(sender, "I want to leave a review"))
    stack.say(sender, "9")
    stack.say(sender, ("the coffee is lovely and " * 400)[:10_000])
    [stored] = feedback_of(stack, sender)
    assert stored["score"] == 9 and len(stored["comment"]) <= 1001 and stored["comment"].endswith("…")


def test_buttons_from_an_old_message_after_the_form_ended(stack):
    sender = new_sender("old-buttons")
    assert "0 to 10" in joined(stack.say(sender, "I want to leave a review"))
    assert "stopped there" in joined(stack.say(sender, "never mind"))
    # The old "Yes, let's continue" / score buttons, pressed later.
    assert stack.say(sender, "/affirm")
    assert stack.say(sender, "8")
    assert all(f["kind"] != "nps" or f["score"] in (8,) for f in feedback_of(stack, sender))
    state = tracker(stack, sender)
    assert state["latest_message"]["text"] == "8"


def test_a_question_inside_the_nps_form_then_back_to_it(stack):
    sender = new_sender("nps-digress")
    assert "0 to 10" in joined(stack.say(sender, "I want to leave a review"))
    answer = stack.say(sender, "wait, what are your delivery options?")
    assert answer[-1]["text"] == "Shall we get back to your feedback?", answer
    assert "0 to 10" in joined(stack.say(sender, "yes"))
    assert "reason" in joined(stack.say(sender, "10"))
    assert stack.say(sender, "skip")
    [stored] = feedback_of(stack, sender)
    assert (stored["kind"], stored["score"], stored["comment"]) == ("nps", 10, None)
