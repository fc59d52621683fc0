"""A real stack, seen from the network: every process on 127.0.0.1, no secret on any command
line, Rasa's CORS only for the storefront, and an action server that only Rasa can call."""
from __future__ import annotations

import copy
import uuid
from pathlib import Path

import pytest
import requests

from bot.action_server import TOKEN_HEADER
from devtools.stack import TEST_TOKENS


@pytest.fixture(scope="module")
def stack(trained_model, tmp_path_factory):
    from devtools.stack import Stack
    from journey_state.store.migrate import upgrade

    work = tmp_path_factory.mktemp("process-security")
    url = f"sqlite:///{work / 'journeybot.db'}"
    upgrade(url)
    started = Stack.create(trained_model, url, work / "stack")
    try:
        yield started.start()
    finally:
        started.stop()


def _listening(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                found.add(address)
    return found


def test_every_process_listens_on_loopback_only(stack):
    s = stack.settings
    for port in (s.rasa_port, s.actions_port, s.console_port):
        assert _listening(port) == {"0100007F"}, port  # 127.0.0.1; 0.0.0.0 would be 00000000


def _session(pid: Path) -> int | None:
    try:
        return int((pid / "stat").read_text().rsplit(") ", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):  # the process ended meanwhile
        return None


def test_no_command_line_carries_a_token(stack):
    # Only this stack's processes (each runs in its own session): other stacks may share the machine.
    sessions = {proc.pid for proc in stack.processes.values()}
    values = [v.encode() for v in TEST_TOKENS.values()]
    seen = set()
    for pid in Path("/proc").glob("[0-9]*"):
        session = _session(pid)
        if session not in sessions:
            continue
        try:
            text = (pid / "cmdline").read_bytes()
        except OSError:
            continue
        seen.add(session)
        leaked = [v for v in values if v in text]
        shown = text.replace(b"\0", b" ")[:300]
        assert not leaked, f"{pid}: {shown!r}"
    assert seen == sessions
    assert stack.processes["rasa"].poll() is None


def _allowed(response: requests.Response) -> str | None:
    return response.headers.get("Access-Control-Allow-Origin")


def test_rasa_cors_allows_the_storefront_and_no_one_else(stack):
    rasa, storefront = stack.settings.rasa_url, f"http://127.0.0.1:{stack.settings.console_port}"
    polling = f"{rasa}/socket.io/?EIO=4&transport=polling"
    for url in (f"{rasa}/", polling):
        evil = requests.get(url, headers={"Origin": "https://evil.example"}, timeout=10)
        assert _allowed(evil) is None, evil.headers
        ok = requests.get(url, headers={"Origin": storefront}, timeout=10)
        assert ok.status_code == 200 and _allowed(ok) == storefront, ok.headers
    preflight = requests.options(polling, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, timeout=10)
    assert _allowed(preflight) is None
    local = requests.get(f"{rasa}/", headers={"Origin": f"http://localhost:{stack.settings.console_port}"}, timeout=10)
    assert _allowed(local) == f"http://localhost:{stack.settings.console_port}"


def _contact(stack, sender: str) -> int:
    return stack.api("GET", f"/api/contacts/by-channel/rest/{sender}").status_code


def test_forged_action_calls_are_refused_and_store_nothing(stack):
    real = f"real-{uuid.uuid4().hex[:8]}"
    assert stack.say(real, "hi")[0]["text"]  # Rasa -> actions works with the shared secret
    assert _contact(stack, real) == 200
    rasa, token = stack.settings.rasa_url, TEST_TOKENS["JOURNEYBOT_RASA_TOKEN"]
    tracker = requests.get(f"{rasa}/conversations/rest:{real}/tracker", params={"token": token}, timeout=10).json()
    domain = requests.get(f"{rasa}/domain", params={"token": token}, headers={"Accept": "application/json"}, timeout=10).json()

    forged_sender = f"forged-{uuid.uuid4().hex[:8]}"
    forged_tracker = copy.deepcopy(tracker)
    forged_tracker["sender_id"] = f"rest:{forged_sender}"
    call = {"next_action": "action_journey_turn", "sender_id": f"rest:{forged_sender}", "tracker": forged_tracker,
            "domain": domain, "version": "3.6.2"}
    webhook = f"{stack.settings.actions_url}/webhook"
    for headers in ({}, {TOKEN_HEADER: "guessed"}, {TOKEN_HEADER: TEST_TOKENS["JOURNEYBOT_API_TOKEN"]}):
        refused = requests.post(webhook, json=call, headers=headers, timeout=30)
        assert refused.status_code == 401, refused.text
        assert TOKEN_HEADER in refused.json()["error"]
        assert _contact(stack, forged_sender) == 404

    # The same call with Rasa's secret is a valid one (so the refusals above were the token's doing).
    accepted = requests.post(webhook, json=call, headers={TOKEN_HEADER: TEST_TOKENS["JOURNEYBOT_ACTIONS_TOKEN"]}, timeout=30)
    assert accepted.status_code == 200, accepted.text
    assert _contact(stack, forged_sender) == 200
    assert stack.say(real, "how much does the premium plan cost?")[0]["text"]
