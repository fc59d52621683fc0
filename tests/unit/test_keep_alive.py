"""`journeybot keep-alive`: a dying process comes back with exponential backoff, says why, and
SIGTERM stops it and its command cleanly. Real processes; timings are scaled down by options."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.supervise import Backoff, describe_exit

JOURNEYBOT = str(Path(sys.executable).with_name("journeybot"))

# Records its pid, then exits with the code given, or waits forever once `fail` starts are used up.
CHILD = """
import os, sys, time
log, fail = sys.argv[1], int(sys.argv[2])
with open(log, "a") as f:
    f.write(f"{os.getpid()}\\n")
starts = len(open(log).read().split())
if starts <= fail:
    sys.exit(3)
while True:
    time.sleep(1)
"""


def test_backoff_doubles_to_the_maximum_and_resets_after_a_long_run():
    backoff = Backoff(initial=1, maximum=30, reset_after=60)
    assert [backoff.after_exit(0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after_exit(61) == 1
    assert backoff.after_exit(2) == 2


def test_exit_descriptions_name_code_or_signal():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"


def _start(tmp_path: Path, fail: int, *options: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "starts.log"
    proc = subprocess.Popen(
        [JOURNEYBOT, "keep-alive", "--name", "demo", *options, "--", sys.executable, "-c", CHILD, str(log), str(fail)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    return proc, log


def _pids(log: Path) -> list[int]:
    return [int(p) for p in log.read_text().split()] if log.exists() else []


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def _stop(proc: subprocess.Popen) -> str:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        output, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return output


def test_a_crashing_command_is_restarted_with_growing_delays_and_the_reason(tmp_path):
    proc, log = _start(tmp_path, 3, "--initial-delay", "0.2", "--max-delay", "0.4")
    try:
        _wait_for(lambda: len(_pids(log)) == 4)
        running = _pids(log)[-1]
        time.sleep(0.3)
        assert proc.poll() is None and _alive(running)
    finally:
        output = _stop(proc)
    assert proc.returncode == 0
    assert not _alive(running), "the command outlived its wrapper"
    lines = [line for line in output.splitlines() if line.startswith("journeybot keep-alive: demo")]
    assert len(lines) == 3, output
    assert all("exited with code 3" in line for line in lines)
    assert [line.split("restarting in ")[1] for line in lines] == ["0.2 s (restart 1)", "0.4 s (restart 2)", "0.4 s (restart 3)"]


def test_a_killed_command_comes_back_and_the_delay_resets_after_a_good_run(tmp_path):
    proc, log = _start(tmp_path, 0, "--initial-delay", "0.2", "--max-delay", "5", "--reset-after", "1")
    try:
        _wait_for(lambda: len(_pids(log)) == 1)
        os.kill(_pids(log)[0], signal.SIGKILL)  # dies right after start: next delay doubles
        _wait_for(lambda: len(_pids(log)) == 2)
        time.sleep(1.2)  # stayed up longer than --reset-after: the delay starts again at 0.2 s
        os.kill(_pids(log)[1], signal.SIGKILL)
        _wait_for(lambda: len(_pids(log)) == 3)
        assert proc.poll() is None
    finally:
        output = _stop(proc)
    lines = [line for line in output.splitlines() if line.startswith("journeybot keep-alive: demo")]
    assert len(lines) == 2, output
    assert all("was killed by SIGKILL" in line and "restarting in 0.2 s" in line for line in lines), output


def test_sigterm_during_the_backoff_wait_stops_at_once(tmp_path):
    proc, log = _start(tmp_path, 100, "--initial-delay", "20", "--max-delay", "20")
    try:
        _wait_for(lambda: len(_pids(log)) == 1)
        time.sleep(0.5)
        started = time.monotonic()
    finally:
        _stop(proc)
    assert time.monotonic() - started < 5
    assert len(_pids(log)) == 1


@pytest.mark.parametrize("options", [("--initial-delay", "0"), ("--initial-delay", "5", "--max-delay", "1")])
def test_nonsense_delays_are_refused_with_a_message(options):
    result = subprocess.run([JOURNEYBOT, "keep-alive", *options, "--", "true"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "--initial-delay" in result.stderr and "Traceback" not in result.stderr
