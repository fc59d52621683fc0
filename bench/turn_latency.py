#!/usr/bin/env python
"""Turn-latency benchmark (not a test): journeybot against two Rasa baselines.

Starts journeybot (Rasa server, action server, console), sends N scripted
conversations over the REST channel at each concurrency level and prints p50/p95
latency and messages per second. It then does the same against two baselines:

* vanilla - the bot `rasa init --no-prompt` creates (no custom actions);
* noop    - the same bot, but every intent is answered by one custom action that
            utters "ok": the floor for any bot calling an action on each turn.

Baselines are built in a temp dir and cached in ~/.cache/journeybot-bench/, keyed
by the Rasa version and a hash of the generated files (--retrain rebuilds them).
The figures never fail the run; only a failure to build or start something does.

    .venv/bin/python bench/turn_latency.py [--conversations 30] [--concurrency 1 8]
"""
from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from queue import Empty, Queue

import requests
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bot.health import wait_until_healthy
from bot.training import ensure_model
from devtools.stack import TEST_TOKENS, Stack, free_port
from journey_state.errors import JourneyError
from journey_state.store.migrate import upgrade

RASA = Path(sys.executable).with_name("rasa")
BOTS = ("journeybot", "vanilla", "noop")
LABELS = {"journeybot": "journeybot", "vanilla": "vanilla rasa init", "noop": "noop-action floor"}
START_TIMEOUT = 300.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
REQUEST_TIMEOUT = 60.0

# Same number of turns per conversation for every bot, so per-message figures compare.
JOURNEYBOT_SCRIPT = (
    "hi",
    "how much does the premium plan cost?",
    "what's included in premium?",
    "I'd like to buy it",
    "thanks",
    "bye",
)
VANILLA_SCRIPT = ("hi", "I am feeling great", "are you a bot?", "I am sad", "yes", "bye")
SCRIPTS = {"journeybot": JOURNEYBOT_SCRIPT, "vanilla": VANILLA_SCRIPT, "noop": VANILLA_SCRIPT}

# -- the noop-action baseline: files written over a copy of the `rasa init` bot ---------

VANILLA_INTENTS = ("greet", "goodbye", "affirm", "deny", "mood_great", "mood_unhappy", "bot_challenge")
NOOP_MODULE = "bench_noop_actions"  # not `actions`: that name is journeybot's own package
NOOP_ACTIONS_PY = '''"""One custom action that answers every turn and does nothing else."""
from rasa_sdk import Action


class ActionNoop(Action):
    def name(self):
        return "action_noop"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="ok")
        return []
'''


def noop_domain() -> str:
    intents = "".join(f"  - {intent}\n" for intent in VANILLA_INTENTS)
    return (
        'version: "3.1"\n\nintents:\n' + intents + "\nactions:\n  - action_noop\n\n"
        "session_config:\n  session_expiration_time: 60\n  carry_over_slots_to_new_session: true\n"
    )


def noop_rules() -> str:
    rules = "".join(
        f"- rule: {intent}\n  steps:\n  - intent: {intent}\n  - action: action_noop\n\n" for intent in VANILLA_INTENTS
    )
    return 'version: "3.1"\n\nrules:\n\n' + rules


def noop_stories() -> str:
    """The `rasa init` stories with every bot step replaced by action_noop (TED still trains)."""
    paths = {
        "happy path": ("greet", "mood_great"),
        "sad path 1": ("greet", "mood_unhappy", "affirm"),
        "sad path 2": ("greet", "mood_unhappy", "deny"),
    }
    stories = "".join(
        f"- story: {name}\n  steps:\n" + "".join(f"  - intent: {i}\n  - action: action_noop\n" for i in intents) + "\n"
        for name, intents in paths.items()
    )
    return 'version: "3.1"\n\nstories:\n\n' + stories


NOOP_FILES = {
    f"{NOOP_MODULE}.py": NOOP_ACTIONS_PY,
    "domain.yml": noop_domain(),
    "data/rules.yml": noop_rules(),
    "data/stories.yml": noop_stories(),
}
NOOP_REMOVED = ("actions", "tests")


class BenchError(RuntimeError):
    """Something could not be built or started."""


# -- processes ------------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **extra)
    env["PATH"] = str(RASA.parent) + os.pathsep + env.get("PATH", "")
    return env


