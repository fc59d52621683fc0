"""A local fake of the WhatsApp Cloud API (Graph API `/{version}/{phone_number_id}/messages`).

Checks the Bearer token and WhatsApp's message limits like Meta does (400 with a Graph error
body), answers free-form messages to `closed_windows` with error 131047, records every
request. Also builds signed webhook notifications in Meta's format.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "v21.0"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "15550783881"
TOKEN = "EAAJfake0WhatsAppAccessToken0123456789abcdef"
APP_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
VERIFY_TOKEN = "journeybot-verify-7f3a"


@dataclass
class Sent:
    to: str
    type: str
    body: dict[str, Any]
    wamid: str


def graph_error(message: str, code: int, status: int = 400, subcode: int | None = None, details: str | None = None) -> tuple[int, dict]:
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGhIjKl"}
    if subcode is not None:
        err["error_subcode"] = subcode
    if details:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return status, {"error": err}


def limits_problem(message: dict[str, Any]) -> str | None:
    """Why Meta would refuse this message object, or None."""
    kind = message.get("type")
    if kind == "text":
        body = (message.get("text") or {}).get("body")
        return None if isinstance(body, str) and 0 < len(body) <= 4096 else "text.body must be 1-4096 characters"
    if kind == "template":
        tpl = message.get("template") or {}
        return None if tpl.get("name") and (tpl.get("language") or {}).get("code") else "template needs name and language.code"
    if kind == "image":
        return None if (message.get("image") or {}).get("link") else "image.link required"
    if kind != "interactive":
        return f"unsupported type {kind!r}"
    inter = message.get("interactive") or {}
    body = (inter.get("body") or {}).get("text") or ""
    if not 0 < len(body) <= 1024:
        return "interactive.body.text must be 1-1024 characters"
    action = inter.get("action") or {}
    if inter.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            return "interactive.action.buttons: 1-3 buttons"
        ids = [b["reply"]["id"] for b in buttons]
        if len(set(ids)) != len(ids):
            return "button ids must be unique"
        for b in buttons:
            if not 0 < len(b["reply"]["title"]) <= 20 or not 0 < len(b["reply"]["id"]) <= 256:
                return "button title 1-20, id 1-256 characters"
        return None
    if inter.get("type") == "list":
        if not 0 < len(action.get("button") or "") <= 20:
            return "list action.button must be 1-20 characters"
        rows = [r for s in action.get("sections") or [] for r in s.get("rows") or []]
        if not 1 <= len(rows) <= 10:
            return "list: 1-10 rows in total"
        ids = [r["id"] for r in rows]
        if len(set(ids)) != len(ids):
            return "row ids must be unique"
        for r in rows:
            if not 0 < len(r["title"]) <= 24 or len(r.get("description", "")) > 72 or not 0 < len(r["id"]) <= 200:
                return "row title 1-24, description ≤72, id 1-200 characters"
        return None
    return f"unsupported interactive type {inter.get('type')!r}"


class FakeGraph:
    """In-memory Cloud API for one phone number id."""

    def __init__(self, token: str = TOKEN, phone_number_id: str = PHONE_NUMBER_ID, version: str = VERSION):
        self.token, self.phone_number_id, self.version = token, phone_number_id, version
        self.sent: list[Sent] = []
        self.requests: list[dict[str, Any]] = []
        self.closed_windows: set[str] = set()  # wa_ids (digits) Meta considers outside the 24 h window
        self.script: list[tuple[int, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakeGraph:
        fake = self

        class Handler(_Handler):
            graph = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def queue(self, status: int, body: Any) -> None:
        with self._lock:
            self.script.append((status, body))

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Sent]:
        """Block until at least `count` messages were accepted; returns them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.sent) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} messages at the fake Graph API, got {len(self.sent)}: {self.sent}")
                self._changed.wait(left)
            return list(self.sent)

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "raw": raw})
            if self.script:
                return self.script.pop(0)
        if headers.get("authorization") != f"Bearer {self.token}":
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190, 401)
        if method != "POST" or path != f"/{self.version}/{self.phone_number_id}/messages":
            return graph_error("Unsupported post request.", 100, 400, 33)
        try:
            body = json.loads(raw)
        except ValueError:
            return graph_error("(#100) Invalid parameter", 100)
        if body.get("messaging_product") != "whatsapp" or not str(body.get("to", "")).isdigit():
            return graph_error("(#100) Invalid parameter", 100, details="messaging_product and to (digits) are required")
        problem = limits_problem(body)
        if problem:
            return graph_error("(#100) Invalid parameter", 100, details=problem)
        if body["type"] != "template" and body["to"] in self.closed_windows:
            return graph_error("(#131047) Re-engagement message", 131047,
                               details="Message failed to send because more than 24 hours have passed since the customer last replied to this number.")
        wamid = f"wamid.HBgL{next(self._ids):012d}FAKE"
        with self._changed:
            self.sent.append(Sent(body["to"], body["type"], body, wamid))
            self._changed.notify_all()
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                     "messages": [{"id": wamid}]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class _Handler(BaseHTTPRequestHandler):
    graph: FakeGraph

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, payload = self.graph.handle("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# -- webhook notifications (what Meta POSTs to us) ------------------------------------------


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def text_message(wa_id: str, body: str, wamid: str, timestamp: int | None = None) -> dict[str, Any]:
    return {"from": wa_id, "id": wamid, "timestamp": str(timestamp or int(time.time())), "type": "text", "text": {"body": body}}


def button_reply(wa_id: str, reply_id: str, title: str, wamid: str) -> dict[str, Any]:
    return {"context": {"from": DISPLAY_NUMBER, "id": "wamid.previous"}, "from": wa_id, "id": wamid,
            "timestamp": str(int(time.time())), "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}}


def list_reply(wa_id: str, reply_id: str, title: str, wamid: str) -> dict[str, Any]:
    return {"context": {"from": DISPLAY_NUMBER, "id": "wamid.previous"}, "from": wa_id, "id": wamid,
            "timestamp": str(int(time.time())), "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": reply_id, "title": title, "description": ""}}}


def status_update(wa_id: str, wamid: str, status: str = "delivered") -> dict[str, Any]:
    return {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": wa_id,
            "conversation": {"id": "c0ffee", "origin": {"type": "service"}},
            "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"}}


def notification(*changes_values: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """A webhook body; each value becomes one change (spread over `entries` entries)."""
    entry_list = [{"id": "102290129340398", "changes": []} for _ in range(entries)]
    for i, value in enumerate(changes_values):
        entry_list[i % entries]["changes"].append({"field": "messages", "value": value})
    return {"object": "whatsapp_business_account", "entry": entry_list}


def value(messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None,
          name: str = "Ana", phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    v: dict[str, Any] = {"messaging_product": "whatsapp",
                         "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_number_id}}
    if messages:
        v["contacts"] = [{"profile": {"name": name}, "wa_id": m["from"]} for m in messages]
        v["messages"] = messages
    if statuses:
        v["statuses"] = statuses
    return v
