#!/usr/bin/env python
"""Journey store benchmark (not a test): stage-update latency and business-event ingest.

For each backend (SQLite file, throw-away PostgreSQL database) it migrates a fresh
database, bulk-loads a generated history (fixed seed; default 100k contacts, 1M
touchpoints), then times the real store API:

* stage updates: JourneyStore.record_signal(ChannelRef, Signal, Touch) for random
  existing contacts, as a chat turn does (lock contact, decide, write transition and
  touchpoint), sequentially and from several threads;
* business events: JourneyStore.record_event(parse_event(body)) for existing and new
  contacts with ~5% replayed idempotency keys, sequentially and from several threads.

Targets (p95 per update: 10 ms SQLite, 15 ms PostgreSQL) are shown as PASS/MISS for
information only; the exit code is 0 unless a backend could not be run at all.

    .venv/bin/python bench/journey_store.py [--backend sqlite|postgres] [--contacts 100000]
        [--touchpoints 1000000] [--updates 2000] [--events 5000] [--threads 4] [--keep]

PostgreSQL: a database jb_bench_<hex> is created through JOURNEYBOT_BENCH_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/postgres) and dropped at the end.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import _journey_store_data as data_gen
import psycopg2
import sqlalchemy
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from journey_state.business_events import parse_event
from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef
from journey_state.model import JourneyModel, load_named_model
from journey_state.store import JourneyStore, Touch, make_engine
from journey_state.store.migrate import upgrade

BACKENDS = ("sqlite", "postgres")
TARGET_P95_MS = {"sqlite": 10.0, "postgres": 15.0}
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
WARMUP = 50
DUPLICATE_SHARE = 0.05
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# (intent, emotion, weight) of the measured chat turns; None intent = fallback.
TURNS = (
    ("greet", None, 12),
    ("thanks", "happy", 8),
    ("goodbye", None, 5),
    ("ask_pricing", None, 14),
    ("ask_features", "neutral", 10),
    ("compare_products", None, 5),
    ("place_order", None, 12),
    ("track_order", None, 12),
    ("track_order", "angry", 6),
    ("complaint", "sad", 4),
    (None, None, 7),
    (None, "angry", 5),
)
# (event type, weight) of the ingested business events.
EVENTS = (
    ("order_placed", 25),
    ("order_paid", 20),
    ("order_delivered", 20),
    ("order_refunded", 5),
    ("order_cancelled", 5),
    ("subscription_renewed", 10),
    ("review_posted", 10),
    ("referral_signup", 5),
)


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- databases ----------------------------------------------------------------------------


class Unreachable(RuntimeError):
    """The backend's server could not be reached; the backend is skipped."""


@contextmanager
def sqlite_database(keep: bool) -> Iterator[str]:
    """A new SQLite file in a temp dir; the dir is removed afterwards unless `keep`."""
    folder = Path(tempfile.mkdtemp(prefix="jb-bench-"))
    path = folder / "journey.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        if keep:
            log(f"sqlite: kept {path}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_database(admin_url: str, keep: bool) -> Iterator[str]:
    """A new database jb_bench_<hex>, dropped WITH (FORCE) afterwards unless `keep`."""
    name = f"jb_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        raise Unreachable(f"PostgreSQL unreachable at {_safe(admin_url)}: {_first_line(exc)}") from None
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            log(f"postgres: kept database {name} ({_safe(admin_url)})")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            log(f"postgres: dropped database {name}")
        admin.dispose()


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


# -- timing -------------------------------------------------------------------------------


@dataclass
class Phase:
    """The calls of one measured phase."""

    name: str
    threads: int
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful calls only
    outcomes: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    @property
    def calls(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    @property
    def per_second(self) -> float:
        return self.calls / self.wall if self.wall else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run_phase(name: str, items: list[Any], call: Callable[[Any], str], threads: int) -> Phase:
    """Time `call(item)` for every item, from `threads` threads taking items in turn."""
    phase = Phase(name, threads)
    lock = threading.Lock()
    cursor = iter(items)

    def worker() -> None:
        while True:
            with lock:
                item = next(cursor, None)
            if item is None:
                return
            start = time.perf_counter()
            try:
                outcome = call(item)
            except Exception as exc:  # noqa: BLE001 - counted and reported, never fatal
                with lock:
                    phase.errors[f"{type(exc).__name__}: {_first_line(exc)}"] += 1
                continue
            elapsed = time.perf_counter() - start
            with lock:
                phase.latencies.append(elapsed)
                phase.outcomes[outcome] += 1

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    start = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    phase.wall = time.perf_counter() - start
    return phase


@contextmanager
def counting_statements(engine: Engine) -> Iterator[Counter]:
    """Count SQL statements and new DB-API connections made through `engine`."""
    counts: Counter = Counter()

    def on_execute(*_args):
        counts["statements"] += 1

    def on_connect(*_args):
        counts["connections"] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine.pool, "connect", on_connect)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine.pool, "connect", on_connect)


