"""A local fake of Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`).

Checks HTTP Basic auth (account SID + auth token) and the form fields, answers 201 with a
message resource like Twilio's, records every message. Also signs webhook requests the way
Twilio does (X-Twilio-Signature over the full URL and the POST parameters).
"""
from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "3f" * 16
AUTH_TOKEN = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
WHATSAPP_NUMBER = "whatsapp:+14155238886"


@dataclass
class SentMessage:
    to: str
    from_: str
    body: str | None
    media_url: list[str]
    sid: str


class FakeTwilio:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.sent: list[SentMessage] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(_Handler):
            twilio = fake

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

    def wait_for(self, count: int, timeout: float = 30.0) -> list[SentMessage]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.sent) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} messages at the fake Twilio API, got {len(self.sent)}: {self.sent}")
                self._changed.wait(left)
            return list(self.sent)

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict]:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if headers.get("authorization") != expected:
            return 401, {"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        form = parse_qs(raw.decode())
        to, from_ = (form.get("To") or [""])[0], (form.get("From") or [""])[0]
        body, media = (form.get("Body") or [None])[0], form.get("MediaUrl") or []
        if not to.startswith("whatsapp:+") or not from_.startswith("whatsapp:+"):
            return 400, {"code": 21211, "message": f"Invalid 'To' Phone Number: {to}", "status": 400}
        if not body and not media:
            return 400, {"code": 21602, "message": "Message body is required.", "status": 400}
        if body and len(body) > 1600:
            return 400, {"code": 21617, "message": "The concatenated message body exceeds the 1600 character limit.", "status": 400}
        sid = f"SM{uuid.uuid4().hex}"
        with self._changed:
            self.sent.append(SentMessage(to, from_, body, media, sid))
            self._changed.notify_all()
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        return 201, {"account_sid": self.account_sid, "api_version": "2010-04-01", "body": body, "date_created": now,
                     "date_sent": None, "date_updated": now, "direction": "outbound-api", "error_code": None,
                     "error_message": None, "from": from_, "messaging_service_sid": None, "num_media": str(len(media)),
                     "num_segments": "1", "price": None, "price_unit": None, "sid": sid, "status": "queued",
                     "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
                     "to": to, "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class _Handler(BaseHTTPRequestHandler):
    twilio: FakeTwilio

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, payload = self.twilio.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# -- inbound webhooks (what Twilio POSTs to us) -------------------------------------------------


def inbound_form(wa_number: str, body: str, sid: str | None = None, to: str = WHATSAPP_NUMBER, **extra: str) -> dict[str, str]:
    """The form Twilio posts for an inbound WhatsApp message."""
    sid = sid or f"SM{uuid.uuid4().hex}"
    form = {"SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "Ana", "MessageType": "text", "SmsSid": sid,
            "WaId": wa_number.lstrip("+"), "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1",
            "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{wa_number}",
            "ApiVersion": "2010-04-01"}
    form.update(extra)
    return form


def signature(url: str, form: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    return RequestValidator(auth_token).compute_signature(url, form)