def run_logged(command: list[str], cwd: Path, log: Path, env: dict[str, str]) -> None:
    """Run a command to completion with its output in `log`; raise BenchError on failure."""
    with open(log, "wb") as out:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise BenchError(f"{' '.join(command)} failed (exit {result.returncode}):\n{tail(log)}")


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@dataclass
class Processes:
    """Baseline servers, each in its own session; stop() kills the process groups."""

    log_dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, command: list[str], cwd: Path) -> None:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                command, cwd=cwd, env=child_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, urls: dict[str, str], timeout: float = START_TIMEOUT) -> None:
        def still_running(name: str) -> None:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{tail(self.log_dir / f'{name}.log')}")

        pending = wait_until_healthy(urls, timeout, still_running=still_running)
        if pending:
            raise BenchError(f"not ready after {timeout:.0f}s: {', '.join(pending)} (logs in {self.log_dir})")

    def stop(self, timeout: float = 30.0) -> None:
        for proc in self.procs.values():
            kill_group(proc, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the process group led by `proc` (its session), if any member is left."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


# -- baselines: build and cache -----------------------------------------------------------


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "journeybot-bench"


def baseline_key() -> str:
    digest = hashlib.sha256(version("rasa").encode())
    for name, text in sorted(NOOP_FILES.items()):
        digest.update(f"\0{name}\0{text}".encode())
    return f"rasa-{version('rasa')}-{digest.hexdigest()[:12]}"


def model_in(bot_dir: Path) -> Path | None:
    models = sorted((bot_dir / "models").glob("*.tar.gz"))
    return models[-1] if models else None


def make_noop(bot_dir: Path) -> None:
    """Turn a copy of the `rasa init` bot into the noop-action bot."""
    intents = yaml.safe_load((bot_dir / "domain.yml").read_text())["intents"]
    if tuple(intents) != VANILLA_INTENTS:
        raise BenchError(f"`rasa init` intents changed to {intents}; update VANILLA_INTENTS and the scripts")
    for name in NOOP_REMOVED:
        shutil.rmtree(bot_dir / name, ignore_errors=True)
    for name, text in NOOP_FILES.items():
        (bot_dir / name).write_text(text)


def build_baselines(build_dir: Path, log) -> None:
    """`rasa init` the vanilla bot, derive the noop bot from it and train that too."""
    env = child_env(RASA_CACHE_DIRECTORY=str(build_dir / "rasa-cache"))  # noop reuses vanilla's NLU
    vanilla, noop = build_dir / "vanilla", build_dir / "noop"
    vanilla.mkdir(parents=True)
    log("baselines: rasa init --no-prompt (trains the vanilla bot, ~1.5 min on 2 cores)")
    run_logged([str(RASA), "init", "--no-prompt", "--init-dir", str(vanilla)], build_dir, build_dir / "init.log", env)
    shutil.copytree(vanilla, noop, ignore=shutil.ignore_patterns(".rasa", "models", "__pycache__"))
    make_noop(noop)
    log("baselines: training the noop-action bot")
    train = [str(RASA), "train", "--out", "models", "--fixed-model-name", "noop"]
    run_logged(train, noop, build_dir / "train-noop.log", env)
    for bot_dir in (vanilla, noop):
        if model_in(bot_dir) is None:
            raise BenchError(f"no model was trained in {bot_dir}")


def ensure_baselines(tmp: Path, retrain: bool, log) -> Path:
    """The cached baseline bots (vanilla/, noop/), building them first if needed."""
    target = cache_root() / baseline_key()
    if not retrain and all(model_in(target / name) for name in ("vanilla", "noop")):
        log(f"baselines: cached in {target}")
        return target
    build_dir = tmp / "build"
    build_baselines(build_dir, log)
    staging = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        for name in ("vanilla", "noop"):
            shutil.copytree(build_dir / name, staging / name, ignore=shutil.ignore_patterns(".rasa", "__pycache__"))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"baselines: cached in {target}")
    return target


# -- starting each bot --------------------------------------------------------------------


def start_journeybot(tmp: Path, cleanup: ExitStack, log) -> str:
    """Start the product the way the tests do (devtools/stack.py); return the Rasa URL."""
    log("journeybot: checking the model (trains only if config, domain or data changed)")
    database_url = f"sqlite:///{tmp / 'bench.db'}"
    try:
        model = ensure_model(PROJECT_DIR, PROJECT_DIR / "models", quiet=True)
        upgrade(database_url)
    except (RuntimeError, JourneyError) as exc:
        raise BenchError(f"journeybot could not be prepared: {exc}") from None
    stack = Stack.create(model, database_url, tmp / "journeybot")
    cleanup.callback(stack.stop)
    try:
        stack.start(timeout=START_TIMEOUT)
    except (RuntimeError, TimeoutError) as exc:
        raise BenchError(f"journeybot did not start: {exc} (logs in {tmp / 'journeybot'})") from None
    return stack.settings.rasa_url


def serve_command(bot_dir: Path, port: int, *extra: str) -> list[str]:
    return [str(RASA), "run", "--interface", "127.0.0.1", "--port", str(port), "--model", str(model_in(bot_dir)), *extra]


