"""Rasa's socket.io channel for the storefront's web widget, with two fixes for this stack.

1. WebSocket transport off (HTTP long-polling only). Sanic 21.12 (pinned by Rasa 3.6) calls
   `asyncio.wait()` with bare coroutines in its WebSocket `recv()`, which Python 3.11 forbids:
   every upgrade dies with a TypeError, the browser reports "Invalid frame header" and the
   half-upgraded session spins in a tight polling loop. Polling is the same socket.io protocol.
2. `enter_room` awaited when it is a coroutine. python-socketio >= 5.10 made it one and Rasa 3.6
   calls it without `await` (rasa #13027), so the room was never joined and every bot reply was
   lost. The lock pins 5.9.0 (synchronous); this keeps session persistence working either way.

It also drops the empty message the widget sends when the chat opens, and proves the email/phone
of a logged-in customer whose site signed them (bot/channels/webchat_identity.py).

The channel keeps Rasa's name "socketio", so trackers, the journey store and
`output_channel=latest` (agent replies) see the same channel as with the built-in connector.
"""
from __future__ import annotations

import inspect
import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from bot.channels.webchat_identity import CUSTOM_DATA_KEY, SignedIdentity
from bot.settings import load_settings

logger = logging.getLogger(__name__)


class WebChatInput(SocketIOInput):
    """`SocketIOInput` that serves long-polling only and joins session rooms reliably."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        engine = sio.eio
        engine.allow_upgrades = False
        engine.transports = ["polling"]

        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            # Same as Rasa's handler, with enter_room awaited when the installed library needs it.
            data = data if isinstance(data, dict) else {}
            if not data.get("session_id"):
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, data["session_id"])
                if inspect.isawaitable(joined):
                    await joined
            await sio.emit("session_confirm", data["session_id"], room=sid)
            logger.debug(f"User {sid} joined session {data['session_id']}.")

        sio.on("session_request", session_request, namespace=self.namespace)

        handle_message = sio.handlers[self.namespace or "/"][self.user_message_evt]
        settings = load_settings()
        identity = SignedIdentity(self.name(), settings.identity_secret, settings.database_url)
        claim_keys = tuple(dict.fromkeys((CUSTOM_DATA_KEY, self.metadata_key)))

        async def drop_empty(sid: Text, data: Dict) -> None:
            # The widget sends its (empty) init payload when the chat opens; that is not a
            # customer message and must not become a turn or a touchpoint.
            if isinstance(data, dict) and not str(data.get("message") or "").strip():
                return
            if isinstance(data, dict):
                # Same sender id as Rasa's handler uses; proven before the turn is recorded.
                sender = data.get("session_id") if self.session_persistence else sid
                data = await identity.apply(sender, data, claim_keys)
            await handle_message(sid, data)

        sio.on(self.user_message_evt, drop_empty, namespace=self.namespace)
        return blueprint
