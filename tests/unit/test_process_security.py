"""Where the processes listen, which browser origins Rasa allows, how Rasa gets its token,
and the action server refusing callers without the shared secret (a real `journeybot actions`)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from bot.rasa_server import RasaArgumentError, rasa_argv
from bot.settings import load_settings
from devtools.stack import free_port, procfile_commands

PROJECT = Path(__file__).resolve().parents[2]
JOURNEYBOT = str(Path(sys.executable).with_name("journeybot"))


def test_everything_binds_loopback_unless_journeybot_bind_says_otherwise():
    assert load_settings({}).bind == "127.0.0.1"
    assert load_settings({"JOURNEYBOT_BIND": "0.0.0.0"}).bind == "0.0.0.0"
    assert load_settings({"JOURNEYBOT_BIND": "::1"}).bind == "::1"
    assert load_settings({"JOURNEYBOT_BIND": "bot-host.internal"}).bind == "bot-host.internal"


def test_clients_follow_a_bind_to_one_address():
    assert load_settings({}).rasa_url == "http://localhost:5005"
    assert load_settings({"JOURNEYBOT_BIND": "0.0.0.0"}).console_url == "http://localhost:5080"
    assert load_settings({"JOURNEYBOT_BIND": "10.0.0.12"}).actions_url == "http://10.0.0.12:5055"
    assert load_settings({"JOURNEYBOT_BIND": "::1"}).rasa_url == "http://[::1]:5005"
    assert load_settings({"JOURNEYBOT_BIND": "10.0.0.12", "JOURNEYBOT_HOST": "bot.internal"}).rasa_url == "http://bot.internal:5005"


@pytest.mark.parametrize("value", ["http://0.0.0.0", "1.2.3.4:80", "a b", "-h"])
def test_a_bad_bind_address_is_named(value):
    with pytest.raises(SystemExit, match="JOURNEYBOT_BIND"):
        load_settings({"JOURNEYBOT_BIND": value})


def test_cors_defaults_to_the_consoles_own_origins():
    assert load_settings({}).cors_origins == ("http://127.0.0.1:5080", "http://localhost:5080")
    assert load_settings({"JOURNEYBOT_CONSOLE_PORT": "6000", "JOURNEYBOT_HOST": "shop.test"}).cors_origins == (
        "http://127.0.0.1:6000", "http://localhost:6000", "http://shop.test:6000")
    configured = load_settings({"JOURNEYBOT_CORS_ORIGINS": "https://shop.example.com, https://www.example.com/"})
    assert configured.cors_origins == ("https://shop.example.com", "https://www.example.com")


@pytest.mark.parametrize("value", ["*", "shop.example.com", "https://shop.example.com/path", "javascript:alert(1)"])
def test_wildcards_and_non_origins_are_refused(value):
    with pytest.raises(SystemExit, match="JOURNEYBOT_CORS_ORIGINS"):
        load_settings({"JOURNEYBOT_CORS_ORIGINS": value})


def test_rasa_gets_token_interface_and_origins_in_process():
    settings = load_settings({"JOURNEYBOT_BIND": "10.1.2.3", "JOURNEYBOT_CORS_ORIGINS": "https://shop.example.com"})
    argv = rasa_argv(["--port", "5005"], settings, "s3cret")
    assert argv[:4] == ["rasa", "run", "--port", "5005"]
    joined = " ".join(argv)
    assert "--auth-token s3cret" in joined and "--interface 10.1.2.3" in joined and "--enable-api" in joined
    assert argv[argv.index("--cors") + 1:] == ["https://shop.example.com"]


@pytest.mark.parametrize("args", [["--auth-token", "x"], ["--cors", "*"], ["--interface=0.0.0.0"], ["-i", "0.0.0.0"]])
def test_rasa_options_that_settings_own_are_refused(args):
    with pytest.raises(RasaArgumentError, match="set by `journeybot rasa`"):
        rasa_argv(args, load_settings({}), "s3cret")


def test_rasa_refuses_to_start_without_a_token():
    result = subprocess.run([JOURNEYBOT, "rasa", "--port", "1"], capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "JOURNEYBOT_RASA_TOKEN"})
    assert result.returncode == 1
    assert "JOURNEYBOT_RASA_TOKEN is not set" in result.stderr and "Traceback" not in result.stderr


def test_no_procfile_line_carries_a_secret_or_a_wildcard():
    procfile = (PROJECT / "Procfile").read_text()
    assert "TOKEN" not in procfile and "SECRET" not in procfile and '"*"' not in procfile
    for name in ("rasa", "actions", "console"):
        assert f"{name}: journeybot keep-alive --name {name} -- journeybot {name}" in procfile
    # stack.py runs the bare commands, so that tests can stop Rasa without it coming back.
    assert procfile_commands(PROJECT)["actions"] == "journeybot actions"


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


@contextmanager
def running_actions(work: Path, **env_extra: str):
    """A real `journeybot actions` on a free port; yields (port, address it answers at)."""
    port = free_port()
    env = {**os.environ, "JOURNEYBOT_ACTIONS_PORT": str(port), "JOURNEYBOT_ACTIONS_TOKEN": "right-token",
           "JOURNEYBOT_DATABASE_URL": f"sqlite:///{work}/j.db"}
    env.pop("JOURNEYBOT_BIND", None)
    env.update(env_extra)
    url = f"http://{env.get('JOURNEYBOT_BIND', '127.0.0.1')}:{port}"
    with open(work / "actions.log", "w+b") as log:
        proc = subprocess.Popen([JOURNEYBOT, "actions"], cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, log.seek(0) or log.read().decode(errors="replace")[-3000:]
                try:
                    if requests.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline, "action server not up"
                time.sleep(0.3)
            yield url, port
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    with running_actions(tmp_path_factory.mktemp("actions")) as server:
        yield server


def test_journeybot_bind_moves_the_action_server(tmp_path):
    with running_actions(tmp_path, JOURNEYBOT_BIND="127.0.0.2") as (_, port):
        assert _listening(port) == {"0200007F"}  # 127.0.0.2


def test_action_server_listens_on_loopback_only(action_server):
    _, port = action_server
    assert _listening(port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0 (00000000)


@pytest.mark.parametrize("headers", [{}, {"X-Journeybot-Actions-Token": "wrong"},
                                     {"X-Journeybot-Actions-Token": "right-token "},
                                     {"X-Journeybot-Actions-Token": "\u00e9\u00e9"}])
def test_action_server_refuses_callers_without_the_secret(action_server, headers):
    url, _ = action_server
    for method, path in (("POST", "/webhook"), ("GET", "/actions")):
        response = requests.request(method, f"{url}{path}", json={"next_action": "action_journey_turn"},
                                    headers=headers, timeout=10)
        assert response.status_code == 401, response.text
        assert "X-Journeybot-Actions-Token" in response.json()["error"]


def test_action_server_serves_the_health_check_and_rasa_with_the_secret(action_server):
    url, _ = action_server
    assert requests.get(f"{url}/health", timeout=10).json() == {"status": "ok"}
    listed = requests.get(f"{url}/actions", headers={"X-Journeybot-Actions-Token": "right-token"}, timeout=10)
    assert listed.status_code == 200 and {"name": "action_journey_turn"} in listed.json()


def test_action_server_refuses_to_start_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "JOURNEYBOT_ACTIONS_TOKEN"}
    result = subprocess.run([JOURNEYBOT, "actions"], capture_output=True, text=True, timeout=60, env=env, cwd=PROJECT)
    assert result.returncode == 1
    assert "JOURNEYBOT_ACTIONS_TOKEN is not set" in result.stderr and "Traceback" not in result.stderr
