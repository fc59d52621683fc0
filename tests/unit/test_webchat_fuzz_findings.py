"""Web chat (bot/channels/webchat/channel.py) events the fuzz suite (tests/fuzz) sent: an event with no
payload at all (socket.io packet `42["session_request"]`) made the handler raise TypeError in
its task, so the socket got no session and the log a traceback."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.channels.webchat.channel import WebChatInput


class Recorded:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def __call__(self, message) -> None:
        self.messages.append(message)


@pytest.fixture
def webchat(monkeypatch, tmp_path):
    monkeypatch.setenv("JOURNEYBOT_VAR_DIR", str(tmp_path))
    channel = WebChatInput(user_message_evt="user_uttered", bot_message_evt="bot_uttered", session_persistence=True)
    rasa = Recorded()
    channel.blueprint(rasa)
    emitted: list[tuple] = []

    async def emit(event, data=None, room=None, **kwargs):
        emitted.append((event, data, room))

    monkeypatch.setattr(channel.sio, "emit", emit)
    monkeypatch.setattr(channel.sio, "enter_room", lambda sid, room, namespace=None: None)
    return channel.sio.handlers["/"], rasa, emitted


def test_a_session_request_without_a_payload_gets_a_new_session(webchat):
    handlers, _, emitted = webchat
    asyncio.run(handlers["session_request"]("sid-1"))
    [(event, session, room)] = emitted
    assert event == "session_confirm" and room == "sid-1" and len(session) == 32


def test_a_user_uttered_without_a_payload_is_ignored(webchat):
    handlers, rasa, _ = webchat
    asyncio.run(handlers["session_request"]("sid-1", {"session_id": "a" * 32}))
    asyncio.run(handlers["user_uttered"]("sid-1"))
    assert rasa.messages == []
