"""The REST channel (bot/channels/rest.py) served by a real Sanic app, with a recording stand-in for Rasa."""
from __future__ import annotations

import json

import pytest
import requests

from bot.channels.rest import RestInput
from tests.unit.test_telegram_channel import Rasa, Served

TOKEN = "rest-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served():
    started = []

    def serve(token: str | None = TOKEN):
        rasa = Rasa()
        server = Served(RestInput(token), rasa)
        started.append(server)
        return f"http://127.0.0.1:{server.port}/webhooks/rest/webhook", rasa

    yield serve
    for server in started:
        server.stop()


def post(url, body, headers=AUTH, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url, data=data, headers={"Content-Type": "application/json", **headers}, timeout=10, **kwargs)


def test_a_message_is_a_turn_in_the_rest_conversation_of_its_sender(served):
    url, rasa = served()
    answer = post(url, {"sender": "+4915112345678", "message": "hi", "input_channel": "whatsapp"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == [{"recipient_id": "rest:+4915112345678", "text": "echo: hi"}]
    [message] = rasa.messages
    # Never the WhatsApp customer's conversation, whatever the body claims.
    assert (message.sender_id, message.input_channel) == ("rest:+4915112345678", "rest")


def test_without_a_token_setting_the_channel_is_off(served):
    url, rasa = served(token=None)
    answer = post(url, {"sender": "alice", "message": "hi"})
    assert answer.status_code == 403 and "JOURNEYBOT_REST_TOKEN" in answer.json()["error"]["message"]
    assert rasa.messages == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}])
def test_a_missing_or_wrong_token_is_401(served, headers):
    url, rasa = served()
    assert post(url, {"sender": "alice", "message": "hi"}, headers=headers).status_code == 401
    assert rasa.messages == []


def deep(levels: int) -> str:
    return '{"sender": "a", "message": "hi", "metadata": ' + '{"a": ' * levels + "1" + "}" * levels + "}"


@pytest.mark.parametrize("body, status, says", [
    ("[]", 400, "JSON object"),
    ("null", 400, "JSON object"),
    ('"hi"', 400, "JSON object"),
    ("not json", 400, "not JSON"),
    (b"\xff\xfe", 400, "not JSON"),
    ("[" * 5000 + "]" * 5000, 400, "not JSON"),
    (deep(100), 400, "nested deeper"),
    ({"sender": "\udc80x", "message": "hi"}, 400, "sender id"),
    ({"sender": "a\x00b", "message": "hi"}, 400, "sender id"),
    ({"sender": "a/../b", "message": "hi"}, 400, "sender id"),
    ({"sender": "x" * 129, "message": "hi"}, 400, "sender id"),
    ({"sender": 12, "message": "hi"}, 400, "sender id"),
    ({"message": "hi"}, 400, "sender id"),
    ({"sender": "a"}, 400, "must be a string"),
    ({"sender": "a", "message": None}, 400, "must be a string"),
    ({"sender": "a", "message": ["hi"]}, 400, "must be a string"),
    ({"sender": "a", "message": "hi", "metadata": "text"}, 400, "JSON object"),
    ({"sender": "a", "message": "x" * (70 * 1024)}, 413, "larger than"),
])
def test_hostile_bodies_get_a_4xx_that_says_why(served, body, status, says):
    url, rasa = served()
    answer = post(url, body)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["error"]["message"]
    assert rasa.messages == []


def test_long_text_is_cut_like_on_every_channel(served):
    url, rasa = served()
    assert post(url, {"sender": "a", "message": "x" * 10_000}).status_code == 200
    assert rasa.messages[0].text == "x" * 4096


def test_unstorable_text_is_cleaned_before_rasa(served):
    url, rasa = served()
    answer = post(url, {"sender": "alice", "message": "hi \udc80 there\x00", "metadata": {"k\ud800": "v\x00"}})
    assert answer.status_code == 200, answer.text
    [message] = rasa.messages
    assert message.text == "hi \ufffd there"
    assert message.metadata == {"k\ufffd": "v"}
    json.dumps(message.text).encode("utf-8")
    message.text.encode("utf-8")
