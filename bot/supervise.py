"""`journeybot keep-alive`: run one command, start it again when it dies, with exponential backoff.

honcho (`journeybot up`) stops every process as soon as one exits. Each Procfile line runs
under this wrapper, so the wrapper is what honcho sees: it exits only when it is told to
stop (SIGTERM/SIGINT/SIGHUP, which it passes on to the command), never because the command
died. Hand-written rather than `supervisor`: supervisord is a daemon with its own config
file, log files and control socket, and would replace honcho's single coloured log stream
instead of sitting under it; the whole job here is one loop around `subprocess.Popen`.
"""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass
class Backoff:
    """Delay before the next start: `initial`, doubling up to `maximum`; back to `initial`
    once the command stayed up `reset_after` seconds (a crash an hour later is not a crash loop)."""

    initial: float = 1.0
    maximum: float = 30.0
    reset_after: float = 60.0
    _next: float | None = None

    def after_exit(self, uptime: float) -> float:
        if self._next is None or uptime >= self.reset_after:
            self._next = self.initial
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


def _seconds(value: float) -> str:
    return f"{value:g} s"


class KeepAlive:
    """Runs `command` until stopped; `log` gets one line per exit and restart."""

    def __init__(self, name: str, command: Sequence[str], backoff: Backoff, log: TextIO = sys.stderr,
                 popen: Callable[..., subprocess.Popen] = subprocess.Popen) -> None:
        self.name = name
        self.command = list(command)
        self.backoff = backoff
        self.log = log
        self.popen = popen
        self.child: subprocess.Popen | None = None
        self.stop_signal: int | None = None
        self._stopping = threading.Event()

    def say(self, text: str) -> None:
        print(f"journeybot keep-alive: {self.name} {text}", file=self.log, flush=True)

    def stop(self, signum: int, _frame: object = None) -> None:
        """Signal handler: stop restarting and pass the signal on to the running command."""
        self.stop_signal = signum
        self._stopping.set()
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    def install_signal_handlers(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.stop)

    def run(self) -> int:
        """Return the exit status for the wrapper: 0 when stopped by a signal."""
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            started = time.monotonic()
            try:
                self.child = self.popen(self.command)
            except OSError as exc:
                returncode, reason = 127, f"could not be started ({exc.strerror or exc})"
            else:
                if self._stopping.is_set() and self.stop_signal is not None:
                    # The stop signal came while the command was being started.
                    self.child.send_signal(self.stop_signal)
                returncode = self.child.wait()
                reason = describe_exit(returncode)
            if self._stopping.is_set():
                break
            delay = self.backoff.after_exit(time.monotonic() - started)
            self.say(f"{reason} after {time.monotonic() - started:.1f} s; "
                     f"restarting in {_seconds(delay)} (restart {attempt})")
            self._stopping.wait(delay)
        if self.child is not None and self.child.poll() is None:
            self.child.wait()
        return 0
