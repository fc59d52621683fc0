"""Start the three journeybot processes directly (no honcho), for tests and benchmarks.

`journeybot up` is the way to run the product; this module runs the same commands
as the Procfile on chosen ports with a chosen database, and waits until all answer.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bot.health import health_urls, wait_until_healthy
from bot.launcher import process_env
from bot.settings import Settings, load_settings

# Fixed tokens for throw-away stacks (tests, benchmarks); never used by `journeybot up`.
TEST_TOKENS = {"JOURNEYBOT_API_TOKEN": "test-api-token", "JOURNEYBOT_RASA_TOKEN": "test-rasa-token",
               "JOURNEYBOT_REST_TOKEN": "test-rest-token", "JOURNEYBOT_ACTIONS_TOKEN": "test-actions-token"}
KEEP_ALIVE = re.compile(r"^journeybot keep-alive\b.*? -- ")


def create_staff_user(database_url: str, username: str, password: str, role: str = "agent") -> None:
    """What `journeybot create-user` does, for a throw-away stack's database (the console reads users from it)."""
    from bot.console.staff.auth import hash_password
    from bot.services import build

    services = build(load_settings().copy(update={"database_url": database_url}))
    try:
        services.handoffs.create_user(username, hash_password(password), role)
    finally:
        services.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_commands(project_dir: Path) -> dict[str, str]:
    """The Procfile's commands without their `journeybot keep-alive ... --` wrapper: a stack
    must see a process die (wait_ready reports it) and tests stop Rasa on purpose
    (rasa_stopped), which a wrapper would undo by restarting it."""
    commands = {}
    for line in (project_dir / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            commands[name.strip()] = KEEP_ALIVE.sub("", command.strip())
    return commands


@dataclass
class Stack:
    """Rasa server, action server and console on free ports, sharing one database."""

    settings: Settings
    model: Path
    tokens: dict[str, str]
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @classmethod
    def create(cls, model: Path, database_url: str, work_dir: Path, extra_env: dict | None = None) -> Stack:
        work_dir.mkdir(parents=True, exist_ok=True)
        tokens = dict(TEST_TOKENS)
        env = {
            **os.environ,
            **(extra_env or {}),
            **tokens,
            "JOURNEYBOT_DATABASE_URL": database_url,
            "JOURNEYBOT_VAR_DIR": str(work_dir),
            "JOURNEYBOT_RASA_PORT": str(free_port()),
            "JOURNEYBOT_ACTIONS_PORT": str(free_port()),
            "JOURNEYBOT_CONSOLE_PORT": str(free_port()),
            "JOURNEYBOT_HOST": "127.0.0.1",
        }
        return cls(load_settings(env), model, tokens, work_dir, dict(extra_env or {}))

    def env(self) -> dict[str, str]:
        env = process_env(self.settings, self.model, self.tokens)
        env.update(self.extra_env)
        env["JOURNEYBOT_HOST"] = self.settings.host
        env["JOURNEYBOT_VAR_DIR"] = str(self.settings.var_dir)
        # The processes import this checkout's code, as the tests do (pytest's pythonpath): a venv
        # shared between git worktrees has an editable install of one of them, which would
        # otherwise serve its code with this checkout's domain and data.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.settings.project_dir), env.get("PYTHONPATH", "")) if p)
        return env

    def start(self, names: tuple[str, ...] = ("actions", "console", "rasa"), timeout: float = 240.0) -> Stack:
        commands = procfile_commands(self.settings.project_dir)
        env = self.env()
        for name in names:
            log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child process writes to it for its lifetime
            self.processes[name] = subprocess.Popen(
                ["/bin/sh", "-c", "exec " + commands[name]],
                cwd=self.settings.project_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(names, timeout)
        return self

    def health_urls(self) -> dict[str, str]:
        return health_urls(self.settings)

    def wait_ready(self, names, timeout: float) -> None:
        def still_running(name: str) -> None:
            proc = self.processes[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; log:\n{self.log_tail(name)}")

        urls = {n: u for n, u in self.health_urls().items() if n in names}
        pending = wait_until_healthy(urls, timeout, still_running=still_running)
        if pending:
            raise TimeoutError(f"not ready after {timeout}s: {', '.join(pending)}")

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self, timeout: float = 30.0) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in self.processes.items():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()

    @contextmanager
    def rasa_stopped(self, timeout: float = 240.0):
        """Stop the Rasa server, run the with-block while it is down, then start it again (same port, same tracker store)."""
        proc = self.processes["rasa"]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        try:
            yield self
        finally:
            self.start(("rasa",), timeout)

    def kill(self, name: str) -> None:
        """SIGKILL one process (and its children), as a crash would: no clean shutdown; `start((name,))` brings it back."""
        proc = self.processes[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def restart_rasa(self, timeout: float = 240.0) -> None:
        with self.rasa_stopped(timeout):
            pass

    # -- clients ---------------------------------------------------------------

    def say(self, sender: str, text: str, timeout: float = 30.0) -> list[dict]:
        response = requests.post(
            f"{self.settings.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            headers={"Authorization": f"Bearer {self.tokens['JOURNEYBOT_REST_TOKEN']}"},
            timeout=timeout,
        )
        response.raise_for_status()
        return response.json()

    def api(self, method: str, path: str, token: str | None = "default", **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token == "default":
            token = self.tokens["JOURNEYBOT_API_TOKEN"]
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.settings.console_url}{path}", headers=headers, timeout=30, **kwargs)

    def describe(self) -> str:
        return " ".join(shlex.quote(f"{k}={v}") for k, v in self.health_urls().items())
