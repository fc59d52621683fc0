"""Async client for the Telegram Bot API (https://core.telegram.org/bots/api).

One aiohttp session per call: the output channel is used from whatever event loop Rasa
runs it in (webhook handler, `/conversations/.../tracker/events`), and a session is bound
to the loop that created it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from journey_state.retrying import call_with_retries_async

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org"
DEFAULT_TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 5.0  # longer flood waits are raised, not slept through inside a request


class TelegramError(Exception):
    """Base class for Bot API failures."""


class TelegramUnavailable(TelegramError):
    """The Bot API could not be reached or did not answer in time."""


class TelegramApiError(TelegramError):
    """The Bot API answered `ok: false` (or a non-JSON error)."""

    def __init__(self, method: str, status: int, error_code: int | None, description: str,
                 retry_after: float | None = None) -> None:
        super().__init__(f"Telegram {method} failed ({error_code or status}): {description}")
        self.method = method
        self.status = status
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after


class TelegramClient:
    """Calls `POST {base_url}/bot{token}/{method}` with a JSON body and returns `result`."""

    def __init__(self, token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = DEFAULT_TIMEOUT_S,
                 retries: int = 2) -> None:
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries

    @property
    def bot_id(self) -> str:
        """The bot's numeric id: the part of the token before ':'."""
        return self.token.split(":", 1)[0]

    def _url(self, method: str) -> str:
        return f"{self.base_url}/bot{self.token}/{method}"

    async def call(self, method: str, **params: Any) -> Any:
        """Call a Bot API method; `None` parameters are left out.

        Retries only when Telegram cannot have acted: a refused connection, or 429 with a
        short `retry_after`. A timeout after sending is not retried (the message may be out).
        """
        body = {k: v for k, v in params.items() if v is not None}

        def delay(exc: Exception, failures: int) -> float | None:
            if failures > self.retries:
                return None
            if isinstance(exc, _NotConnected):
                return 0.2 * failures
            if isinstance(exc, TelegramApiError) and exc.error_code == 429:
                wait = exc.retry_after
                return wait if wait is not None and wait <= MAX_RETRY_AFTER_S else None
            return None

        try:
            return await call_with_retries_async(lambda: self._call_once(method, body), delay)
        except _NotConnected as exc:
            raise TelegramUnavailable(f"Telegram {method}: cannot connect to {self.base_url}: {exc}") from None

    async def _call_once(self, method: str, body: dict[str, Any]) -> Any:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.post(self._url(method), json=body) as response:
                status = response.status
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = None
        except aiohttp.ClientConnectorError as exc:
            raise _NotConnected(str(exc)) from None
        except asyncio.TimeoutError:
            raise TelegramUnavailable(f"Telegram {method}: no answer within {self.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise TelegramUnavailable(f"Telegram {method}: {exc}") from None
        if not isinstance(data, dict):
            raise TelegramApiError(method, status, None, f"HTTP {status} with a non-JSON body")
        if not data.get("ok"):
            retry_after = (data.get("parameters") or {}).get("retry_after")
            raise TelegramApiError(method, status, data.get("error_code"), str(data.get("description", "")),
                                   float(retry_after) if retry_after is not None else None)
        return data.get("result")

    # -- the methods journeybot uses ---------------------------------------------------

    async def send_message(self, chat_id: int | str, text: str, reply_markup: dict | None = None) -> Any:
        return await self.call("sendMessage", chat_id=chat_id, text=text, reply_markup=reply_markup)

    async def send_photo(self, chat_id: int | str, photo: str, caption: str | None = None) -> Any:
        return await self.call("sendPhoto", chat_id=chat_id, photo=photo, caption=caption)

    async def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> Any:
        return await self.call("answerCallbackQuery", callback_query_id=callback_query_id, text=text)

    async def set_webhook(self, url: str, secret_token: str, allowed_updates: list[str] | None = None,
                          drop_pending_updates: bool = False) -> Any:
        return await self.call("setWebhook", url=url, secret_token=secret_token, allowed_updates=allowed_updates,
                               drop_pending_updates=drop_pending_updates)

    async def get_webhook_info(self) -> Any:
        return await self.call("getWebhookInfo")

    async def delete_webhook(self) -> Any:
        return await self.call("deleteWebhook")


class _NotConnected(Exception):
    """Connection refused or DNS failure: nothing was sent, so a retry is safe."""
