"""A local fake of Rasa's HTTP API (`rasa run --enable-api --auth-token`), for console tests.

Keeps one event list per conversation and answers the routes the staff console uses with
Rasa 3.6's shapes: GET /conversations/{id}/tracker, POST .../tracker/events,
POST .../execute, POST .../trigger_intent. A wrong `?token=` gets Rasa's 401 body.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

UNAUTHORIZED = {"version": "3.6.21", "status": "failure", "message": "User is not authenticated.", "reason": "NotAuthenticated", "code": 401}


class FakeRasa:
    def __init__(self, token: str = "fake-rasa-token"):
        self.token = token
        self.events: dict[str, list[dict]] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                with fake._lock:
                    fake.requests.append((method, parts.path, query))
                if query.get("token") != fake.token:
                    return self._send(401, UNAUTHORIZED)
                segments = parts.path.strip("/").split("/")
                if len(segments) < 3 or segments[0] != "conversations":
                    return self._send(404, {"status": "failure", "code": 404})
                sender = segments[1]  # as Rasa 3.6: percent-encoding is not decoded
                tail = "/".join(segments[2:])
                with fake._lock:
                    events = fake.events.setdefault(sender, [])
                    if method == "GET" and tail == "tracker":
                        return self._send(200, fake.tracker(sender))
                    if method == "POST" and tail == "tracker/events":
                        for e in body if isinstance(body, list) else [body]:
                            events.append({"timestamp": time.time(), **e})
                        return self._send(200, fake.tracker(sender))
                    if method == "POST" and tail == "execute":
                        events.append({"event": "action", "name": body["name"], "timestamp": time.time()})
                        return self._send(200, {"tracker": fake.tracker(sender), "messages": []})
                    if method == "POST" and tail == "trigger_intent":
                        events.append({"event": "user", "text": f"/{body['name']}", "timestamp": time.time()})
                        return self._send(200, {"tracker": fake.tracker(sender), "messages": []})
                return self._send(404, {"status": "failure", "code": 404})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def tracker(self, sender: str) -> dict:
        events = self.events.get(sender, [])
        paused = False
        for e in events:
            if e.get("event") == "pause":
                paused = True
            elif e.get("event") == "resume":
                paused = False
        return {"sender_id": sender, "events": list(events), "paused": paused, "latest_input_channel": "rest"}

    def __enter__(self) -> FakeRasa:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
