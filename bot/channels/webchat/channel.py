"""Rasa's socket.io channel for the storefront's web widget, with two fixes for this stack.

1. WebSocket transport off (HTTP long-polling only). Sanic 21.12 (pinned by Rasa 3.6) calls
   `asyncio.wait()` with bare coroutines in its WebSocket `recv()`, which Python 3.11 forbids:
   every upgrade dies with a TypeError, the browser reports "Invalid frame header" and the
   half-upgraded session spins in a tight polling loop. Polling is the same socket.io protocol.
2. `enter_room` awaited when it is a coroutine. python-socketio >= 5.10 made it one and Rasa 3.6
   calls it without `await` (rasa #13027), so the room was never joined and every bot reply was
   lost. The lock pins 5.9.0 (synchronous); this keeps session persistence working either way.

It also drops the empty message the widget sends when the chat opens, proves the email/phone
of a logged-in customer whose site signed them (bot/channels/webchat/identity.py), keeps each
socket to the session it asked for, and names conversations `socketio:<session id>`, so a
crafted session id cannot reach another channel's conversation (bot/channels/inbound.py).

The channel keeps Rasa's name "socketio", so trackers, the journey store and
`output_channel=latest` (agent replies) see the same channel as with the built-in connector.
"""
from __future__ import annotations

import inspect
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.channels.inbound import RejectedMessage, conversation_id, guarded
from bot.channels.webchat.identity import CUSTOM_DATA_KEY, SignedIdentity
from bot.settings import load_settings

logger = logging.getLogger(__name__)

# rasa-webchat makes 32 hex digits; other clients may use a UUID. Nothing else is a session.
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class WebChatInput(SocketIOInput):
    """`SocketIOInput` that serves long-polling only and joins session rooms reliably."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        engine = sio.eio
        engine.allow_upgrades = False
        engine.transports = ["polling"]
        to_rasa = guarded(self.name(), on_new_message)
        # The session each connection asked for: its messages go to that conversation and no
        # other, whatever session_id a crafted `user_uttered` names.
        sessions: dict[str, str] = {}

        # `data` defaults to None: a client may emit an event with no payload at all, and
        # python-socketio then calls the handler with the sid alone.
        async def session_request(sid: str, data: dict | None = None) -> None:
            # Rasa's handler, with enter_room awaited when the installed library needs it, and
            # an unusable session id (not a string, too long, odd characters) replaced by a new one.
            data = data if isinstance(data, dict) else {}
            session = data.get("session_id")
            if not isinstance(session, str) or not SESSION_ID.match(session):
                session = uuid.uuid4().hex
            sessions[sid] = session
            # Rasa sends bot messages to the room named by the conversation id.
            joined = sio.enter_room(sid, conversation_id(self.name(), session))
            if inspect.isawaitable(joined):
                await joined
            await sio.emit("session_confirm", session, room=sid)
            logger.debug("socket %s joined session %s", sid, session)

        async def disconnect(sid: str) -> None:
            sessions.pop(sid, None)

        async def user_uttered(sid: str, data: Any = None) -> None:
            if not isinstance(data, dict):
                logger.info("web chat: socket %s sent a %s instead of a message object; ignored", sid, type(data).__name__)
                return
            # The widget sends its (empty) init payload when the chat opens; that is not a
            # customer message and must not become a turn or a touchpoint.
            if not isinstance(data.get("message"), str) or not data["message"].strip():
                return
            session = sessions.get(sid)
            if session is None:
                logger.info("web chat: socket %s sent a message before asking for a session; ignored", sid)
                return
            if data.get("session_id") not in (None, session):
                logger.warning("web chat: socket %s of session %s named another session; message ignored", sid, session)
                return
            metadata = data.get(self.metadata_key)
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except (ValueError, RecursionError):
                    metadata = None
            try:
                # Proven before the turn is recorded, so the turn lands on the merged contact.
                data = await identity.apply(session, {**data, self.metadata_key: metadata}, claim_keys)
                message = UserMessage(data["message"], SocketIOOutput(sio, self.bot_message_evt), conversation_id(self.name(), session),
                                      input_channel=self.name(), metadata=data.get(self.metadata_key))
                await to_rasa(message)
            except RejectedMessage as exc:
                logger.info("web chat: message of session %s refused: %s", session, exc)

        settings = load_settings()
        identity = SignedIdentity(self.name(), settings.identity_secret, settings.database_url)
        claim_keys = tuple(dict.fromkeys((CUSTOM_DATA_KEY, self.metadata_key)))
        sio.on("session_request", session_request, namespace=self.namespace)
        sio.on("disconnect", disconnect, namespace=self.namespace)
        sio.on(self.user_message_evt, user_uttered, namespace=self.namespace)
        return blueprint
