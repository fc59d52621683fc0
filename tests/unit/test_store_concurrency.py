"""Concurrent writers on one contact: threads and real processes, SQLite and PostgreSQL.

The store must serialise read-modify-write of a contact (BEGIN IMMEDIATE on SQLite,
SELECT ... FOR UPDATE on PostgreSQL) and apply each signal id at most once.

The check is linearisability: touchpoints are inserted while the contact is locked,
so their ids give the order in which signals were applied. Replaying the signals
through the pure engine in that order must give exactly the transitions and the
final state found in the database; any lost update breaks the chain.
"""
from __future__ import annotations

import multiprocessing
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from journey_state.engine import Signal, Source, decide, initial_state
from journey_state.model import load_named_model
from journey_state.store import ChannelRef, JourneyStore, Touch, make_engine
from journey_state.store.tables import applied_signals, channel_identities, contacts, touchpoints, transitions

JOURNEYS_DIR = Path(__file__).resolve().parents[2] / "data" / "journeys"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
WHO = ChannelRef("telegram", "race-1")
THREADS = 8
PER_THREAD = 25
PROCESSES = 4
SHARED_ID = "shared-order-1"

# "forward": forward-only moves, so the final stage is advocacy whatever the order.
# "toggle": purchase <-> consideration back and forth, so every lost update shows.
FORWARD = [
    ("intent", "greet", None),
    ("intent", "ask_pricing", None),
    ("intent", "place_order", None),
    ("intent", "complaint", "angry"),
    ("event", "order_delivered", None),
    ("intent", "thanks", "happy"),
    ("event", "review_posted", None),
]
TOGGLE = [
    ("event", "order_placed", None),
    ("event", "order_cancelled", None),
    ("intent", "greet", "angry"),
    ("event", "order_paid", None),
    ("event", "order_refunded", None),
]
MIXES = {"forward": FORWARD, "toggle": TOGGLE}


def build_signal(mix: str, worker: int, k: int) -> Signal:
    index = worker * PER_THREAD + k
    kind, name, emotion = MIXES[mix][index % len(MIXES[mix])]
    return Signal(
        id=f"w{worker}-{k}",
        source=Source.EVENT if kind == "event" else Source.CONVERSATION,
        at=T0 + timedelta(seconds=index),
        intent=name if kind == "intent" else None,
        event=name if kind == "event" else None,
        emotion=emotion,
        excerpt=f"{name} from worker {worker}",
    )


def shared_signal() -> Signal:
    return Signal(SHARED_ID, Source.EVENT, T0, event="order_placed", excerpt="order_placed: id=1")


def touch_for(signal: Signal) -> Touch:
    return Touch(WHO.channel, signal.id, signal.intent, 0.9, signal.emotion, signal.excerpt)


def _counts(engine):
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (contacts, channel_identities, applied_signals, touchpoints, transitions)
        }