# -- workloads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    who: ChannelRef
    message_id: str
    intent: str | None
    emotion: str | None
    text: str


def make_turns(data: data_gen.Dataset, count: int, rng: random.Random, tag: str) -> list[Turn]:
    """Chat turns of random existing contacts on one of their channels."""
    kinds = [(intent, emotion) for intent, emotion, _ in TURNS]
    weights = [w for *_, w in TURNS]
    turns = []
    for i, (intent, emotion) in enumerate(rng.choices(kinds, weights, k=count)):
        who = rng.choice(data.identities(rng.randrange(data.contacts)))
        text_ = f"bench {tag} turn {i}: {intent or 'something unclear'}"
        turns.append(Turn(who, f"bench-{tag}-{i}-{rng.getrandbits(64):016x}", intent, emotion, text_))
    return turns


def record_turn(store: JourneyStore, turn: Turn) -> str:
    """One chat turn through the store's hot path; returns what it did to the journey."""
    at = datetime.now(timezone.utc)
    signal = Signal(
        id=f"msg:{turn.message_id}",
        source=Source.CONVERSATION,
        at=at,
        intent=turn.intent,
        emotion=turn.emotion,
        confidence=0.9,
        excerpt=turn.text,
    )
    touch = Touch(channel=turn.who.channel, message_id=turn.message_id, intent=turn.intent or "nlu_fallback", confidence=0.9, emotion=turn.emotion, excerpt=turn.text)
    outcome = store.record_signal(turn.who, signal, touch)
    return _effect(outcome.transitions, outcome.duplicate)


def _effect(transitions, duplicate: bool) -> str:
    if duplicate:
        return "replayed"
    kinds = {t.kind for t in transitions}
    if "stage" in kinds:
        return "stage changed"
    return "flag changed" if kinds else "no change"


def make_events(data: data_gen.Dataset, count: int, rng: random.Random, tag: str) -> list[dict]:
    """Event bodies: 85% existing contacts, 10% new channel identities, 5% new emails; ~5% replays."""
    types = [t for t, _ in EVENTS]
    weights = [w for _, w in EVENTS]
    now = datetime.now(timezone.utc)
    bodies: list[dict] = []
    for i in range(count):
        if bodies and rng.random() < DUPLICATE_SHARE:
            bodies.append(dict(rng.choice(bodies[-200:])))  # a replay of a recent key
            continue
        roll = rng.random()
        if roll < 0.85:
            ref = rng.choice(data.identities(rng.randrange(data.contacts)))
            contact = {"channel": ref.channel, "external_id": ref.external_id}
        elif roll < 0.95:
            contact = {"channel": "rest", "external_id": f"bench-new-{tag}-{i}"}
        else:
            contact = {"email": f"bench.{tag}.{i}@example.com"}
        occurred = now - timedelta(seconds=rng.uniform(0, 3600))
        bodies.append(
            {
                "idempotency_key": f"bench-{tag}-{i}",
                "type": rng.choices(types, weights)[0],
                "contact": contact,
                "occurred_at": occurred.isoformat(),
                "payload": {"order_id": f"B{tag}{i}", "amount": round(rng.uniform(5, 500), 2), "currency": "EUR"},
            }
        )
    return bodies