def start_baseline(name: str, cached: Path, tmp: Path, cleanup: ExitStack) -> str:
    """Copy a cached baseline into the temp dir, start its servers; return the Rasa URL."""
    bot_dir = tmp / name
    shutil.copytree(cached / name, bot_dir)
    procs = Processes(log_dir=tmp)
    cleanup.callback(procs.stop)
    port = free_port()
    urls = {f"{name}-rasa": f"http://127.0.0.1:{port}/"}
    if name == "noop":
        actions_port = free_port()
        (bot_dir / "endpoints.yml").write_text(f"action_endpoint:\n  url: http://127.0.0.1:{actions_port}/webhook\n")
        actions = [str(RASA), "run", "actions", "--actions", NOOP_MODULE, "--port", str(actions_port)]
        procs.start("noop-actions", actions, bot_dir)
        urls["noop-actions"] = f"http://127.0.0.1:{actions_port}/health"
        procs.start("noop-rasa", serve_command(bot_dir, port, "--endpoints", "endpoints.yml"), bot_dir)
    else:
        procs.start(f"{name}-rasa", serve_command(bot_dir, port), bot_dir)
    procs.wait_ready(urls)
    return f"http://127.0.0.1:{port}"


# -- load ---------------------------------------------------------------------------------


@dataclass
class Result:
    bot: str
    concurrency: int
    conversations: int
    wall: float
    latencies: list[float]  # seconds, answered messages only
    errors: list[str]

    @property
    def messages(self) -> int:
        return len(self.latencies) + len(self.errors)


def send(session: requests.Session, url: str, sender: str, text: str) -> tuple[float, str | None]:
    """One message round trip: (seconds, error or None). Non-200 or an empty reply is an error."""
    start = time.perf_counter()
    try:
        response = session.post(url, json={"sender": sender, "message": text}, timeout=REQUEST_TIMEOUT)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            return elapsed, f"HTTP {response.status_code} to {text!r}: {response.text[:200]}"
        if not response.json():
            return elapsed, f"empty reply to {text!r}"
        return elapsed, None
    except (requests.RequestException, ValueError) as exc:
        return time.perf_counter() - start, f"{type(exc).__name__} on {text!r}: {exc}"


def run_load(bot: str, rasa_url: str, senders: list[str], concurrency: int) -> Result:
    """Send every conversation's script; `concurrency` threads take whole conversations from a queue."""
    url = f"{rasa_url}/webhooks/rest/webhook"
    queue: Queue[str] = Queue()
    for sender in senders:
        queue.put(sender)
    per_thread: list[list[tuple[float, str | None]]] = [[] for _ in range(concurrency)]

    def worker(samples: list[tuple[float, str | None]]) -> None:
        with requests.Session() as session:
            # journeybot's REST channel needs its token; the vanilla baselines ignore the header.
            session.headers["Authorization"] = f"Bearer {TEST_TOKENS['JOURNEYBOT_REST_TOKEN']}"
            while True:
                try:
                    sender = queue.get_nowait()
                except Empty:
                    return
                for text in SCRIPTS[bot]:
                    samples.append(send(session, url, sender, text))

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in per_thread]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    samples = [sample for samples in per_thread for sample in samples]
    return Result(
        bot=bot,
        concurrency=concurrency,
        conversations=len(senders),
        wall=wall,
        latencies=[seconds for seconds, error in samples if error is None],
        errors=[error for _, error in samples if error is not None],
    )


def benchmark_bot(bot: str, rasa_url: str, args, run_tag: str, log) -> list[Result]:
    prefix = f"bench-{bot}-{run_tag}"
    if args.warmup:
        log(f"{bot}: {args.warmup} warm-up conversation(s), not measured")
        run_load(bot, rasa_url, [f"{prefix}-warmup-{i}" for i in range(args.warmup)], 1)
    results = []
    for k in args.concurrency:
        log(f"{bot}: {args.conversations} conversations x {len(SCRIPTS[bot])} turns at concurrency {k}")
        senders = [f"{prefix}-c{k}-{i}" for i in range(args.conversations)]
        results.append(run_load(bot, rasa_url, senders, k))
    return results


# -- report -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def figures(result: Result) -> dict[str, float]:
    return {
        "p50": percentile(result.latencies, 50) * 1000,
        "p95": percentile(result.latencies, 95) * 1000,
        "msg/s": result.messages / result.wall if result.wall else float("nan"),
    }


def machine_info(load_at_start: tuple[float, float, float]) -> list[str]:
    nproc = len(os.sched_getaffinity(0))
    lines = [
        f"date:     {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine:  {platform.platform()}, nproc {nproc}, load avg at start {' '.join(f'{x:.2f}' for x in load_at_start)}",
        f"python:   {platform.python_version()}, rasa {version('rasa')}, rasa-sdk {version('rasa-sdk')}",
    ]
    if load_at_start[0] > nproc / 2:
        lines.append("warning:  the machine was already busy before the run; expect noisy figures")
    return lines


