"""Telegram channel for Rasa: webhook input, Bot API output.

credentials.yml (secrets come from the environment variables named there):

    bot.channels.telegram.TelegramInput:
      token_env: TELEGRAM_BOT_TOKEN          # from @BotFather
      secret_env: TELEGRAM_WEBHOOK_SECRET    # the setWebhook secret_token
      api_base_url: https://api.telegram.org # tests point this at a fake

Unlike rasa.core.channels.telegram this checks `X-Telegram-Bot-Api-Secret-Token`, never
calls `asyncio.run` (so agent pushes through Rasa's API work), processes each update_id
once, answers callback queries, replies politely to non-text messages and keeps button
payloads longer than 64 bytes behind a stored key. Webhook: POST /webhooks/telegram/webhook.

A user's own contact shared in the private chat (the "Share my phone number" keyboard, offered
on /phone) proves their phone number: the contact is merged with the one already holding it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import identity_proof
from bot.channels.inbound import conversation_id, guarded
from bot.channels.telegram.client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT_S, TelegramClient, TelegramError
from bot.channels.telegram.state import TelegramState
from bot.settings import load_settings
from journey_state.errors import StoreUnavailable
from journey_state.identifiers import ChannelRef, sender_on
from journey_state.identity_proof import MERGED
from journey_state.secret_compare import same_secret

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024
MAX_TEXT_CHARS = 4096  # Bot API limit for one sendMessage
CONFIG_KEY = "bot.channels.telegram.TelegramInput"
DEFAULTS: dict[str, Any] = {
    "token_env": "TELEGRAM_BOT_TOKEN",
    "secret_env": "TELEGRAM_WEBHOOK_SECRET",
    "api_base_url": DEFAULT_BASE_URL,
    "timeout": DEFAULT_TIMEOUT_S,
    "button_layout": "vertical",
    "start_text": "hi",
    "non_text_reply": "Sorry, I can only read text messages for now. Please type your question.",
    "expired_button_reply": "Sorry, that button has expired. Please type your question.",
    "share_phone_prompt": "Tap the button below to share your phone number. It lets me link this chat "
                          "with your orders and your other conversations with us.",
    "share_phone_button": "Share my phone number",
    "phone_confirmed_reply": "Thanks! Your phone number is confirmed.",
    "phone_linked_reply": "Thanks! Your phone number is confirmed, and I've linked this chat "
                          "with your earlier conversations with us.",
    "foreign_contact_reply": "That is someone else's contact, so I can't use it to confirm your number. "
                             "To share your own, tap the button below.",
    "phone_unconfirmed_reply": "Sorry, I couldn't confirm your phone number just now. Please try again later.",
}
PHONE_TEXTS = ("share_phone_prompt", "share_phone_button", "phone_confirmed_reply", "phone_linked_reply",
               "foreign_contact_reply", "phone_unconfirmed_reply")
TEXT_KEYS = ("start_text", "non_text_reply", "expired_button_reply", *PHONE_TEXTS)
# Typed by the user: answered with the "share my phone number" keyboard instead of going to Rasa.
SHARE_PHONE_COMMAND = "/phone"
LAYOUTS = ("vertical", "inline")
# Message kinds a person sends on purpose; service messages (joins, pins...) get no reply.
NON_TEXT_CONTENT = ("photo", "sticker", "voice", "audio", "video", "video_note", "document", "animation",
                    "location", "venue", "contact", "poll", "dice", "game", "story")


class TelegramConfigError(ValueError):
    """A bad value in the channel's credentials.yml block."""


