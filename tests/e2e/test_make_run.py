"""The README's run command: `journeybot up` (what `make run` calls) starts, answers, and stops on Ctrl-C."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from devtools.stack import free_port
from tests.e2e.conftest import PROJECT


def _process_tree(root: int) -> dict[int, bytes]:
    """Command lines of `root` and all its descendants (honcho starts each line in its own session)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    lines = {}
    for pid in tree:
        with contextlib.suppress(OSError):
            lines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
    return lines


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_up_prints_urls_serves_a_turn_and_stops_cleanly(trained_model, tmp_path):
    ports = {name: free_port() for name in ("RASA", "ACTIONS", "CONSOLE")}
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNEYBOT_API_TOKEN", "JOURNEYBOT_RASA_TOKEN", "JOURNEYBOT_DATABASE_URL")}
    env.update({f"JOURNEYBOT_{name}_PORT": str(port) for name, port in ports.items()})
    env["JOURNEYBOT_VAR_DIR"] = str(tmp_path / "var")
    journeybot = Path(sys.executable).with_name("journeybot")
    proc = subprocess.Popen(
        [str(journeybot), "up"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not any("Press Ctrl-C to stop" in line for line in output):
            assert proc.poll() is None, "".join(output)[-4000:]
            assert time.monotonic() < deadline, "no banner after 300 s:\n" + "".join(output)[-4000:]
            time.sleep(0.5)
        text = "".join(output)
        for _name, port in ports.items():
            assert f"http://localhost:{port}" in text
        token = re.search(r"API token\s+(\S+)", text).group(1)
        secrets_file = tmp_path / "var" / "local-secrets.env"
        assert f"JOURNEYBOT_API_TOKEN={token}" in secrets_file.read_text()
        assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
        assert (tmp_path / "var" / "journeybot.db").exists()

        rest_token = re.search(r"^JOURNEYBOT_REST_TOKEN=(\S+)$", secrets_file.read_text(), re.M).group(1)
        reply = requests.post(
            f"http://localhost:{ports['RASA']}/webhooks/rest/webhook",
            json={"sender": "make-run-user", "message": "how much does the premium plan cost?"},
            headers={"Authorization": f"Bearer {rest_token}"},
            timeout=30,
        ).json()
        assert reply and reply[0]["text"]
        contact = requests.get(
            f"http://localhost:{ports['CONSOLE']}/api/contacts/by-channel/rest/make-run-user",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert contact["stage"] == "consideration"

        # No secret on any command line of the running product.
        secrets = re.findall(r"^JOURNEYBOT_\w+=(\S+)$", secrets_file.read_text(), re.M)
        assert len(secrets) >= 5
        tree = _process_tree(proc.pid)
        for pid, cmdline in tree.items():
            assert not [s for s in secrets if s.encode() in cmdline], f"{pid}: {cmdline[:200]!r}"

        # One process dying stops nothing else, and it comes back (journeybot keep-alive).
        actions = [pid for pid, cmdline in tree.items() if cmdline.split(b"\0")[1:3] == [str(journeybot).encode(), b"actions"]]
        assert len(actions) == 1, tree
        os.kill(actions[0], signal.SIGKILL)
        health = f"http://localhost:{ports['ACTIONS']}/health"
        deadline = time.monotonic() + 60
        while not any("actions was killed by SIGKILL" in line for line in output):
            assert time.monotonic() < deadline, "".join(output)[-3000:]
            time.sleep(0.2)
        assert _answers(f"http://localhost:{ports['RASA']}/") and _answers(f"http://localhost:{ports['CONSOLE']}/api/health")
        while not _answers(health):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(output)[-3000:]
            time.sleep(0.5)
        assert "restarting in 1 s" in next(line for line in output if "actions was killed by SIGKILL" in line)
        reply = requests.post(
            f"http://localhost:{ports['RASA']}/webhooks/rest/webhook",
            json={"sender": "make-run-user", "message": "I would like to buy it"},
            headers={"Authorization": f"Bearer {rest_token}"},
            timeout=30,
        ).json()
        assert reply and reply[0]["text"]
        assert requests.get(
            f"http://localhost:{ports['CONSOLE']}/api/contacts/by-channel/rest/make-run-user",
            headers={"Authorization": f"Bearer {token}"}, timeout=10,
        ).json()["stage"] == "purchase"
    finally:
        # Ctrl-C in a terminal sends SIGINT to the foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        reader.join(5)
    for port in ports.values():
        try:
            requests.get(f"http://localhost:{port}/", timeout=2)
        except requests.ConnectionError:
            continue
        raise AssertionError(f"something still listens on port {port} after Ctrl-C")
    assert not subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True).stdout, "processes left behind"