def table(results: list[Result]) -> list[str]:
    header = f"{'bot':<20} {'conc':>4} {'convs':>5} {'msgs':>5} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'msg/s':>7}"
    lines = [header, "-" * len(header)]
    for r in results:
        f = figures(r)
        lines.append(
            f"{LABELS[r.bot]:<20} {r.concurrency:>4} {r.conversations:>5} {r.messages:>5} {len(r.errors):>6} "
            f"{f['p50']:>8.1f} {f['p95']:>8.1f} {f['msg/s']:>7.1f}"
        )
    return lines


def ratio(ours: float, theirs: float) -> str:
    if math.isnan(ours) or math.isnan(theirs) or not theirs:
        return "n/a"
    return f"x{ours / theirs:.2f}"


def ratios(results: list[Result]) -> list[str]:
    by_key = {(r.bot, r.concurrency): figures(r) for r in results}
    lines = []
    for baseline in ("vanilla", "noop"):
        for (bot, k), ours in by_key.items():
            theirs = by_key.get((baseline, k))
            if bot != "journeybot" or theirs is None:
                continue
            parts = ", ".join(f"{m} {ratio(ours[m], theirs[m])}" for m in ("p50", "p95", "msg/s"))
            lines.append(f"concurrency {k}: journeybot {parts} of {LABELS[baseline]}")
    return lines


def error_lines(results: list[Result], limit: int = 5) -> list[str]:
    lines = []
    for r in results:
        for error, count in Counter(r.errors).most_common(limit):
            lines.append(f"{LABELS[r.bot]} (concurrency {r.concurrency}): {count} x {error}")
    return lines


def report(results: list[Result], args, load_at_start: tuple[float, float, float]) -> str:
    lines = ["", "== journeybot turn latency benchmark ==", *machine_info(load_at_start)]
    lines.append(f"load:     {args.conversations} conversations per bot and concurrency, {args.warmup} warm-up")
    for bot in dict.fromkeys(r.bot for r in results):
        lines.append(f"script:   {LABELS[bot]}: {' | '.join(SCRIPTS[bot])}")
    lines += ["", "latency over answered messages; msg/s = all messages sent / wall time", *table(results)]
    comparisons = ratios(results)
    if comparisons:
        lines += ["", "ratios (latency: higher is slower; msg/s: lower is slower)", *comparisons]
    errors = error_lines(results)
    lines += ["", "errors:", *(errors or ["none"])]
    lines.append("note: the baselines keep conversations in memory; journeybot uses its SQL tracker store (SQLite).")
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=30, help="measured conversations per bot and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8], help="concurrency levels (default: 1 8)")
    parser.add_argument("--only", action="append", choices=BOTS, help="benchmark only this bot (repeatable)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured conversations per bot first (default: 2)")
    parser.add_argument("--retrain", action="store_true", help="rebuild the cached baseline bots")
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.warmup < 0 or min(args.concurrency) < 1:
        parser.error("--conversations and --concurrency must be >= 1, --warmup >= 0")
    args.only = [bot for bot in BOTS if bot in (args.only or BOTS)]
    return args


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def run(args, tmp: Path) -> list[Result]:
    results = []
    run_tag = f"{int(time.time()):x}"
    cached = ensure_baselines(tmp, args.retrain, log) if {"vanilla", "noop"} & set(args.only) else None
    for bot in args.only:
        with ExitStack() as cleanup:
            started = time.monotonic()
            log(f"{bot}: starting")
            if bot == "journeybot":
                rasa_url = start_journeybot(tmp, cleanup, log)
            else:
                rasa_url = start_baseline(bot, cached, tmp, cleanup)
            log(f"{bot}: ready in {time.monotonic() - started:.0f}s at {rasa_url}")
            results += benchmark_bot(bot, rasa_url, args, run_tag, log)
            log(f"{bot}: stopping")
    return results


def raise_interrupt(signum, frame):
    """Turn INT/TERM/HUP into KeyboardInterrupt once, so that cleanup is not interrupted again."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in STOP_SIGNALS:  # SIGINT too: shells ignore it in `&` jobs
        signal.signal(sig, raise_interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="journeybot-bench-"))
    started, load_at_start = time.monotonic(), os.getloadavg()
    try:
        results = run(args, tmp)
    except BenchError as exc:
        log(f"FAILED: {exc}")
        log(f"logs kept in {tmp}")
        return 1
    except KeyboardInterrupt:
        log(f"interrupted; all processes stopped (logs kept in {tmp})")
        return 130
    print(report(results, args, load_at_start))
    log(f"done in {time.monotonic() - started:.0f}s")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
