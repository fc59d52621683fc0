"""A message Rasa handles in silence gets an apology unless a person owns the chat (bot/channels/apology.py).

The REST channel is served by a real Sanic app; Rasa's message handler is stood in for by
what Rasa 3.6 does when the action server is down (logs the failed action, sends nothing)
or when its tracker store raises.
"""
from __future__ import annotations

import asyncio
import json

import pytest
import requests
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels.apology import answer_or_apologise, apology
from bot.channels.rest import RestInput
from tests.unit.test_telegram_channel import Served

TOKEN = "rest-token-for-tests"
SORRY = "Sorry, I'm having a technical problem right now. Please try again in a minute."


class SilentRasa:
    """Rasa with its action server down: the turn is handled, every custom action fails, nothing is said."""

    def __init__(self, fails: bool = False):
        self.fails = fails
        self.messages: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.fails:
            raise RuntimeError("tracker store unavailable")


def served_rest(rasa, paused: bool | None, monkeypatch, waiting_update: str | None = None) -> tuple[str, Served]:
    async def is_paused(conversation_id: str) -> bool | None:
        return paused

    monkeypatch.setattr("bot.channels.apology.rasa_tracker_paused", is_paused)
    # The journey store's answer (HandoffStore.waiting_update, tested in test_handoff_waiting.py).
    monkeypatch.setattr("bot.channels.waiting.due_update", lambda conversation_id: waiting_update)
    server = Served(RestInput(TOKEN), rasa)
    return f"http://127.0.0.1:{server.port}/webhooks/rest/webhook", server


def post(url: str, text: str) -> requests.Response:
    return requests.post(url, data=json.dumps({"sender": "alice", "message": text}),
                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}, timeout=10)


def test_the_apology_is_the_reply_books_technical_problem_answer():
    assert apology("rest") == SORRY


@pytest.mark.parametrize("fails", [False, True], ids=["action server down", "turn failed"])
def test_a_rest_customer_hears_an_apology_when_the_bot_says_nothing(fails, monkeypatch):
    url, server = served_rest(SilentRasa(fails), paused=False, monkeypatch=monkeypatch)
    try:
        answer = post(url, "where is my order?")
        assert answer.status_code == 200, answer.text
        assert answer.json() == [{"recipient_id": "rest:alice", "text": SORRY}]
    finally:
        server.stop()


def test_no_apology_while_a_person_owns_the_conversation(monkeypatch):
    url, server = served_rest(SilentRasa(), paused=True, monkeypatch=monkeypatch)
    try:
        assert post(url, "hello? are you there?").json() == []
    finally:
        server.stop()


def test_a_customer_waiting_in_the_queue_hears_their_place_when_an_update_is_due(monkeypatch):
    update = "Still in line: you're number 2, about 6 min."
    url, server = served_rest(SilentRasa(), paused=True, monkeypatch=monkeypatch, waiting_update=update)
    try:
        assert post(url, "hello? are you there?").json() == [{"recipient_id": "rest:alice", "text": update}]
    finally:
        server.stop()


def test_a_failed_store_leaves_the_waiting_customer_unanswered_not_failed(monkeypatch):
    url, server = served_rest(SilentRasa(), paused=True, monkeypatch=monkeypatch)

    def broken(conversation_id: str) -> str | None:
        raise RuntimeError("database is down")

    monkeypatch.setattr("bot.channels.waiting.due_update", broken)
    try:
        answer = post(url, "still there?")
        assert answer.status_code == 200 and answer.json() == []
    finally:
        server.stop()


def test_a_failed_turn_is_told_even_when_the_pause_cannot_be_read(monkeypatch):
    # A failed turn was never stored: the customer must learn it did not get through.
    url, server = served_rest(SilentRasa(fails=True), paused=True, monkeypatch=monkeypatch)
    try:
        assert post(url, "hi").json() == [{"recipient_id": "rest:alice", "text": SORRY}]
    finally:
        server.stop()


def test_an_answered_turn_gets_no_apology():
    async def answering(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "Your order left today."})

    async def never_paused(_: str) -> bool:
        raise AssertionError("the pause is read only when the bot said nothing")

    out = CollectingOutputChannel()
    asyncio.run(answer_or_apologise(UserMessage("where is my order?", out, "rest:bob"), answering, "rest", never_paused))
    assert [m["text"] for m in out.messages] == ["Your order left today."]


def test_channels_whose_provider_redelivers_keep_the_failure():
    out = CollectingOutputChannel()

    async def unknown(_: str) -> None:
        return None

    with pytest.raises(RuntimeError):
        asyncio.run(answer_or_apologise(UserMessage("hi", out, "whatsapp:+4915000000009"), SilentRasa(fails=True), "whatsapp",
                                        unknown, redelivered=True))
    assert out.messages == []  # WhatsApp sends it again after the 503; it will be answered then
