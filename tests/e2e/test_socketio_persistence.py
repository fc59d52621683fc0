"""Session persistence on the web chat channel (bot/channels/webchat/channel.py), spoken with python-socketio's client.

Rasa 3.6 calls `sio.enter_room()` without awaiting it; python-socketio >= 5.10 made it a
coroutine (rasa #13027), so the room is never joined and bot replies are lost. The lock pins
5.9.0 and the channel awaits it if needed; these tests prove replies and persistence work.
The client uses HTTP long-polling: the channel serves nothing else (see its docstring).
"""
from __future__ import annotations

import json
import queue
import uuid

import pytest
import requests
import socketio

from tests.e2e.socketio_channel import socketio_env

PRICING = "how much does the premium plan cost?"


class WebVisitor:
    """One socket.io connection to Rasa, as the web widget makes it."""

    def __init__(self, rasa_url: str, session_id: str):
        self.session_id = session_id
        self.replies: queue.Queue = queue.Queue()
        self.confirmed: queue.Queue = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("bot_uttered", self.replies.put)
        self.client.on("session_confirm", self.confirmed.put)
        # Long-polling: the channel serves nothing else, and websocket-client is not in the lock.
        self.client.connect(rasa_url, socketio_path="/socket.io/", transports=["polling"], wait_timeout=10)

    def request_session(self, timeout: float = 10) -> str:
        self.client.emit("session_request", {"session_id": self.session_id})
        return self.confirmed.get(timeout=timeout)

    def say(self, text: str, expected: int = 1, timeout: float = 30) -> list[dict]:
        self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})
        return [self.replies.get(timeout=timeout) for _ in range(expected)]

    def drain(self, wait: float = 1.0) -> list[dict]:
        """Messages that arrive within `wait` seconds (the pricing answer can come with an offer)."""
        got = []
        try:
            while True:
                got.append(self.replies.get(timeout=wait))
        except queue.Empty:
            return got

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def stack(stack_factory, sqlite_db, tmp_path):
    return stack_factory(sqlite_db, "socketio", extra_env=socketio_env(tmp_path / "channels"))


def tracker(stack, sender: str) -> dict:
    response = requests.get(
        f"{stack.settings.rasa_url}/conversations/socketio:{sender}/tracker",
        params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def user_texts(tracker_json: dict) -> list[str]:
    return [e.get("text") for e in tracker_json["events"] if e["event"] == "user"]


def test_same_session_id_continues_the_conversation_on_a_new_connection(stack, replies):
    session_id = uuid.uuid4().hex
    first = WebVisitor(stack.settings.rasa_url, session_id)
    try:
        assert first.request_session() == session_id
        greeting = first.say("hi")
        expected = replies.choose("greet", "awareness", "socketio")
        assert greeting[0]["text"] == expected.text
        assert [(b["title"], b["payload"]) for b in greeting[0]["quick_replies"]] == [(b.title, b.payload) for b in expected.buttons]
        first_sid = first.client.get_sid()
    finally:
        first.close()

    # A reload: a new socket, the same session id from the browser's storage.
    second = WebVisitor(stack.settings.rasa_url, session_id)
    try:
        assert second.client.get_sid() != first_sid
        assert second.request_session() == session_id
        pricing = second.say(PRICING) + second.drain()
        # Asked in awareness: the awareness variant of the pricing answer, sent to the new connection.
        assert pricing[0]["text"] == replies.choose("ask_pricing", "awareness", "socketio").text, pricing
        again = second.say("hi")
        assert again[0]["text"] == replies.choose("greet", "consideration", "socketio").text
    finally:
        second.close()

    history = tracker(stack, session_id)
    assert history["sender_id"] == f"socketio:{session_id}"  # conversations carry their channel
    assert user_texts(history) == ["hi", PRICING, "hi"]
    assert {e["input_channel"] for e in history["events"] if e["event"] == "user"} == {"socketio"}

    contact = stack.api("GET", f"/api/contacts/by-channel/socketio/{session_id}")
    assert contact.status_code == 200, contact.text
    assert contact.json()["stage"] == "consideration"


def test_polling_only_server_issued_session_ids_and_sessions_kept_apart(stack):
    # Sanic 21.12's WebSocket recv() breaks on Python 3.11; an offered upgrade would fail in browsers.
    response = requests.get(f"{stack.settings.rasa_url}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=10)
    assert response.status_code == 200
    handshake = json.loads(response.text[1:])  # engine.io "open" packet: "0" + JSON
    assert handshake["upgrades"] == []
    refused = requests.get(f"{stack.settings.rasa_url}/socket.io/", params={"EIO": "4", "transport": "websocket"}, timeout=10)
    assert refused.status_code == 400

    anonymous = WebVisitor(stack.settings.rasa_url, session_id=None)
    try:
        anonymous.client.emit("session_request", {})
        issued = anonymous.confirmed.get(timeout=10)
        assert isinstance(issued, str) and len(issued) == 32
    finally:
        anonymous.close()

    alice, bob = uuid.uuid4().hex, uuid.uuid4().hex
    a, b = WebVisitor(stack.settings.rasa_url, alice), WebVisitor(stack.settings.rasa_url, bob)
    try:
        a.request_session(), b.request_session()
        a.say("hi")
        assert b.drain(wait=2) == []  # Alice's replies go to Alice's room only
    finally:
        a.close(), b.close()
    assert user_texts(tracker(stack, alice)) == ["hi"]


def test_hostile_sessions_and_messages_reach_no_other_conversation(stack):
    rasa = stack.settings.rasa_url
    whatsapp_number = "+4915112345678"
    for hostile in ("\udc80", whatsapp_number, "x" * 65, "../../etc", 12, ["a"]):
        visitor = WebVisitor(rasa, session_id=hostile)
        try:
            issued = visitor.request_session()
            assert isinstance(issued, str) and len(issued) == 32 and issued != hostile  # a fresh session instead
        finally:
            visitor.close()

    alice, bob = uuid.uuid4().hex, uuid.uuid4().hex
    a, b = WebVisitor(rasa, alice), WebVisitor(rasa, bob)
    try:
        a.request_session(), b.request_session()
        b.say("hi")
        # From Alice's socket, a message naming Bob's session goes nowhere.
        a.client.emit("user_uttered", {"message": "I want to talk to a human", "session_id": bob})
        for junk in (["hi"], "hi", None, {"message": ["hi"]}, {"message": 12}):
            a.client.emit("user_uttered", junk)
        assert a.drain(wait=2) == [] and b.drain(wait=1) == []
        # Unstorable text is cleaned, answered and stored.
        answer = a.say("hi \udc80 there\x00")
        assert answer and answer[0]["text"]
    finally:
        a.close(), b.close()
    assert user_texts(tracker(stack, bob)) == ["hi"]
    assert user_texts(tracker(stack, alice)) == ["hi \ufffd there"]
    assert tracker(stack, alice)["paused"] is False and tracker(stack, bob)["paused"] is False
    missing = requests.get(f"{rasa}/conversations/socketio:{whatsapp_number}/tracker", params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]}, timeout=10)
    assert missing.json()["events"] in ([], None) or all(e["event"] != "user" for e in missing.json()["events"])