def load_config(credentials: Mapping[str, Any] | None) -> dict[str, Any]:
    """The channel block with defaults filled in; errors name credentials.yml and the key."""
    given = dict(credentials or {})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise TelegramConfigError(f"credentials.yml: {CONFIG_KEY}.{unknown[0]}: unknown key "
                                  f"(known: {', '.join(sorted(DEFAULTS))})")
    config = {**DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    for key in ("token_env", "secret_env", "api_base_url", *TEXT_KEYS):
        if not isinstance(config[key], str) or not config[key].strip():
            raise TelegramConfigError(f"credentials.yml: {CONFIG_KEY}.{key}: must be a non-empty string")
    if not config["api_base_url"].startswith(("https://", "http://")):
        raise TelegramConfigError(f"credentials.yml: {CONFIG_KEY}.api_base_url: must be an http(s) URL")
    if config["button_layout"] not in LAYOUTS:
        raise TelegramConfigError(f"credentials.yml: {CONFIG_KEY}.button_layout: must be one of {', '.join(LAYOUTS)}")
    try:
        config["timeout"] = float(config["timeout"])
    except (TypeError, ValueError):
        config["timeout"] = -1.0
    if not 0 < config["timeout"] <= 120:
        raise TelegramConfigError(f"credentials.yml: {CONFIG_KEY}.timeout: must be seconds between 0 and 120")
    return config


def _chunks(text: str, size: int = MAX_TEXT_CHARS) -> list[str]:
    """Split a long text at paragraph/line breaks where possible, never above `size` chars."""
    parts, rest = [], text
    while len(rest) > size:
        cut = max(rest.rfind("\n\n", 0, size), rest.rfind("\n", 0, size))
        cut = cut if cut > 0 else size
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return [p for p in parts if p.strip()] or [text]


class TelegramOutput(OutputChannel):
    """Sends Rasa's responses with the Bot API; safe on any running event loop."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, client: TelegramClient, state: TelegramState, button_layout: str = "vertical") -> None:
        self.client = client
        self.state = state
        self.button_layout = button_layout

    async def _send(self, method: str, **params: Any) -> None:
        # Rasa addresses the conversation ("telegram:<chat id>"); the Bot API wants the chat id.
        if "chat_id" in params:
            params["chat_id"] = sender_on(CHANNEL, str(params["chat_id"]))
        # Rasa sends bot messages as a side effect of saving the turn; a Telegram outage
        # must not lose the turn, so failures are logged rather than raised.
        try:
            await self.client.call(method, **params)
        except TelegramError as exc:
            logger.error("telegram: %s to chat %s not delivered: %s", method, params.get("chat_id"), exc)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for part in _chunks(text):
            await self._send("sendMessage", chat_id=recipient_id, text=part)

    async def send_with_markup(self, recipient_id: str, text: str, markup: dict[str, Any]) -> None:
        """A text with a reply keyboard (or its removal) under it."""
        await self._send("sendMessage", chat_id=recipient_id, text=text[:MAX_TEXT_CHARS], reply_markup=markup)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send("sendPhoto", chat_id=recipient_id, photo=image)

    async def inline_keyboard(self, buttons: list[dict[str, Any]], layout: str | None = None) -> dict[str, Any]:
        """Rasa buttons as an InlineKeyboardMarkup; long payloads go behind a stored key."""
        rendered = []
        for button in buttons:
            title = str(button.get("title") or button.get("payload") or "")
            if button.get("url"):
                rendered.append({"text": title, "url": str(button["url"])})
                continue
            payload = str(button.get("payload") or title)
            data = await asyncio.to_thread(self.state.callback_data, payload)
            rendered.append({"text": title, "callback_data": data})
        if (layout or self.button_layout) == "inline":
            return {"inline_keyboard": [rendered]}
        return {"inline_keyboard": [[b] for b in rendered]}

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]],
                                     **kwargs: Any) -> None:
        layout = kwargs.get("button_type") if kwargs.get("button_type") in LAYOUTS else None
        try:
            markup = await self.inline_keyboard(buttons, layout)
        except StoreUnavailable as exc:
            logger.error("telegram: buttons not stored (%s); sending the text without them", exc)
            markup = None
        await self._send("sendMessage", chat_id=recipient_id, text=text[:MAX_TEXT_CHARS], reply_markup=markup)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """`{"method": "sendLocation", ...params}` calls that method; otherwise sendMessage params."""
        params = dict(json_message)
        method = str(params.pop("method", "sendMessage"))
        params.setdefault("chat_id", recipient_id)
        await self._send(method, **params)


class TelegramInput(InputChannel):
    """Telegram webhook. Sender id = chat id; input channel = "telegram"."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None, env: Mapping[str, str] | None = None) -> TelegramInput:
        config = load_config(credentials)
        env = os.environ if env is None else env
        token = env.get(config["token_env"]) or None
        secret = env.get(config["secret_env"]) or None
        return cls(token, secret, load_settings(dict(env)).database_url, api_base_url=config["api_base_url"],
                   timeout=config["timeout"], button_layout=config["button_layout"], start_text=config["start_text"],
                   non_text_reply=config["non_text_reply"], expired_button_reply=config["expired_button_reply"],
                   token_env=config["token_env"], secret_env=config["secret_env"],
                   **{key: config[key] for key in PHONE_TEXTS})

    def __init__(self, token: str | None, secret: str | None, database_url: str, *,
                 api_base_url: str = DEFAULT_BASE_URL, timeout: float = DEFAULT_TIMEOUT_S,
                 button_layout: str = "vertical", start_text: str = DEFAULTS["start_text"],
                 non_text_reply: str = DEFAULTS["non_text_reply"],
                 expired_button_reply: str = DEFAULTS["expired_button_reply"],
                 token_env: str = DEFAULTS["token_env"], secret_env: str = DEFAULTS["secret_env"],
                 **texts: str) -> None:
        unknown = set(texts) - set(PHONE_TEXTS)
        if unknown:
            raise TypeError(f"unknown TelegramInput text(s): {', '.join(sorted(unknown))}")
        self.token = token
        self.secret = secret
        self.database_url = database_url
        self.texts = {key: texts.get(key) or DEFAULTS[key] for key in PHONE_TEXTS}
        self.state = TelegramState(database_url)
        self.client = TelegramClient(token, api_base_url, timeout) if token else None
        self.button_layout = button_layout
        self.start_text = start_text
        self.non_text_reply = non_text_reply
        self.expired_button_reply = expired_button_reply
        missing = [name for name, value in ((token_env, token), (secret_env, secret)) if not value]
        self.missing = missing
        if missing:
            # Stay registered (credentials.yml must work without channel secrets) but refuse updates.
            logger.warning("Telegram channel disabled: environment variable(s) %s not set; "
                           "POST /webhooks/telegram/webhook answers 503", " and ".join(missing))

    @property
    def configured(self) -> bool:
        return not self.missing

    def get_output_channel(self) -> TelegramOutput | None:
        """A working output channel, or None (Rasa then collects the messages) if unconfigured."""
        if self.client is None:
            return None
        return TelegramOutput(self.client, self.state, self.button_layout)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # The name must differ from rasa's own connector's blueprint ("telegram_webhook").
        hook = Blueprint("journeybot_telegram_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.configured else "unconfigured"})

        to_rasa = guarded(CHANNEL, on_new_message)

        @hook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.handle(request, to_rasa)

        return hook

    # -- request handling ------------------------------------------------------------

    async def handle(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        if not self.configured:
            return _error(503, "channel_unconfigured",
                          f"Telegram channel is not configured: set {' and '.join(self.missing)}")
        assert self.client is not None and self.secret is not None  # configured: both were set
        given = request.headers.get(SECRET_HEADER, "")
        if not same_secret(given, self.secret):
            logger.warning("telegram: webhook call with a missing or wrong %s rejected", SECRET_HEADER)
            return _error(403, "forbidden", f"missing or wrong {SECRET_HEADER}")
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "too_large", f"update larger than {MAX_BODY_BYTES} bytes")
        try:
            update = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return _error(400, "malformed_json", "the body is not JSON (or nested too deeply)")
        if not isinstance(update, dict) or not _is_int(update.get("update_id")):
            return _error(400, "malformed_update", "expected a Telegram Update object with an integer update_id")
        try:
            event = _parse(update)
        except _Malformed as exc:
            return _error(400, "malformed_update", str(exc))
        if event is None:
            return response.json({"status": "ignored"})
        try:
            first = await asyncio.to_thread(self.state.claim_update, self.client.bot_id, update["update_id"])
        except StoreUnavailable as exc:
            logger.error("telegram: update %s not processed: %s", update["update_id"], exc)
            return _error(503, "store_unavailable", "try again later")  # Telegram redelivers
        if not first:
            logger.info("telegram: update %s already processed; redelivery ignored", update["update_id"])
            return response.json({"status": "duplicate"})
        # The update is claimed: from here on it is never processed again, even if this fails
        # half-way, because a second run could repeat a reply or count a journey signal twice.
        try:
            await self._process(event, on_new_message)
        except Exception:  # one bad update must not make Telegram retry forever
            logger.exception("telegram: update %s failed", update["update_id"])
        return response.json({"status": "ok"})

    async def _process(self, event: _Event, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        out = self.get_output_channel()
        assert self.client is not None and out is not None  # handle() passes updates on only when configured
        if event.callback_query_id is not None:
            try:
                await self.client.answer_callback_query(event.callback_query_id)
            except TelegramError as exc:  # the spinner times out on its own; still handle the press
                logger.warning("telegram: answerCallbackQuery failed: %s", exc)
            if event.text is None:
                return
            text = await asyncio.to_thread(self.state.payload_for, event.text)
            if text is None:
                await out.send_text_message(event.chat_id, self.expired_button_reply)
                return
        elif event.contact is not None:
            await self._contact_shared(event, out)
            return
        elif event.text is None:
            await out.send_text_message(event.chat_id, self.non_text_reply)
            return
        elif event.private and event.text.strip().split("@", 1)[0] == SHARE_PHONE_COMMAND:
            await out.send_with_markup(event.chat_id, self.texts["share_phone_prompt"],
                                      share_phone_keyboard(self.texts["share_phone_button"]))
            return
        else:
            text = self._typed_text(event.text)
        await on_new_message(UserMessage(text, out, conversation_id(CHANNEL, event.chat_id), input_channel=self.name(),
                                         metadata={"telegram": event.metadata}))

    async def _contact_shared(self, event: _Event, out: TelegramOutput) -> None:
        """Only the user's own contact, shared in their private chat with the bot, proves a phone."""
        phone = event.contact
        if not phone:
            await out.send_with_markup(event.chat_id, self.texts["foreign_contact_reply"],
                                      share_phone_keyboard(self.texts["share_phone_button"]))
            return
        # Telegram sends the number with or without "+"; it is always in international form.
        raw = phone if phone.startswith("+") else "+" + phone
        outcome = await identity_proof.prove(self.database_url, ChannelRef(CHANNEL, event.chat_id), "phone", raw,
                                             identity_proof.TELEGRAM_CONTACT)
        if outcome is None:
            reply = self.texts["phone_unconfirmed_reply"]
        else:
            reply = self.texts["phone_linked_reply" if outcome.status == MERGED else "phone_confirmed_reply"]
        await out.send_with_markup(event.chat_id, reply, {"remove_keyboard": True})

    def _typed_text(self, text: str) -> str:
        """Typed text never reaches Rasa as "/intent{...}" (users could forge intents and entities)."""
        stripped = text.strip()
        if not stripped.startswith("/"):
            return text
        command, _, rest = stripped.partition(" ")
        if command.split("@", 1)[0] == "/start" and not rest:
            return self.start_text
        return stripped.lstrip("/").strip() or self.start_text


class _Malformed(ValueError):
    pass


class _Event:
    def __init__(self, chat_id: str, text: str | None, metadata: dict[str, Any], callback_query_id: str | None = None,
                 contact: str | None = None, private: bool = False):
        self.chat_id = chat_id
        self.text = text
        self.metadata = metadata
        self.callback_query_id = callback_query_id
        self.contact = contact  # a shared contact: the user's own phone number, or "" for anyone else's
        self.private = private


def share_phone_keyboard(label: str) -> dict[str, Any]:
    """A one-time reply keyboard whose button shares the user's own phone number (request_contact)."""
    return {"keyboard": [[{"text": label, "request_contact": True}]], "one_time_keyboard": True, "resize_keyboard": True}


def own_phone(message: dict[str, Any]) -> str | None:
    """The phone number of a contact the sender shared of themselves in a private chat, else None.

    Telegram sets contact.user_id when the contact is a Telegram user; with the request_contact
    button it is the sender's own id. A forwarded or typed-in contact of anyone else is no proof,
    and in a group the chat is not the sender's own identity.
    """
    contact, sender, chat = message.get("contact"), message.get("from"), message.get("chat")
    if not (isinstance(contact, dict) and isinstance(sender, dict) and isinstance(chat, dict)) or chat.get("type") != "private":
        return None
    user_id, phone = contact.get("user_id"), contact.get("phone_number")
    if not _is_int(user_id) or user_id != sender.get("id") or chat.get("id") != sender.get("id"):
        return None
    return phone.strip() if isinstance(phone, str) and phone.strip() else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _chat_id(message: Any, where: str) -> str:
    chat = message.get("chat") if isinstance(message, dict) else None
    if not isinstance(chat, dict) or not _is_int(chat.get("id")):
        raise _Malformed(f"{where}.chat.id missing or not an integer")
    return str(chat["id"])


def _parse(update: dict[str, Any]) -> _Event | None:
    """The part of an update journeybot acts on; None for kinds it ignores (edits, channel posts...)."""
    meta: dict[str, Any] = {"update_id": update["update_id"]}
    if "callback_query" in update:
        query = update["callback_query"]
        if not isinstance(query, dict) or not isinstance(query.get("id"), str):
            raise _Malformed("callback_query.id missing")
        sender = query["from"] if isinstance(query.get("from"), dict) else {}
        if isinstance(query.get("message"), dict):
            chat_id = _chat_id(query["message"], "callback_query.message")
        elif _is_int(sender.get("id")):
            chat_id = str(sender["id"])  # message too old to be included: private chat id = user id
        else:
            raise _Malformed("callback_query has neither message.chat.id nor from.id")
        data = query.get("data")
        if not isinstance(data, str):
            data = None  # game buttons carry no data: answered, nothing else to do
        meta["callback_query_id"] = query["id"]
        return _Event(chat_id, data, meta, query["id"])
    if "message" in update:
        message = update["message"]
        chat_id = _chat_id(message, "message")
        meta.update(message_id=message.get("message_id"), chat_type=message["chat"].get("type"))
        private = message["chat"].get("type") == "private"
        if isinstance(message.get("text"), str):
            return _Event(chat_id, message["text"], meta, private=private)
        if "contact" in message and private:
            return _Event(chat_id, None, meta, contact=own_phone(message) or "", private=True)
        if any(kind in message for kind in NON_TEXT_CONTENT):
            return _Event(chat_id, None, meta)
        return None  # service messages: members joining, pins, titles...
    return None


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)