def ingest(store: JourneyStore, body: dict) -> str:
    outcome = store.record_event(parse_event(body))
    return "replayed key" if outcome.duplicate else _effect(outcome.outcome.transitions, False)


# -- one backend --------------------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    url: str = ""
    info: list[str] = field(default_factory=list)
    generate_s: float = 0.0
    load_s: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    per_call: dict[str, str] = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    error: str | None = None
    dataset: data_gen.Dataset | None = None


def run_backend(backend: str, args, model: JourneyModel, result: BackendResult) -> None:
    with (sqlite_database(args.keep) if backend == "sqlite" else postgres_database(args.admin_url, args.keep)) as url:
        result.url = _safe(url)
        log(f"{backend}: migrating {result.url}")
        upgrade(url)
        engine = make_engine(url)
        try:
            result.info = backend_info(engine)
            prepare(engine, model, args, result)
            store = JourneyStore(engine, model)
            check_load(store, result.dataset, backend)
            measure(store, engine, args, result)
            result.info.append(f"database size after run: {database_size(engine, url) / 2**20:.0f} MiB")
        finally:
            engine.dispose()


def prepare(engine: Engine, model: JourneyModel, args, result: BackendResult) -> None:
    """Generate and bulk-load the history; PostgreSQL then gets ANALYZE and a CHECKPOINT."""
    started = time.perf_counter()
    end = time.time() - 3600
    dataset = data_gen.generate(model, args.contacts, args.touchpoints, args.seed, end)
    result.generate_s = time.perf_counter() - started
    log(f"{result.backend}: generated {dataset.summary()} in {result.generate_s:.1f}s")
    started = time.perf_counter()
    result.rows = data_gen.load(engine, dataset, lambda m: log(f"{result.backend}: {m}"))
    if engine.dialect.name == "postgresql":
        settle_postgres(engine, result.backend)
    result.load_s = time.perf_counter() - started
    log(f"{result.backend}: loaded {sum(result.rows.values())} rows in {result.load_s:.1f}s")
    result.dataset = dataset


