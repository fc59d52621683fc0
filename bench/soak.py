#!/usr/bin/env python
"""Soak under faults, one machine (issue 13): real processes, real PostgreSQL. A benchmark: it prints figures.

A Stack (devtools/stack.py) on a fresh PostgreSQL database; N customers (half REST, half web chat
over socket.io) talk support conversations drawn from the training data for --minutes;
some ask for a person, some are taken over by the agent from the console, and every one is
handed back after a while. At spaced times the action server is SIGKILLed and restarted,
Rasa is SIGKILLed and restarted, and PostgreSQL is restarted. Then it prints: messages sent,
answered, apologised, seen by an agent, lost; journey updates lost; bot replies while paused.

    .venv/bin/python bench/soak.py [--minutes 10] [--customers 8]

PostgreSQL: the admin URL from JOURNEYBOT_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432);
the database `soak_<pid>` is created and dropped. PostgreSQL is always left running.
Exit 0 with figures whatever they are; 1 if something could not be set up.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.soak_clients import (
    INTENTS,
    Customer,
    RestCustomer,
    Sent,
    StaffAgent,
    WebCustomer,
    conversation,
    training_examples,
)
from bench.soak_report import Figures, figures
from bot.training import ensure_model
from devtools.stack import Stack, create_staff_user
from journey_state.handoff import agent_joined_message, closing_message, load_handoff_config
from journey_state.model import all_stage_ids
from journey_state.replies import load_replies
from journey_state.store.migrate import upgrade

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# The command the integration notes give for this project's machines (pg_ctlcluster, not systemd).
PG_CTL = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]
AGENT, PASSWORD = "ann", "soak agent password"


def postgres(action: str) -> None:
    subprocess.run([*PG_CTL, action], check=True, capture_output=True, timeout=120)


def postgres_running() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432"], capture_output=True, check=False).returncode == 0


@contextmanager
def postgres_left_running() -> Iterator[None]:
    """Whatever happens inside (an error, Ctrl-C), PostgreSQL is running afterwards."""
    try:
        yield
    finally:
        if not postgres_running():
            postgres("start")


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"soak_{os.getpid()}"
    # NullPool: a pooled admin connection would be dead after the soak restarted PostgreSQL.
    admin = create_engine(admin_url, future=True, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 10})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with postgres_left_running():
            pass
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Fault:
    at_fraction: float
    kind: str  # "actions" | "rasa" | "postgres"
    outage_s: float


DEFAULT_FAULTS = (Fault(0.2, "actions", 12.0), Fault(0.45, "rasa", 3.0), Fault(0.7, "postgres", 0.0))


@dataclass
class Run:
    stack: Stack
    minutes: float
    customers: int
    faults: tuple[Fault, ...] = DEFAULT_FAULTS
    seed: int = 13
    say: Callable[[str], None] = print
    sent: list[Sent] = field(default_factory=list)
    fault_log: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, s: Sent) -> None:
        with self.lock:
            self.sent.append(s)

    def inject(self, fault: Fault) -> None:
        started = time.monotonic()
        if fault.kind == "postgres":
            postgres("restart")
        else:
            self.stack.kill(fault.kind)
            time.sleep(fault.outage_s)
            self.stack.start((fault.kind,), timeout=300)
        self.fault_log.append(f"{fault.kind}: {'restarted' if fault.kind == 'postgres' else 'SIGKILL, restarted'}, "
                              f"back after {time.monotonic() - started:.1f} s")
        self.say(f"  fault: {self.fault_log[-1]}")

    def customer(self, index: int) -> Customer:
        """Even-numbered customers on the REST webhook, odd-numbered ones on web chat."""
        url = self.stack.settings.rasa_url
        if index % 2 == 0:
            return RestCustomer(f"c{index}", url, self.record, self.stack.tokens["JOURNEYBOT_REST_TOKEN"])
        return WebCustomer(f"c{index}", url, self.record)

    def talk(self, person: Customer, index: int, until: float, agent: StaffAgent, examples: dict[str, list[str]]) -> None:
        rng = random.Random(self.seed * 100 + index)
        # One in four asks for a person; one in four is taken over by the agent in the middle of a conversation.
        asks = index % 4 == 1
        taken_over = index % 4 == 2
        try:
            rounds = 0
            while time.monotonic() < until:
                # Every other conversation of these customers involves a person, so most turns are the bot's.
                in_handoff = rounds % 2 == 0
                rounds += 1
                turns = conversation(examples, rng, asks and in_handoff)
                for n, line in enumerate(turns):
                    if taken_over and in_handoff and n == 2:
                        agent.takeovers.put((person.channel, person.external_id))
                    person.say(line)
                    time.sleep(rng.uniform(0.5, 2.5))
                    if time.monotonic() >= until:
                        break
        finally:
            person.close()

    def go(self) -> Figures:
        examples = training_examples(INTENTS)
        agent = StaffAgent(self.stack.settings.console_url, AGENT, PASSWORD, hold_s=min(20.0, self.minutes * 60 / 6))
        stop = threading.Event()
        agent_thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
        agent_thread.start()
        start = time.monotonic()
        until = start + self.minutes * 60
        people = [self.customer(i) for i in range(self.customers)]
        threads = [threading.Thread(target=self.talk, args=(p, i, until, agent, examples), daemon=True) for i, p in enumerate(people)]
        for t in threads:
            t.start()
        for fault in sorted(self.faults, key=lambda f: f.at_fraction):
            time.sleep(max(0.0, start + fault.at_fraction * self.minutes * 60 - time.monotonic()))
            self.inject(fault)
        for t in threads:
            t.join()
        stop.set()
        agent_thread.join(30)
        agent.finish()
        self.say(f"  agent: {len(agent.handled)} conversations handed back, {agent.agent_replies} replies, errors {agent.errors or 'none'}")
        replies = load_replies(self.stack.settings.business_dir, all_stage_ids(self.stack.settings.journeys_dir))
        apologies = {replies.choose("technical_problem", None, channel).text for channel in ("rest", "socketio")}
        heard = sum(len(p.heard_agent) for p in people)
        stages = all_stage_ids(self.stack.settings.journeys_dir)
        handoff = load_handoff_config(self.stack.settings.business_dir / "handoff.yml", stages)
        # The console also announces the agent on claim and sends a closing line on close.
        console_said = (agent_joined_message(handoff, AGENT), closing_message(handoff))
        hand_back = frozenset((*handoff.follow_ups.values(), *console_said,
                               *(replies.choose("ask_csat_score", None, c).text for c in ("rest", "socketio"))))
        return figures(self.sent, self.stack.settings.rasa_url, self.stack.tokens["JOURNEYBOT_RASA_TOKEN"], self.stack.api, apologies,
                       heard, hand_back)


def soak(minutes: float, customers: int, work_dir: Path, admin_url: str, faults: tuple[Fault, ...] = DEFAULT_FAULTS,
         say: Callable[[str], None] = print, model: Path | None = None) -> Figures:
    model = model or ensure_model(PROJECT_DIR, PROJECT_DIR / "models", quiet=True)
    with postgres_left_running(), fresh_database(admin_url) as url:
        create_staff_user(url, AGENT, PASSWORD)
        stack = Stack.create(model, url, work_dir, extra_env={"JOURNEYBOT_CONSOLE_SECRET": "soak-console-secret-" * 2})
        try:
            say(f"stack up ({stack.describe()}), database {make_url(url).database}; {customers} customers for {minutes} min")
            stack.start()
            run = Run(stack, minutes, customers, faults, say=say)
            result = run.go()
            if "Traceback" in stack.log_tail("rasa", 5_000_000):
                say("  note: Rasa's log has tracebacks (see rasa.log)")
            return result
        finally:
            stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--work-dir", type=Path, default=None, help="logs of the three processes (default: a temp dir)")
    args = parser.parse_args(argv)
    admin_url = os.environ.get("JOURNEYBOT_TEST_POSTGRES_URL") or DEFAULT_ADMIN_URL
    import tempfile

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="journeybot-soak-"))
    started = time.monotonic()
    try:
        result = soak(args.minutes, args.customers, work_dir, admin_url)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports why it could not run
        print(f"soak could not run: {type(exc).__name__}: {exc} (logs in {work_dir})", file=sys.stderr)
        return 1
    print(f"\nsoak: {args.customers} customers, {args.minutes} min, {time.monotonic() - started:.0f} s wall; logs in {work_dir}")
    for line in result.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
