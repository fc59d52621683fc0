"""Handoff with a real WhatsApp sender ("+4915..."), and conversations kept apart per channel.

Real Rasa server and action server with the WhatsApp Cloud connector against the fake Graph
API; the staff console runs in this process on the same database and Rasa's HTTP API. A
sender id with "+" once made the console's agent replies land in a new conversation named
"%2B4915..." (Rasa 3.6 does not decode ids in its paths) and left the customer paused forever.
"""
from __future__ import annotations

import uuid

import requests
from sqlalchemy import create_engine, text

from tests.e2e.test_handoff import console_client
from tests.e2e.test_whatsapp import body_text, cloud_env, credentials, number, post_signed, twilio_api  # noqa: F401 (fixture)
from tests.fakes import whatsapp as wa

ASK_HUMAN = "I want to talk to a human"


def rasa_tracker(stack, conversation_id: str) -> dict:
    response = requests.get(f"{stack.settings.rasa_url}/conversations/{conversation_id}/tracker",
                            params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def rasa_conversations(stack) -> list[str]:
    """Every conversation id in Rasa's tracker store (its `events` table, in the journey database)."""
    engine = create_engine(stack.settings.database_url)
    try:
        with engine.connect() as conn:
            return [s for (s,) in conn.execute(text("SELECT DISTINCT sender_id FROM events"))]
    finally:
        engine.dispose()


def say(stack, graph, sender: str, text: str, replies: int) -> list[str]:
    before = len(graph.sent)
    message = wa.notification(wa.value([wa.text_message(sender.lstrip("+"), text, "wamid." + uuid.uuid4().hex)]))
    assert post_signed(stack, message).status_code == 200
    return [body_text(s) for s in graph.wait_for(before + replies)[before:]] if replies else []


def test_whatsapp_customer_handed_to_an_agent_and_back(stack_factory, sqlite_db, tmp_path, graph, twilio_api, monkeypatch):
    creds = credentials(tmp_path, graph.base_url, twilio_api.base_url, "WAH_")
    stack = stack_factory(sqlite_db, "wa-handoff", extra_env={"JOURNEYBOT_CREDENTIALS": creds, **cloud_env("WAH_")})
    ana = number()
    conversation = f"whatsapp:{ana}"

    say(stack, graph, ana, "hi", 1)
    [queued_reply] = say(stack, graph, ana, ASK_HUMAN, 1)
    assert "number 1 in the queue" in queued_reply
    assert rasa_tracker(stack, conversation)["paused"] is True

    # Somebody on the REST channel who knows Ana's number reaches a conversation of their own.
    rest = stack.say(ana, "where is my order?")
    assert rest, "the REST sender gets the bot's answer: it is not Ana's paused conversation"
    assert rasa_tracker(stack, f"rest:{ana}")["paused"] is False
    assert rasa_tracker(stack, conversation)["paused"] is True
    assert "where is my order?" not in [e.get("text") for e in rasa_tracker(stack, conversation)["events"]]

    app, console, token = console_client(stack, monkeypatch)
    [queued] = app.extensions["handoffs"].queue()
    assert (queued.channel, queued.sender_id) == ("whatsapp", ana)
    assert console.post(f"/staff/handoffs/{queued.id}/claim", data={"csrf_token": token}).status_code == 303
    page = console.get(f"/staff/handoffs/{queued.id}").get_data(as_text=True)
    assert ASK_HUMAN in page and "bot paused" in page

    before = len(graph.sent)
    reply = "Hi Ana, this is Ann from the team."
    assert console.post(f"/staff/handoffs/{queued.id}/reply", data={"csrf_token": token, "text": reply}).status_code == 303
    [delivered] = graph.wait_for(before + 1)[before:]
    assert (delivered.to, body_text(delivered)) == (ana.lstrip("+"), reply)

    assert console.post(f"/staff/handoffs/{queued.id}/handback", data={"csrf_token": token}).status_code == 303
    state = rasa_tracker(stack, conversation)
    assert state["paused"] is False and state["active_loop"].get("name") == "csat_form"
    back = [body_text(s) for s in graph.wait_for(before + 3)[before + 1:]]
    assert "virtual assistant" in back[0] and "from 1 (very unhappy) to 5" in back[1], back
    assert "Thanks for rating us" in say(stack, graph, ana, "5", 1)[0]

    conversations = rasa_conversations(stack)
    assert conversation in conversations and f"rest:{ana}" in conversations
    assert not [c for c in conversations if "%" in c], conversations  # no stray percent-encoded twin
