"""The REST channel (`POST /webhooks/rest/webhook`), behind a token and strict about its body.

Rasa's own RestInput is always open, lets the body choose `input_channel`, stores any
`metadata`, and answers a 500 (or takes the server down) for bodies such as `[]`, `null` or
text with a lone surrogate. Because it used to share conversations with the other channels,
anyone who guessed a WhatsApp number could read that customer's chat. This one:
- needs `Authorization: Bearer $JOURNEYBOT_REST_TOKEN` (the env var named in credentials.yml);
  without the variable the channel is off (403), so a production deployment that never sets
  it has no unauthenticated way in besides its real channels;
- keeps its conversations apart: sender "alice" is conversation "rest:alice";
- answers every bad body with a 4xx and a JSON message saying what is wrong.
The response is Rasa's: a JSON list of the bot's messages.
"""
from __future__ import annotations

import json
import logging
import os
from asyncio import CancelledError
from collections.abc import Mapping
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.inbound import (
    OnNewMessage,
    RejectedMessage,
    conversation_id,
    guarded,
    storable_message,
    storable_metadata,
)
from journey_state.secret_compare import same_secret

logger = logging.getLogger(__name__)

CHANNEL = "rest"
DEFAULT_TOKEN_ENV = "JOURNEYBOT_REST_TOKEN"
MAX_BODY_BYTES = 64 * 1024


class RestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None, env: Mapping[str, str] | None = None) -> RestInput:
        credentials = credentials or {}
        env = os.environ if env is None else env
        token_env = str(credentials.get("token_env") or DEFAULT_TOKEN_ENV)
        return cls(env.get(token_env) or None, token_env)

    def __init__(self, token: str | None, token_env: str = DEFAULT_TOKEN_ENV) -> None:
        self.token = token
        self.token_env = token_env
        if token is None:
            logger.warning("REST channel is off: %s is not set", token_env)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        # Not "custom_webhook_RestInput": that is the name Rasa's own connector registers.
        hook = Blueprint("journeybot_rest_webhook", __name__)
        to_rasa = guarded(CHANNEL, on_new_message)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.token else "disabled"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            refused = self._refuse(request)
            if refused is not None:
                return refused
            try:
                sender, text, metadata = _read(request.body or b"")
            except RejectedMessage as exc:
                return _error(400, "bad_request", str(exc))
            collector = CollectingOutputChannel()
            try:
                await to_rasa(UserMessage(text, collector, sender, input_channel=CHANNEL, metadata=metadata))
            except RejectedMessage as exc:
                return _error(400, "bad_request", str(exc))
            except CancelledError:
                logger.error("REST: message from %s timed out", sender)
            except Exception:  # Rasa's own channel answers with what it has, too
                logger.exception("REST: message from %s failed", sender)
            return response.json(collector.messages)

        return hook

    def _refuse(self, request: Request) -> HTTPResponse | None:
        if self.token is None:
            return _error(403, "channel_disabled", f"the REST channel is off; set {self.token_env} to turn it on")
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not same_secret(token.strip(), self.token):
            return _error(401, "unauthorized", "send Authorization: Bearer <the REST channel token>")
        if len(request.body or b"") > MAX_BODY_BYTES:
            return _error(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        return None


def _read(body: bytes) -> tuple[str, str, dict[str, Any] | None]:
    """(conversation id, text, metadata) from a `{"sender", "message", "metadata"?}` body."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise RejectedMessage("the body is not JSON (or nested too deeply)") from None
    if not isinstance(data, dict):
        raise RejectedMessage('the body must be a JSON object: {"sender": "...", "message": "..."}')
    if not isinstance(data.get("message"), str):
        raise RejectedMessage('"message" must be a string')
    # Blank or over-long text is still a message: the bot answers it as on every other channel
    # (cut at MAX_MESSAGE_CHARS), rather than the caller getting an error for what a customer typed.
    sender = conversation_id(CHANNEL, data.get("sender"))
    return sender, storable_message(data["message"]), storable_metadata(data.get("metadata"))


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)
