#!/usr/bin/env python
"""Analytics benchmark (not a test): the full dashboard computation over a large journey history.

For each backend (SQLite file, throw-away PostgreSQL database) it migrates a fresh database,
bulk-loads the generated history of bench/_journey_store_data.py (fixed seed; default 100k
contacts, 1M touchpoints) plus feedback, offer events and handoffs drawn from it, then times
`journey_state.analytics.dashboard.compute` (every metric, one filter set) for several filter
sets: the whole year, the last 30 days, one channel, one persona. The load drops the rollup
triggers (journey_state/store/rollups.py, facts_queue.py) and rebuilds the rollups and the
per-contact facts afterwards (timed separately), as a bulk import would; PostgreSQL is VACUUMed as autovacuum would. Target: <= 1 s per
dashboard; PASS/MISS is shown for information, the exit code is 0 unless a backend failed.

    .venv/bin/python bench/analytics.py [--backend sqlite|postgres] [--contacts 100000]
        [--touchpoints 1000000] [--repeat 3] [--keep] [--reuse URL]

--reuse URL skips loading and measures an existing (e.g. --keep'd) database.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "bench"))

import _journey_store_data as data_gen
from journey_store import DEFAULT_ADMIN_URL, Unreachable, log, postgres_database, settle_postgres, sqlite_database
from sqlalchemy import func, insert, select, update

from journey_state.analytics import dashboard, facts, parse_filters
from journey_state.model import load_named_model
from journey_state.store import (
    facts_queue,
    make_engine,
    rollups,
)
from journey_state.store.migrate import upgrade
from journey_state.store.tables import contacts, feedback, handoffs, offer_events, touchpoints

TARGET_S = 1.0
BACKENDS = ("sqlite", "postgres")
PERSONAS = ("bargain_hunter", "coffee_enthusiast", "office_manager")
OFFERS = ("first_bag_free", "premium_yearly", "member_upgrade")
BATCH = 10_000


def extras(engine, seed: int) -> dict[str, int]:
    """Personas, feedback, offer impressions/redemptions and handoffs for a sample of touchpoints."""
    rng = random.Random(seed)
    counts = {"feedback": 0, "offer_events": 0, "handoffs": 0}
    with engine.begin() as conn:
        for i, persona in enumerate(PERSONAS):
            conn.execute(update(contacts).where(contacts.c.id % len(PERSONAS) == i).values(persona=persona))
        total = conn.execute(select(func.count()).select_from(touchpoints)).scalar_one()
        step = max(1, total // 60_000)
        sample = conn.execute(
            select(touchpoints.c.contact_id, touchpoints.c.stage, touchpoints.c.channel, touchpoints.c.at).where(touchpoints.c.id % step == 0)
        ).all()
    rows = {"feedback": [], "offer_events": [], "handoffs": []}
    for contact_id, stage, channel, at in sample:
        roll = rng.random()
        if roll < 0.35:
            kind = rng.choice(("nps", "csat"))
            rows["feedback"].append({"contact_id": contact_id, "kind": kind, "score": rng.randint(0, 10) if kind == "nps" else rng.randint(1, 5), "stage": stage, "channel": channel, "at": at})
        elif roll < 0.9:
            offer = rng.choice(OFFERS)
            rows["offer_events"].append({"contact_id": contact_id, "offer_id": offer, "kind": "shown", "stage": stage, "channel": channel, "at": at})
            if rng.random() < 0.25:
                rows["offer_events"].append({"contact_id": contact_id, "offer_id": offer, "kind": "redeemed", "stage": stage, "channel": channel, "at": at + timedelta(hours=1)})
        else:
            created = at + timedelta(minutes=1)
            claimed = created + timedelta(seconds=rng.uniform(30, 1800))
            rows["handoffs"].append({
                "contact_id": contact_id, "channel": channel, "sender_id": f"s{contact_id}", "trigger": rng.choice(("complaint", "explicit_request", "fallback_streak")),
                "priority": 1, "status": "closed", "agent": "bench", "reason": rng.choice(("late delivery", "damaged bag", "asked for a human")),
                "created_at": created, "claimed_at": claimed, "closed_at": claimed + timedelta(seconds=rng.uniform(120, 3600)),
            })
    tables = {"feedback": feedback, "offer_events": offer_events, "handoffs": handoffs}
    with engine.begin() as conn:
        for name, items in rows.items():
            for start in range(0, len(items), BATCH):
                conn.execute(insert(tables[name]), items[start:start + BATCH])
            counts[name] = len(items)
    return counts


def initial_facts(engine, model, backend: str) -> str:
    """Compute the per-contact facts of every marked contact (all of them after a bulk load) and say how long it took."""
    started = time.perf_counter()
    models = dashboard.all_models(model, PROJECT_DIR / "data/journeys")
    done = facts.refresh(engine, models, progress=lambda n, total: log(f"{backend}: facts {n}/{total}") if n % 20_000 == 0 else None)
    line = f"{backend}: initial per-contact facts for {done} contacts in {time.perf_counter() - started:.1f} s (once, after the bulk load)"
    log(line)
    return line


def filter_sets(end: datetime) -> list[tuple[str, dict]]:
    year = {"from": (end - timedelta(days=365)).isoformat(), "to": end.isoformat()}
    return [
        ("whole year", year),
        ("last 30 days", {"from": (end - timedelta(days=30)).isoformat(), "to": end.isoformat()}),
        ("year, channel whatsapp", {**year, "channel": "whatsapp"}),
        ("year, persona office_manager", {**year, "persona": "office_manager"}),
    ]


def measure(engine, model, journeys_dir: Path, end: datetime, repeat: int, backend: str) -> list[str]:
    lines = []
    for name, raw in filter_sets(end):
        f = parse_filters(raw, ["b2b", "b2c"], "b2c")
        runs, last = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            last = dashboard.compute(engine, model, f, journeys_dir)
            runs.append(time.perf_counter() - started)
        best, worst = min(runs), max(runs)
        verdict = "PASS" if best <= TARGET_S else "MISS"
        lines.append(f"{backend:8} {name:30} best {best:6.3f} s  worst {worst:6.3f} s  [{verdict} <= {TARGET_S:.0f} s]  "
                     f"population {last['funnel']['population']}, touchpoints {last['touchpoints']['total']}, load {os.getloadavg()[0]:.2f}")
        slow = sorted(last["timings_s"].items(), key=lambda kv: -kv[1])[:6]
        lines.append("         slowest sections: " + ", ".join(f"{k} {v:.3f}" for k, v in slow))
        log(lines[-2])
    return lines


def run_backend(backend: str, args, model) -> list[str]:
    if args.reuse:
        engine = make_engine(args.reuse)
        with engine.connect() as conn:
            last = conn.execute(select(func.max(touchpoints.c.at))).scalar_one()
        end = (last or datetime.now(timezone.utc)) + timedelta(seconds=1)
        try:
            upgrade(args.reuse)  # new analytics indexes, if any
            return [initial_facts(engine, model, backend), *measure(engine, model, PROJECT_DIR / "data/journeys", end, args.repeat, backend)]
        finally:
            engine.dispose()
    ctx = sqlite_database(args.keep) if backend == "sqlite" else postgres_database(args.admin_url, args.keep)
    with ctx as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            end_epoch = time.time() - 3600
            dataset = data_gen.generate(model, args.contacts, args.touchpoints, args.seed, end_epoch)
            # A bulk load, as an import would do it: rollup triggers off, one rebuild afterwards.
            with engine.begin() as conn:
                rollups.drop_triggers(conn)
                facts_queue.drop_triggers(conn)
            rows = data_gen.load(engine, dataset, lambda m: log(f"{backend}: {m}"))
            rows.update(extras(engine, args.seed))
            with engine.begin() as conn:
                rollups.install_triggers(conn)
                log(f"{backend}: rollups rebuilt ({rollups.rebuild(conn)} rows)")
                facts_queue.install_triggers(conn)
                facts.rebuild(conn)
            facts_line = initial_facts(engine, model, backend)
            if engine.dialect.name == "postgresql":
                settle_postgres(engine, backend)
                # VACUUM as autovacuum would after a bulk insert: it sets the visibility map that
                # index-only scans need (without it each one reads the heap, ~3x slower here).
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM")
            else:
                with engine.begin() as conn:  # committed: a connect() without commit rolls ANALYZE back
                    conn.exec_driver_sql("ANALYZE")
            log(f"{backend}: loaded {dataset.summary()}; extra rows {rows} in {time.perf_counter() - started:.0f} s")
            end = datetime.fromtimestamp(end_epoch, timezone.utc)
            lines = [facts_line, (f"{backend}: {args.contacts} contacts, {rows.get('touchpoints', 0)} touchpoints, {rows.get('transitions', 0)} transitions, "
                     f"{rows['feedback']} feedback, {rows['offer_events']} offer events, {rows['handoffs']} handoffs")]
            return lines + measure(engine, model, PROJECT_DIR / "data/journeys", end, args.repeat, backend)
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="backend to run (repeatable; default both)")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--touchpoints", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="dashboard computations per filter set (best and worst are shown)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument("--reuse", metavar="URL", help="measure this already-loaded database instead of generating one")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL for the throw-away database")
    args = parser.parse_args(argv)
    model = load_named_model(PROJECT_DIR / "data/journeys", "b2c")
    backends = args.backend or list(BACKENDS)
    if args.reuse:
        backends = [make_engine(args.reuse).dialect.name.replace("postgresql", "postgres")]
    report, failed = [], False
    for backend in backends:
        try:
            report += run_backend(backend, args, model)
        except Unreachable as exc:
            report.append(f"{backend}: skipped ({exc})")
            failed = True
        except Exception:  # noqa: BLE001 - report and go on with the other backend
            traceback.print_exc()
            report.append(f"{backend}: FAILED (see the traceback above)")
            failed = True
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print("\n".join(["", "journey analytics dashboard benchmark", f"machine: {os.cpu_count()} CPUs, load average at the end {load}", *report]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
