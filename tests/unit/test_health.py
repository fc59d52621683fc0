"""bot/health.py: the one loop that waits for the processes' health checks."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from bot.health import health_urls, wait_until_healthy
from bot.settings import load_settings
from devtools.stack import free_port


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_all_answering_returns_nothing_pending(server):
    assert wait_until_healthy({"a": f"{server}/health", "b": f"{server}/health"}, timeout=5) == []


def test_names_that_never_answer_200_are_returned_at_the_deadline(server):
    started = time.monotonic()
    pending = wait_until_healthy({"up": f"{server}/health", "sick": f"{server}/other", "down": f"http://127.0.0.1:{free_port()}/"}, timeout=0.3, interval=0.05)
    assert pending == ["down", "sick"]
    assert time.monotonic() - started < 10


def test_a_process_that_exited_stops_the_wait_at_once():
    def exited(name: str) -> None:
        raise RuntimeError(f"{name} exited")

    with pytest.raises(RuntimeError, match="rasa exited"):
        wait_until_healthy({"rasa": f"http://127.0.0.1:{free_port()}/"}, timeout=60, still_running=exited)


def test_health_urls_name_the_three_processes():
    urls = health_urls(load_settings())
    assert sorted(urls) == ["actions", "console", "rasa"]
    assert urls["console"].endswith("/api/health") and urls["actions"].endswith("/health")