def assert_linearisable(url: str, model, signals: dict[str, Signal]):
    """The database holds exactly what applying the signals serially, in commit order, gives."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            (contact,) = conn.execute(select(contacts)).all()
            applied = {row.signal_id for row in conn.execute(select(applied_signals))}
            touches = conn.execute(select(touchpoints).order_by(touchpoints.c.id)).all()
            stored = conn.execute(select(transitions).order_by(transitions.c.id)).all()
        assert applied == set(signals)
        assert sorted(t.message_id for t in touches) == sorted(signals)

        state, expected = initial_state(model), []
        for touch in touches:
            decision = decide(model, state, signals[touch.message_id])
            assert touch.stage == decision.state.stage
            expected += [(t.kind, t.from_value, t.to_value, t.evidence.signal_id, t.evidence.rule) for t in decision.transitions]
            state = decision.state
        got = [(t.kind, t.from_value, t.to_value, t.signal_id, t.rule) for t in stored]
        assert got == expected
        assert all(t.contact_id == contact.id for t in stored)

        # each stage transition starts where the previous one ended
        stage = model.initial_stage
        for kind, frm, to, _, _ in got:
            if kind == "stage":
                assert frm == stage
                stage = to
        assert (contact.stage, contact.at_risk, contact.dormant, contact.last_activity_at) == (
            state.stage, state.at_risk, state.dormant, state.last_activity_at,
        )
        assert contact.stage == stage
        assert contact.last_activity_at == max(s.at for s in signals.values())
        return contact, got
    finally:
        engine.dispose()


@pytest.fixture
def store(migrated_url, b2c_model):
    engine = make_engine(migrated_url)
    yield JourneyStore(engine, b2c_model)
    engine.dispose()


def _run_threads(fn, count):
    barrier = threading.Barrier(count)

    def start(i):
        barrier.wait(timeout=30)
        return fn(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return [f.result(timeout=120) for f in [pool.submit(start, i) for i in range(count)]]


# -- threads -------------------------------------------------------------------------------


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_concurrent_distinct_signals_for_one_new_contact(store, migrated_url, b2c_model, mix):
    per_worker = [[build_signal(mix, w, k) for k in range(PER_THREAD)] for w in range(THREADS)]

    def work(w):
        return [store.record_signal(WHO, s, touch_for(s)) for s in per_worker[w]]

    outcomes = [o for batch in _run_threads(work, THREADS) for o in batch]
    assert len(outcomes) == THREADS * PER_THREAD
    assert not any(o.duplicate for o in outcomes)
    assert len({o.contact_uid for o in outcomes}) == 1

    counts = _counts(store.engine)
    assert counts["contacts"] == 1 and counts["channel_identities"] == 1
    assert counts["applied_signals"] == THREADS * PER_THREAD
    assert counts["touchpoints"] == THREADS * PER_THREAD

    signals = {s.id: s for batch in per_worker for s in batch}
    contact, history = assert_linearisable(migrated_url, b2c_model, signals)
    if mix == "forward":
        assert contact.stage == "advocacy"
        assert [h for h in history if h[0] == "stage"][-1][2] == "advocacy"
    else:
        assert contact.stage in ("purchase", "consideration")
        assert sum(1 for h in history if h[0] == "stage") >= 1

    view = store.contact_by_identity(WHO)
    assert view["stage"] == contact.stage
    assert sorted((t["kind"], t["from"], t["to"], t["evidence"]["signal_id"]) for t in view["transitions"]) == sorted(
        h[:4] for h in history
    )


@pytest.mark.parametrize("contact_exists", [False, True], ids=["new-contact", "existing-contact"])
def test_same_signal_from_many_threads_applies_once(store, contact_exists):
    if contact_exists:
        store.record_signal(WHO, Signal("hello", Source.CONVERSATION, T0 - timedelta(minutes=1), intent="greet"))
    signal = Signal(SHARED_ID, Source.CONVERSATION, T0, intent="place_order", excerpt="I'll take it")

    outcomes = _run_threads(lambda _: store.record_signal(WHO, signal, touch_for(signal)), THREADS)

    applied = [o for o in outcomes if not o.duplicate]
    assert len(applied) == 1
    assert [(t.kind, t.from_value, t.to_value) for t in applied[0].transitions] == [("stage", "awareness", "purchase")]
    assert all(o.transitions == () for o in outcomes if o.duplicate)
    assert all(o.state.stage == "purchase" for o in outcomes)
    assert len({o.contact_uid for o in outcomes}) == 1

    counts = _counts(store.engine)
    assert counts["contacts"] == 1
    assert counts["transitions"] == 1
    assert counts["applied_signals"] == (2 if contact_exists else 1)
    assert counts["touchpoints"] == 1
    view = store.contact_by_identity(WHO)
    assert [(t["from"], t["to"], t["evidence"]["signal_id"]) for t in view["transitions"]] == [
        ("awareness", "purchase", SHARED_ID)
    ]


# -- processes -------------------------------------------------------------------------------


def _process_worker(url: str, worker: int, barrier, results) -> None:
    """Runs in a spawned process: its own engine, the same contact as everyone else."""
    try:
        model = load_named_model(JOURNEYS_DIR, "b2c")
        engine = make_engine(url)
        store = JourneyStore(engine, model)
        signals = [build_signal("toggle", worker, k) for k in range(PER_THREAD)]
        signals.insert(worker * 3, shared_signal())  # everyone also sends the same signal id
        barrier.wait(timeout=60)
        outcomes = [(s.id, store.record_signal(WHO, s, touch_for(s)).duplicate) for s in signals]
        engine.dispose()
        results.put((worker, outcomes, None))
    except BaseException:  # report everything to the parent
        results.put((worker, [], traceback.format_exc()))


def test_concurrent_processes_on_one_contact(migrated_url, b2c_model):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    processes = [ctx.Process(target=_process_worker, args=(migrated_url, w, barrier, results)) for w in range(PROCESSES)]
    for p in processes:
        p.start()
    try:
        reports = [results.get(timeout=120) for _ in processes]
    finally:
        for p in processes:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [tb for _, _, tb in reports if tb]
    assert not errors, "\n".join(errors)
    assert [p.exitcode for p in processes] == [0] * PROCESSES

    outcomes = [o for _, batch, _ in reports for o in batch]
    assert len(outcomes) == PROCESSES * (PER_THREAD + 1)
    shared = [duplicate for signal_id, duplicate in outcomes if signal_id == SHARED_ID]
    assert sorted(shared) == [False] + [True] * (PROCESSES - 1)
    assert not any(duplicate for signal_id, duplicate in outcomes if signal_id != SHARED_ID)

    signals = {s.id: s for w in range(PROCESSES) for s in (build_signal("toggle", w, k) for k in range(PER_THREAD))}
    signals[SHARED_ID] = shared_signal()
    assert_linearisable(migrated_url, b2c_model, signals)
    engine = make_engine(migrated_url)
    try:
        counts = _counts(engine)
    finally:
        engine.dispose()
    assert counts["contacts"] == 1 and counts["channel_identities"] == 1
    assert counts["applied_signals"] == PROCESSES * PER_THREAD + 1