def settle_postgres(engine: Engine, backend: str) -> None:
    """ANALYZE the loaded tables (as autovacuum would) and CHECKPOINT, so the bulk load's WAL is not flushed mid-measurement."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
        try:
            conn.execute(text("CHECKPOINT"))
        except SQLAlchemyError as exc:
            log(f"{backend}: CHECKPOINT skipped ({_first_line(exc)})")


def check_load(store: JourneyStore, dataset: data_gen.Dataset, backend: str, samples: int = 20) -> None:
    """Read some loaded contacts back through the store; raise if they differ from the generated ones."""
    rng = random.Random(dataset.seed)
    for index in [0, dataset.contacts - 1, *(rng.randrange(dataset.contacts) for _ in range(samples))]:
        for ref in dataset.identities(index):
            view = store.contact_by_identity(ref)
            expected = (dataset.model.stage_ids[dataset.stage[index]], data_gen.stamp(dataset.last[index]).isoformat())
            found = (view["stage"], view["last_activity_at"]) if view else None
            if found != expected:
                raise RuntimeError(f"loaded contact {index + 1} via {ref} reads back as {found}, expected {expected}")
    log(f"{backend}: sample contacts read back through the store as generated")


def measure(store: JourneyStore, engine: Engine, args, result: BackendResult) -> None:
    """Warm-up, then the update and event phases, sequential and threaded."""
    dataset = result.dataset
    rng = random.Random(args.seed + 1)
    warm_turns = make_turns(dataset, WARMUP, rng, "warm")
    warm_events = make_events(dataset, WARMUP, rng, "warm")
    with counting_statements(engine) as counts:
        run_phase("warm-up", warm_turns, lambda t: record_turn(store, t), 1)
    result.per_call["update"] = _per_call(counts, WARMUP)
    with counting_statements(engine) as counts:
        run_phase("warm-up", warm_events, lambda b: ingest(store, b), 1)
    result.per_call["event"] = _per_call(counts, WARMUP)

    for threads in (1, args.threads):
        tag = f"u{threads}"
        log(f"{result.backend}: {args.updates} stage updates, {threads} thread(s)")
        turns = make_turns(dataset, args.updates, rng, tag)
        result.phases.append(run_phase("stage update", turns, lambda t: record_turn(store, t), threads))
    for threads in (1, args.threads):
        tag = f"e{threads}"
        log(f"{result.backend}: {args.events} business events, {threads} thread(s)")
        bodies = make_events(dataset, args.events, rng, tag)
        result.phases.append(run_phase("event ingest", bodies, lambda b: ingest(store, b), threads))


def _per_call(counts: Counter, calls: int) -> str:
    return f"{counts['statements'] / calls:.1f} SQL statements, {counts['connections'] / calls:.2f} new DB connections"


def backend_info(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            settings = conn.execute(
                text("SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync') ORDER BY name")
            ).all()
            server = conn.execute(text("SHOW server_version")).scalar()
            return [f"server: PostgreSQL {server}; " + ", ".join(f"{n}={v}" for n, v in settings) + f"; pool {type(engine.pool).__name__}"]
        sqlite_version = conn.exec_driver_sql("SELECT sqlite_version()").scalar()
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        return [f"server: SQLite {sqlite_version}; journal_mode={mode}, synchronous={sync}; pool {type(engine.pool).__name__}"]


def database_size(engine: Engine, url: str) -> int:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    path = Path(make_url(url).database)
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


# -- report -------------------------------------------------------------------------------


def machine_info(load_before: tuple[float, ...], load_after: tuple[float, ...]) -> list[str]:
    nproc = len(os.sched_getaffinity(0))
    lines = [
        f"date:      {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine:   {platform.platform()}, nproc {nproc}",
        f"load avg:  before {' '.join(f'{x:.2f}' for x in load_before)}; after {' '.join(f'{x:.2f}' for x in load_after)}",
        f"python:    {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, psycopg2 {psycopg2.__version__.split()[0]}",
    ]
    if load_before[0] > nproc / 2:
        lines.append("warning:   the machine was already busy before the run; expect noisy figures")
    return lines


def phase_table(result: BackendResult) -> list[str]:
    header = f"{'phase':<13} {'thr':>3} {'calls':>6} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'calls/s':>8}  outcomes"
    lines = [header, "-" * len(header)]
    for p in result.phases:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(p.outcomes.items()))
        lines.append(
            f"{p.name:<13} {p.threads:>3} {p.calls:>6} {sum(p.errors.values()):>6} {p.ms(50):>7.2f} {p.ms(95):>7.2f} "
            f"{p.ms(99):>7.2f} {p.ms(100):>7.2f} {p.per_second:>8.1f}  {outcomes}"
        )
    for p in result.phases:
        for error, count in p.errors.most_common(5):
            lines.append(f"error ({p.name}, {p.threads} thr): {count} x {error}")
    return lines


def backend_report(result: BackendResult) -> list[str]:
    lines = ["", f"-- {result.backend} --"]
    if result.error:
        return [*lines, f"not run: {result.error}"]
    rows = ", ".join(f"{k} {v}" for k, v in result.rows.items())
    lines += [
        *result.info,
        f"database:  {result.url}",
        f"dataset:   {result.dataset.summary()}",
        f"rows:      {rows}",
        f"setup:     generate {result.generate_s:.1f}s, bulk load {result.load_s:.1f}s (total {result.generate_s + result.load_s:.1f}s)",
        *(f"{'per ' + kind + ':':<12}{text_} (warm-up average)" for kind, text_ in result.per_call.items()),
        "",
        *phase_table(result),
    ]
    return lines


def verdict(p95_ms: float, target: float) -> str:
    if p95_ms != p95_ms:
        return "n/a"
    return "PASS" if p95_ms <= target else "MISS"


def summary(results: list[BackendResult]) -> list[str]:
    header = f"{'backend':<9} {'setup s':>8} {'upd p50':>8} {'upd p95':>8} {'target':>7} {'seq':>5} {'thr p95':>8} {'thr':>5} {'upd/s thr':>9} {'ev/s':>7} {'ev/s thr':>8} {'ev p95':>7}"
    lines = ["", "== summary (ms; targets are p95 per update, informational) ==", header, "-" * len(header)]
    for r in results:
        if r.error or len(r.phases) < 4:
            lines.append(f"{r.backend:<9} not run: {r.error or 'incomplete'}")
            continue
        seq, thr, ev_seq, ev_thr = r.phases
        target = TARGET_P95_MS[r.backend]
        lines.append(
            f"{r.backend:<9} {r.generate_s + r.load_s:>8.1f} {seq.ms(50):>8.2f} {seq.ms(95):>8.2f} {target:>7.1f} {verdict(seq.ms(95), target):>5} "
            f"{thr.ms(95):>8.2f} {verdict(thr.ms(95), target):>5} {thr.per_second:>9.1f} {ev_seq.per_second:>7.1f} {ev_thr.per_second:>8.1f} {ev_seq.ms(95):>7.2f}"
        )
    lines.append("seq = 1 thread; thr = --threads threads; ev p95 = sequential event ingest p95")
    return lines


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="backend to run (repeatable; default both)")
    parser.add_argument("--contacts", type=int, default=100_000, help="generated contacts (default 100000)")
    parser.add_argument("--touchpoints", type=int, default=1_000_000, help="generated touchpoints (default 1000000)")
    parser.add_argument("--updates", type=int, default=2000, help="measured stage updates per phase (default 2000)")
    parser.add_argument("--events", type=int, default=5000, help="measured business events per phase (default 5000)")
    parser.add_argument("--threads", type=int, default=4, help="threads of the concurrent phases (default 4)")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed of the dataset and workload")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file / PostgreSQL database and print where")
    args = parser.parse_args(argv)
    if args.contacts < 1 or args.touchpoints < 0 or args.updates < 1 or args.events < 1 or args.threads < 1:
        parser.error("--contacts, --updates, --events and --threads must be >= 1, --touchpoints >= 0")
    args.backend = [b for b in BACKENDS if b in (args.backend or BACKENDS)]
    args.admin_url = os.environ.get("JOURNEYBOT_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    return args


def raise_interrupt(signum, frame):
    """Turn INT/TERM/HUP into KeyboardInterrupt once, so that cleanup is not interrupted again."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in STOP_SIGNALS:
        signal.signal(sig, raise_interrupt)
    model = load_named_model(PROJECT_DIR / "data" / "journeys", "b2c")
    started, load_before = time.monotonic(), os.getloadavg()
    results = []
    try:
        for backend in args.backend:
            result = BackendResult(backend)
            results.append(result)
            try:
                run_backend(backend, args, model, result)
            except Unreachable as exc:
                result.error = str(exc)
                log(f"{backend}: {exc}; skipping it")
            except Exception as exc:  # noqa: BLE001 - one backend failing is reported, the others still run
                result.error = f"{type(exc).__name__}: {_first_line(exc)}"
                log(f"{backend}: FAILED\n{traceback.format_exc()}")
    except KeyboardInterrupt:
        log("interrupted; databases cleaned up")
        return 130
    lines = ["", "== journeybot journey store benchmark ==", *machine_info(load_before, os.getloadavg())]
    lines.append(f"workload:  {args.updates} stage updates and {args.events} events per phase, {args.threads} threads in the concurrent phases, {WARMUP} warm-up calls each")
    for result in results:
        lines += backend_report(result)
    lines += summary(results)
    print("\n".join(lines))
    log(f"done in {time.monotonic() - started:.0f}s")
    return 1 if all(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
