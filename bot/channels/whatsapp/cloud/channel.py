"""WhatsApp Cloud API connector: `bot.channels.whatsapp.cloud.WhatsAppInput` in credentials.yml.

Webhook at /webhooks/whatsapp/webhook: GET answers Meta's verification handshake, POST takes
signed notifications (X-Hub-Signature-256 over the raw body; fails closed). Every message of
every change of every entry goes to Rasa once (wamids are claimed in the journey database);
delivery statuses are ignored. The sender id is the user's number in E.164 ("+4915…"), which
WhatsApp has verified: it is recorded as the contact's proven phone (merging contacts that share it).
Replies go out through the Graph API; outside the 24-hour window the configured approved
template is sent instead of a free-form message.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.channels import identity_proof
from bot.channels.inbound import conversation_id, guarded
from bot.channels.whatsapp import render, routing
from bot.channels.whatsapp.cloud.client import (
    DEFAULT_BASE_URL,
    DEFAULT_VERSION,
    GraphError,
    OutsideWindow,
    WhatsAppGraphClient,
)
from bot.channels.whatsapp.cloud.config import WhatsAppConfig, load_whatsapp_config
from bot.channels.whatsapp.routing import NumberAddressed, RoutedOutput
from bot.channels.whatsapp.store import WhatsAppStore
from bot.settings import load_settings
from journey_state.identifiers import ChannelRef
from journey_state.secret_compare import same_secret

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
PROVIDER = "cloud"  # recorded per user in whatsapp_sessions.provider
SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_ENV = {
    "verify_token_env": "WHATSAPP_VERIFY_TOKEN",
    "app_secret_env": "WHATSAPP_APP_SECRET",
    "access_token_env": "WHATSAPP_ACCESS_TOKEN",
    "phone_number_id_env": "WHATSAPP_PHONE_NUMBER_ID",
}


class MalformedPayload(ValueError):
    """The notification is not a WhatsApp Business Account webhook we can read."""


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 is 'sha256=' + hex HMAC-SHA256 of the raw body with the app secret."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return same_secret(header[len("sha256="):].strip().lower(), expected)


# -- inbound ----------------------------------------------------------------------------


def wa_sender(raw: Any) -> str:
    digits = str(raw).lstrip("+")
    if not digits.isdigit() or not 6 <= len(digits) <= 15:
        raise MalformedPayload(f"'from' is not a WhatsApp number: {str(raw)[:40]!r}")
    return "+" + digits


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def message_text(message: dict[str, Any]) -> str | None:
    """What the user said: text, or the reply **id** of a button/list choice (= the button payload)."""
    kind = message.get("type")
    if kind == "text":
        return _str(_obj(message.get("text")).get("body"))
    if kind == "interactive":
        interactive = _obj(message.get("interactive"))
        kind = interactive.get("type")
        reply_id = _str(_obj(interactive.get(kind)).get("id")) if kind in ("button_reply", "list_reply") else None
        return render.reply_id_to_text(reply_id) if reply_id else None
    if kind == "button":  # quick-reply button of a template message
        button = _obj(message.get("button"))
        return _str(button.get("payload")) or _str(button.get("text"))
    if kind in ("image", "video", "document"):
        return _str(_obj(message.get(kind)).get("caption"))  # media itself is not understood; a caption is
    return None


def inbound_messages(payload: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(message, change value) for every message in every change of every entry; validated first."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise MalformedPayload("expected an object 'whatsapp_business_account' notification")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise MalformedPayload("'entry' must be a list")
    found = []
    for i, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise MalformedPayload(f"entry[{i}].changes must be a list")
        for j, change in enumerate(changes):
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise MalformedPayload(f"entry[{i}].changes[{j}].value must be an object")
            if change.get("field") != "messages":
                continue  # account updates, template status... not conversations
            value = change["value"]
            messages = value.get("messages", [])
            if not isinstance(messages, list):
                raise MalformedPayload(f"entry[{i}].changes[{j}].value.messages must be a list")
            for k, message in enumerate(messages):
                where = f"entry[{i}].changes[{j}].value.messages[{k}]"
                if not isinstance(message, dict) or not isinstance(message.get("id"), str) or not message["id"]:
                    raise MalformedPayload(f"{where}.id missing")
                if len(message["id"]) > 255:
                    raise MalformedPayload(f"{where}.id too long")
                wa_sender(message.get("from"))
                if not str(message.get("timestamp", "")).isdigit() or len(str(message["timestamp"])) > 11:
                    raise MalformedPayload(f"{where}.timestamp must be Unix seconds")
                found.append((message, value))
    return found


# -- outbound ---------------------------------------------------------------------------


class WhatsAppOutput(NumberAddressed):
    """Sends through the Graph API, keeping WhatsApp's limits and the 24-hour rule."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, client: WhatsAppGraphClient, store: WhatsAppStore, config: WhatsAppConfig):
        self.client = client
        self.store = store
        self.config = config

    async def in_window(self, recipient_id: str) -> bool:
        last = await asyncio.to_thread(self.store.last_inbound, recipient_id)
        return last is not None and datetime.now(timezone.utc) - last < self.config.window

    async def deliver(self, recipient_id: str, messages: list[dict[str, Any]], text: str) -> None:
        """Send `messages`, or the approved template in their place outside the 24-hour window."""
        if not messages:
            return
        if not await self.in_window(recipient_id):
            await self._send_template(recipient_id, text, "the last inbound message is older than the window")
            return
        for message in messages:
            try:
                await asyncio.to_thread(self.client.send, recipient_id, message)
            except OutsideWindow:
                # Meta's clock decides; our record may be off (e.g. a message we never saw).
                await self._send_template(recipient_id, text, "Graph API reported the window closed")
                return
            except GraphError as exc:
                logger.error("WhatsApp: could not send a %s message to %s: %s", message.get("type"), _mask(recipient_id), exc)
                return

    async def _send_template(self, recipient_id: str, text: str, why: str) -> None:
        template = self.config.template
        message = render.template_message(template.name, template.language, template.parameters_for(text))
        try:
            await asyncio.to_thread(self.client.send, recipient_id, message)
            logger.warning("WhatsApp: sent template %r to %s instead of a free-form message (%s)", template.name, _mask(recipient_id), why)
        except GraphError as exc:
            logger.error("WhatsApp: free-form message to %s replaced by template %r, which failed: %s", _mask(recipient_id), template.name, exc)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.deliver(recipient_id, render.render(text), text)

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        choices = [render.Choice(str(b.get("title") or b.get("payload") or ""), str(b.get("payload") or "")) for b in buttons or []]
        await self.deliver(recipient_id, render.render(text, choices, self.config.list_button), text or "")

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.deliver(recipient_id, [{"type": "image", "image": {"link": image}}], image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, f"Attachment: {attachment}")

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """A custom message is a Cloud API message object ({"type": ..., ...}); templates go out any time."""
        if not isinstance(json_message, dict) or not isinstance(json_message.get("type"), str):
            logger.warning("WhatsApp: custom message without a 'type' ignored (expected a Cloud API message object)")
            return
        if json_message["type"] == "template":
            try:
                await asyncio.to_thread(self.client.send, recipient_id, dict(json_message))
            except GraphError as exc:
                logger.error("WhatsApp: template to %s failed: %s", _mask(recipient_id), exc)
            return
        text = ((json_message.get("text") or {}).get("body") if isinstance(json_message.get("text"), dict) else None) or ""
        await self.deliver(recipient_id, [dict(json_message)], text)


