"""A local fake of the Telegram Bot API, plus builders for the updates Telegram POSTs to a webhook.

Serves `POST|GET /bot<token>/<method>` on 127.0.0.1 (free port) from a thread, accepts JSON,
form-encoded or query parameters (`reply_markup` may be a JSON string, as aiogram sends it),
answers `{"ok": true, "result": ...}` like Telegram and records every call. `queue()` scripts
error replies (e.g. 429 with retry_after) ahead of the normal behaviour.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

TOKEN = "123456789:AAFakeTokenForJourneybotTests-0123456"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Aurora", "username": "aurora_coffee_bot"}


@dataclass
class Call:
    method: str
    token: str
    params: dict[str, Any]
    headers: dict[str, str]

    @property
    def markup(self) -> dict[str, Any] | None:
        value = self.params.get("reply_markup")
        return json.loads(value) if isinstance(value, str) else value


class FakeTelegram:
    """Bot API for one bot token; `calls` holds every request in arrival order."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.webhook: dict[str, Any] = {}
        self._script: list[tuple[str | None, int, dict[str, Any], float]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._message_ids = itertools.count(1000)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(_Handler):
            telegram = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def queue(self, status: int, body: dict[str, Any], *, method: str | None = None, delay: float = 0.0,
              times: int = 1) -> None:
        with self._lock:
            self._script.extend((method, status, body, delay) for _ in range(times))

    def made(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if method is None or c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[Call]:
        """Block until `count` calls of `method` arrived; returns them (fails the test on timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake Telegram: {len(found)} {method} call(s) after {timeout}s, wanted {count}; "
                                         f"got {[c.method for c in self.calls]}")
                self._changed.wait(left)

    # -- request handling (server threads) -----------------------------------------------

    def handle(self, token: str, method: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any, float]:
        with self._changed:
            self.calls.append(Call(method, token, params, headers))
            self._changed.notify_all()
            for i, (only, status, body, delay) in enumerate(self._script):
                if only is None or only == method:
                    del self._script[i]
                    return status, body, delay
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, 0.0
        result = self._result(method, params)
        if result is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, 0.0
        if isinstance(result, tuple):
            return result[0], result[1], 0.0
        return 200, {"ok": True, "result": result}, 0.0

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        def bad(description: str):
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}

        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "sendPhoto"):
            if "chat_id" not in params:
                return bad("chat_id is empty")
            if method == "sendMessage" and not str(params.get("text") or "").strip():
                return bad("message text is empty")
            if method == "sendMessage" and len(str(params["text"])) > 4096:
                return bad("message is too long")
            markup = Call(method, "", params, {}).markup
            for row in (markup or {}).get("inline_keyboard", []):
                for button in row:
                    if "callback_data" in button and not 1 <= len(button["callback_data"].encode()) <= 64:
                        return bad("BUTTON_DATA_INVALID")
            message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": BOT_USER,
                       "chat": {"id": int(params["chat_id"]), "type": "private"}}
            if method == "sendMessage":
                message["text"] = params["text"]
            else:
                message["photo"] = [{"file_id": "AgAC-fake", "file_unique_id": "AQAD", "width": 90, "height": 90}]
            if markup:
                message["reply_markup"] = markup
            return message
        if method == "answerCallbackQuery":
            return True if params.get("callback_query_id") else bad("query is too old")
        if method == "setWebhook":
            self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token"),
                            "allowed_updates": params.get("allowed_updates")}
            return True
        if method == "getWebhookInfo":
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}
        if method == "deleteWebhook":
            self.webhook = {}
            return True
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class _Handler(BaseHTTPRequestHandler):
    telegram: FakeTelegram

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if raw and kind == "application/json":
            try:
                params.update(json.loads(raw))
            except ValueError:
                return self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid JSON"})
        elif raw:
            params.update({k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()})
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, delay = self.telegram.handle(parts[0][3:], parts[1], params, headers)
        if delay:
            time.sleep(delay)
        self._reply(status, body)

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# -- updates, as Telegram POSTs them to the webhook ------------------------------------------

def _user(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Ann", "language_code": "en"}


def message_update(update_id: int, chat_id: int, **content: Any) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id % 100000, "date": int(time.time()), "from": _user(chat_id),
        "chat": {"id": chat_id, "type": "private", "first_name": "Ann"}, **content}}


def text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    return message_update(update_id, chat_id, text=text)


def photo_update(update_id: int, chat_id: int) -> dict[str, Any]:
    return message_update(update_id, chat_id, photo=[{"file_id": "AgAC-in", "file_unique_id": "AQAD-in",
                                                      "width": 320, "height": 240}])


def callback_update(update_id: int, chat_id: int, data: str, query_id: str = "4382bfdwdsb323b2d9") -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": query_id, "from": _user(chat_id), "chat_instance": "-4837", "data": data,
        "message": {"message_id": 77, "date": int(time.time()), "from": BOT_USER,
                    "chat": {"id": chat_id, "type": "private"}, "text": "Pick one"}}}


def deliver(webhook_url: str, update: Any, secret: str | None, timeout: float = 60.0) -> requests.Response:
    """POST an update the way Telegram does (JSON body, secret header if set)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = update if isinstance(update, (bytes, str)) else json.dumps(update)
    return requests.post(webhook_url, data=body, headers=headers, timeout=timeout)


def contact_update(update_id: int, chat_id: int, phone: str, user_id: int | None = None,
                   chat_type: str = "private") -> dict[str, Any]:
    """A shared contact; with user_id == chat_id it is the user's own (the request_contact button)."""
    contact: dict[str, Any] = {"phone_number": phone, "first_name": "Ann"}
    if user_id is not None:
        contact["user_id"] = user_id
    update = message_update(update_id, chat_id, contact=contact)
    update["message"]["chat"]["type"] = chat_type
    return update
