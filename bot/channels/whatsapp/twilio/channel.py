"""WhatsApp through Twilio: Rasa's `twilio` channel plus X-Twilio-Signature validation.

`bot.channels.whatsapp.twilio.TwilioWhatsAppInput` in credentials.yml; webhook at
/webhooks/twilio_whatsapp/webhook. The channel *name* is "whatsapp" (as for the Cloud API)
and the sender id is the bare E.164 number, so one person is one conversation and one
journey contact whichever provider carries the message. The number is recorded as the
contact's proven phone once the request's signature has been checked.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.twilio import TwilioInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels import identity_proof
from bot.channels.inbound import conversation_id, guarded
from bot.channels.whatsapp import render, routing
from bot.channels.whatsapp.routing import NumberAddressed, RoutedOutput
from bot.channels.whatsapp.store import WhatsAppStore
from bot.settings import load_settings
from journey_state.identifiers import ChannelRef

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
URL_PREFIX = "twilio_whatsapp"
PROVIDER = "twilio"  # recorded per user in whatsapp_sessions.provider
SIGNATURE_HEADER = "X-Twilio-Signature"
BODY_MAX = 1600  # Twilio's limit for one WhatsApp message body
TIMEOUT_S = 10.0
_WHATSAPP_FROM = re.compile(r"^whatsapp:\+?(\d{6,15})$")
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
DEFAULT_ENV = {
    "account_sid_env": "TWILIO_ACCOUNT_SID",
    "auth_token_env": "TWILIO_AUTH_TOKEN",
    "whatsapp_number_env": "TWILIO_WHATSAPP_NUMBER",
}
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)


def twilio_address(number: str) -> str:
    """'whatsapp:+E164' for an E.164 number or an address that already has the prefix."""
    return number if number.startswith("whatsapp:") else f"whatsapp:+{number.lstrip('+')}"


class TwilioWhatsAppOutput(NumberAddressed):
    """Sends WhatsApp messages with Twilio's Messages API, off the event loop (the SDK blocks)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, client: Client, from_number: str):
        self.client = client
        self.from_ = twilio_address(from_number)

    async def _send(self, recipient_id: str, **fields: Any) -> None:
        try:
            await asyncio.to_thread(self.client.messages.create, to=twilio_address(recipient_id), from_=self.from_, **fields)
        except TwilioRestException as exc:
            # 63016: outside the 24-hour window (only approved Content templates may be sent).
            logger.error("Twilio WhatsApp: message to %s refused: HTTP %s, code %s: %s", _mask(recipient_id), exc.status, exc.code, exc.msg)
        except Exception as exc:  # noqa: BLE001 - network errors surface as requests' exceptions
            logger.error("Twilio WhatsApp: message to %s failed: %s", _mask(recipient_id), type(exc).__name__)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for part in render.split_text(text, BODY_MAX):
            await self._send(recipient_id, body=part)

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        # Interactive buttons on Twilio need pre-approved Content templates; options go as text.
        options = "\n".join(f"• {b.get('title')}" for b in buttons or [] if b.get("title"))
        await self.send_text_message(recipient_id, f"{text}\n\n{options}" if options else text)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send(recipient_id, media_url=[image])

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Fields for `messages.create` (e.g. content_sid and content_variables for a template)."""
        if not isinstance(json_message, dict):
            return
        fields = {k: v for k, v in json_message.items() if k not in ("to", "from_")}
        await self._send(recipient_id, **fields)


def _mask(number: str) -> str:
    return number[:-4] + "****" if len(number) > 6 else "****"


class TwilioWhatsAppInput(TwilioInput):
    """Rasa's Twilio channel for WhatsApp senders, with signature validation and dedupe."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def url_prefix(self) -> str:
        return URL_PREFIX

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TwilioWhatsAppInput:
        credentials = credentials or {}
        values = {k: os.environ.get(str(credentials.get(k) or d)) or None for k, d in DEFAULT_ENV.items()}
        public_env = str(credentials.get("public_url_env") or "JOURNEYBOT_PUBLIC_URL")
        return cls(
            values["account_sid_env"],
            values["auth_token_env"],
            values["whatsapp_number_env"],
            public_base_url=credentials.get("public_base_url") or os.environ.get(public_env) or None,
            api_base_url=credentials.get("api_base_url") or None,
            database_url=load_settings().database_url,
            missing=[str(credentials.get(k) or d) for k, d in DEFAULT_ENV.items() if not values[k]],
        )

    def __init__(self, account_sid: str | None, auth_token: str | None, twilio_number: str | None, *,
                 public_base_url: str | None = None, api_base_url: str | None = None,
                 database_url: str | None = None, missing: list[str] | None = None):
        super().__init__(account_sid, auth_token, twilio_number, debug_mode=False)
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.configured = bool(account_sid and auth_token and twilio_number and database_url)
        self.validator = RequestValidator(auth_token) if self.configured else None
        self.database_url = database_url
        self.client: Client | None = None
        self.store: WhatsAppStore | None = None
        if self.configured:
            self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=TIMEOUT_S))
            if api_base_url:
                self.client.api.base_url = api_base_url.rstrip("/")
            assert database_url is not None  # part of configured
            self.store = WhatsAppStore.from_url(database_url)
            routing.register(PROVIDER, self.reply_channel)
        else:
            logger.warning("Twilio WhatsApp channel disabled: set %s; its webhook answers 503 until then",
                           ", ".join(missing or ["its credentials"]))

    def get_output_channel(self) -> OutputChannel | None:
        """For pushes (agent replies): routed to the provider that carried the user's last message."""
        return RoutedOutput(self.store, PROVIDER) if self.store is not None else None  # set when configured

    def reply_channel(self) -> TwilioWhatsAppOutput:
        return TwilioWhatsAppOutput(self.client, self.twilio_number)

    def public_url(self, request: Request) -> str:
        """The URL Twilio called: behind a proxy Rasa sees another one, so a configured base wins."""
        if not self.public_base_url:
            return request.url
        query = f"?{request.query_string}" if request.query_string else ""
        return f"{self.public_base_url}{request.path}{query}"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("twilio_whatsapp_webhook", __name__)
        to_rasa = guarded(CHANNEL, on_new_message, redelivered=True)  # the provider retries on 5xx

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.configured else "not configured"})

        @hook.route("/webhook", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            if not self.configured:
                return _error(503, "not_configured", "Twilio WhatsApp channel not configured")
            assert self.validator is not None  # set when configured
            form = {k: v[0] if isinstance(v, list) else v for k, v in (request.form or {}).items()}
            signature = request.headers.get(SIGNATURE_HEADER) or ""
            if not signature or not self.validator.validate(self.public_url(request), form, signature):
                logger.warning("Twilio WhatsApp: webhook with a missing or wrong %s rejected (validated against %s)",
                               SIGNATURE_HEADER, self.public_url(request))
                return _error(403, "bad_signature", f"missing or invalid {SIGNATURE_HEADER}")
            sender = _WHATSAPP_FROM.match(form.get("From") or "")
            sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
            if sender is None or not _MESSAGE_SID.match(sid):
                return _error(400, "malformed_payload", "expected From=whatsapp:+E164 and a MessageSid")
            try:
                processed = await self._process(form, "+" + sender.group(1), sid, to_rasa)
            except SQLAlchemyError as exc:
                logger.error("Twilio WhatsApp: journey database unavailable, message refused for redelivery: %s", type(exc).__name__)
                return _error(503, "store_unavailable", "journey database unavailable; retry")
            if not processed:
                return _error(503, "processing_failed", "message could not be processed; retry")
            return response.text(TWIML_EMPTY, content_type="text/xml")

        return hook

    async def _process(
        self, form: dict[str, str], sender: str, sid: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> bool:
        assert self.store is not None and self.database_url is not None  # message() passes on only when configured
        key = f"twilio:{sid}"
        await asyncio.to_thread(self.store.touch, sender, PROVIDER, datetime.now(timezone.utc))  # idempotent: first
        if not await asyncio.to_thread(self.store.claim, key, sender):
            logger.info("Twilio WhatsApp: duplicate delivery of %s ignored", sid)
            return True
        # Only reached after the signature check: Twilio vouches for the WhatsApp sender number.
        await identity_proof.prove(self.database_url, ChannelRef(CHANNEL, sender), "phone", sender, identity_proof.WHATSAPP_TWILIO)
        text = form.get("ButtonPayload") or form.get("Body") or ""
        if form.get("Latitude") and form.get("Longitude"):
            text = "/locationData{{'Latitude': {},'Longitude': {}}}".format(form["Latitude"], form["Longitude"])
        if not text.strip():
            logger.info("Twilio WhatsApp: message %s has no text; not passed to Rasa", sid)
            return True
        metadata = {"twilio": {"message_sid": sid, "profile_name": form.get("ProfileName"), "num_media": form.get("NumMedia")}}
        try:
            await on_new_message(UserMessage(text, self.reply_channel(), conversation_id(CHANNEL, sender), input_channel=CHANNEL,
                                             message_id=sid, metadata=metadata))
        except Exception:
            logger.exception("Twilio WhatsApp: message %s could not be processed; released for redelivery", sid)
            await asyncio.to_thread(self.store.release, key)
            return False
        return True