def _mask(number: str) -> str:
    return number[:-4] + "****" if len(number) > 6 else "****"


# -- input channel ------------------------------------------------------------------------


class WhatsAppInput(InputChannel):
    """Rasa input channel for the WhatsApp Cloud API."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        credentials = credentials or {}
        env = os.environ
        secrets = {key[: -len("_env")]: env.get(str(credentials.get(key) or default)) or None for key, default in DEFAULT_ENV.items()}
        settings = load_settings()
        config_path = Path(credentials.get("config") or settings.business_dir / "whatsapp.yml")
        return cls(
            verify_token=secrets["verify_token"],
            app_secret=secrets["app_secret"],
            access_token=secrets["access_token"],
            phone_number_id=secrets["phone_number_id"],
            config=load_whatsapp_config(config_path),
            database_url=settings.database_url,
            graph_base_url=str(credentials.get("graph_base_url") or DEFAULT_BASE_URL),
            graph_version=str(credentials.get("graph_version") or DEFAULT_VERSION),
            missing=[str(credentials.get(k) or d) for k, d in DEFAULT_ENV.items() if not secrets[k[: -len("_env")]]],
        )

    def __init__(self, *, verify_token: str | None, app_secret: str | None, access_token: str | None,
                 phone_number_id: str | None, config: WhatsAppConfig, database_url: str,
                 graph_base_url: str = DEFAULT_BASE_URL, graph_version: str = DEFAULT_VERSION, missing: list[str] | None = None):
        self.verify_token = verify_token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.config = config
        self.database_url = database_url
        self.configured = all((verify_token, app_secret, access_token, phone_number_id))
        self.client = (
            WhatsAppGraphClient(phone_number_id, access_token, base_url=graph_base_url, version=graph_version)
            if phone_number_id and access_token and self.configured
            else None
        )
        self.store = WhatsAppStore.from_url(database_url) if self.configured else None
        if self.configured:
            routing.register(PROVIDER, self.reply_channel)
        else:
            logger.warning("WhatsApp channel disabled: set %s; its webhook answers 503 until then",
                           ", ".join(missing or ["its secrets"]))

    def get_output_channel(self) -> OutputChannel | None:
        """For pushes (agent replies): routed to the provider that carried the user's last message."""
        if not self.configured:
            return None  # agent pushes then fall back to Rasa's collecting channel
        assert self.store is not None  # set when configured
        return RoutedOutput(self.store, PROVIDER)

    def reply_channel(self) -> WhatsAppOutput:
        assert self.client is not None and self.store is not None  # registered and called only when configured
        return WhatsAppOutput(self.client, self.store, self.config)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("whatsapp_cloud_webhook", __name__)
        to_rasa = guarded(CHANNEL, on_new_message, redelivered=True)  # the provider retries on 5xx

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.configured else "not configured"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.verify_token:
                return _error(503, "not_configured", "WhatsApp verify token not configured")
            token = request.args.get("hub.verify_token") or ""
            if request.args.get("hub.mode") != "subscribe" or not same_secret(token, self.verify_token):
                return _error(403, "forbidden", "verification failed")
            return response.text(request.args.get("hub.challenge") or "", status=200)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.configured:
                return _error(503, "not_configured", "WhatsApp channel not configured")
            assert self.app_secret is not None  # part of configured
            if not signature_valid(self.app_secret, request.body or b"", request.headers.get(SIGNATURE_HEADER)):
                logger.warning("WhatsApp: webhook with a missing or wrong %s rejected", SIGNATURE_HEADER)
                return _error(403, "bad_signature", f"missing or invalid {SIGNATURE_HEADER}")
            try:
                found = inbound_messages(json.loads(request.body or b""))
            except (ValueError, RecursionError) as exc:  # MalformedPayload is a ValueError
                return _error(400, "malformed_payload", str(exc) if isinstance(exc, MalformedPayload) else "body is not JSON (or nested too deeply)")
            failed = 0
            try:
                for message, value in found:
                    failed += not await self._process(message, value, to_rasa)
            except SQLAlchemyError as exc:
                logger.error("WhatsApp: journey database unavailable, notification refused for redelivery: %s", type(exc).__name__)
                return _error(503, "store_unavailable", "journey database unavailable; retry")
            if failed:
                # Meta redelivers the whole notification; messages already handled are skipped.
                return _error(503, "processing_failed", f"{failed} message(s) could not be processed; retry")
            return response.json({"status": "ok", "messages": len(found)})

        return hook

    async def _process(
        self, message: dict[str, Any], value: dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> bool:
        assert self.store is not None  # receive() passes on only when configured
        wamid, sender = message["id"], wa_sender(message["from"])
        number_id = str((value.get("metadata") or {}).get("phone_number_id") or "")
        if number_id and number_id != self.phone_number_id:
            logger.warning("WhatsApp: message for phone number id %s ignored (this bot is %s)", number_id, self.phone_number_id)
            return True
        # The window is recorded first: it only moves forward, so doing it twice is harmless,
        # while a claim without it would leave a processed message with no window.
        sent_at = min(datetime.fromtimestamp(int(message["timestamp"]), timezone.utc), datetime.now(timezone.utc))
        await asyncio.to_thread(self.store.touch, sender, PROVIDER, sent_at)
        if not await asyncio.to_thread(self.store.claim, wamid, sender):
            logger.info("WhatsApp: duplicate delivery of %s ignored", wamid)
            return True
        # The signed webhook says WhatsApp delivered this from `sender`: the number is proven.
        await identity_proof.prove(self.database_url, ChannelRef(CHANNEL, sender), "phone", sender, identity_proof.WHATSAPP_CLOUD)
        text = message_text(message)
        if not text:
            logger.info("WhatsApp: %s message %s has no text journeybot understands; not passed to Rasa", message.get("type"), wamid)
            return True
        profile = next((c.get("profile", {}).get("name") for c in value.get("contacts") or []
                        if isinstance(c, dict) and isinstance(c.get("profile"), dict)), None)
        metadata = {"whatsapp": {"wamid": wamid, "type": message.get("type"), "timestamp": int(message["timestamp"]),
                                 "phone_number_id": number_id or self.phone_number_id, "profile_name": profile}}
        try:
            await on_new_message(UserMessage(text, self.reply_channel(), conversation_id(CHANNEL, sender), input_channel=CHANNEL,
                                             message_id=wamid, metadata=metadata))
        except Exception:  # one bad turn must not lose the other messages
            logger.exception("WhatsApp: message %s could not be processed; released for redelivery", wamid)
            await asyncio.to_thread(self.store.release, wamid)
            return False
        return True
