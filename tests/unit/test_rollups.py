"""touch_rollup and stage_stays (journey_state/store/rollups.py) equal a recomputation from the
raw data after random writes through the real store, on SQLite and PostgreSQL."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, update

from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef
from journey_state.store import JourneyStore, Touch, make_engine, rollups
from journey_state.store.tables import contacts, stage_stays, touch_rollup, touchpoints

T0 = datetime(2026, 1, 30, 20, 0, tzinfo=timezone.utc)  # month and day boundaries within a few days
INTENTS = (None, "greet", "ask_pricing", "place_order", "complaint", "nlu_fallback", "ask_features")
EMOTIONS = (None, "happy", "angry")
CHANNELS = ("socketio", "whatsapp", "telegram")


def stored(conn) -> Counter:
    rows = conn.execute(select(touch_rollup)).all()
    return Counter({tuple(r[:-1]): r.n for r in rows if r.n})


def expected(conn) -> Counter:
    return Counter({tuple(r[:-1]): r.n for r in conn.execute(rollups.recomputed(conn)).all()})


def stays(conn) -> list[tuple]:
    return sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT {rollups.STAY_COLUMNS} FROM stage_stays").all())


def expected_stays(conn) -> list[tuple]:
    return sorted(tuple(r) for r in conn.exec_driver_sql(rollups.recomputed_stays(conn)).all())


@pytest.fixture
def store(migrated_url, b2c_model):
    engine = make_engine(migrated_url)
    yield JourneyStore(engine, b2c_model)
    engine.dispose()


def test_rollup_equals_recomputation_after_random_writes(store):
    rng = random.Random(8)
    refs = [ChannelRef(rng.choice(CHANNELS), f"u{i}") for i in range(12)]
    uids: dict[ChannelRef, str] = {}
    for n in range(150):
        ref = rng.choice(refs)
        at = T0 + timedelta(hours=rng.uniform(0, 72))
        intent = rng.choice(INTENTS)
        signal = Signal(f"s{n}", Source.CONVERSATION, at, intent=intent)
        out = store.record_signal(ref, signal, Touch(ref.channel, f"m{n}", intent, 0.9, rng.choice(EMOTIONS), "x"))
        uids[ref] = out.contact_uid
        if n % 25 == 24:
            with store.engine.begin() as conn:  # personas and creation times are set directly (no store API)
                conn.execute(update(contacts).where(contacts.c.uid == uids[ref]).values(persona=rng.choice(("p1", "p2", None))))
                conn.execute(update(contacts).where(contacts.c.uid == uids[rng.choice(list(uids))]).values(created_at=at - timedelta(days=1)))
        if n % 40 == 39:
            store.override_stage(uids[ref], rng.choice(store.model.stage_ids), "ann")
    # Merges move touchpoints between contacts (and possibly their persona buckets).
    store.verify_identifier(refs[0], "email", "a@example.com")
    store.verify_identifier(refs[1], "email", "a@example.com")
    store.erase(uids[refs[2]])
    with store.engine.begin() as conn:
        conn.execute(delete(contacts).where(contacts.c.uid == uids[refs[3]]))  # cascade
        conn.execute(delete(touchpoints).where(touchpoints.c.id % 7 == 0))
        conn.execute(update(touchpoints).where(touchpoints.c.id % 5 == 0).values(channel="facebook", at=T0 - timedelta(days=40)))
    with store.engine.connect() as conn:
        want = expected(conn)
        assert sum(want.values()) > 100
        assert {k[0] for k in want} == {"d", "m"} and len({k[1] for k in want}) > 4
        assert stored(conn) == want
        want_stays = expected_stays(conn)
        assert len(want_stays) > len(uids) and any(s[4] for s in want_stays)  # transitions made stays
        assert stays(conn) == want_stays


def test_rebuild_restores_the_rollup(store):
    ref = ChannelRef("socketio", "r1")
    for n in range(5):
        store.record_signal(ref, Signal(f"r{n}", Source.CONVERSATION, T0 + timedelta(days=n), intent="greet"), Touch("socketio", None, "greet", 0.9, None, "hi"))
    with store.engine.begin() as conn:
        conn.execute(update(touch_rollup).values(n=99))
        conn.execute(delete(stage_stays))
        assert stored(conn) != expected(conn)
        assert rollups.rebuild(conn) > 0
        assert stored(conn) == expected(conn)
        assert stays(conn) == expected_stays(conn) != []


# -- the dashboard's reads from the rollups equal the raw computation ---------------------------

from journey_state.analytics import Filters, facts, time_in_stage  # noqa: E402
from journey_state.analytics import touchpoints as touch_metrics  # noqa: E402
from journey_state.analytics._sql import duration_stats  # noqa: E402
from journey_state.store.tables import channel_identities, transitions  # noqa: E402


@pytest.fixture
def history(store):
    """Three months of random turns of 20 contacts on several channels and personas."""
    rng = random.Random(80)
    refs = [ChannelRef(CHANNELS[i % 3], f"h{i}") for i in range(20)]
    for n in range(400):
        ref = rng.choice(refs)
        at = T0 + timedelta(minutes=rng.randrange(90 * 24 * 60))  # whole minutes: durations compare exactly
        intent = rng.choice(INTENTS)
        store.record_signal(ref, Signal(f"h{n}", Source.CONVERSATION, at, intent=intent), Touch(ref.channel, None, intent, 0.9, rng.choice(EMOTIONS), "x"))
    with store.engine.begin() as conn:
        for i, ref in enumerate(refs):
            cid = conn.execute(select(channel_identities.c.contact_id).where(channel_identities.c.external_id == ref.external_id)).scalar_one()
            conn.execute(update(contacts).where(contacts.c.id == cid).values(persona=("p1", "p2", None)[i % 3], created_at=T0 + timedelta(days=i)))
    assert facts.refresh(store.engine, {store.model.id: store.model}) == len(refs)  # the dashboard does this before it reads
    return rng


def random_filters(rng, model) -> list[Filters]:
    out = []
    for _ in range(12):
        start = T0 + timedelta(hours=rng.uniform(-48, 80 * 24), seconds=rng.uniform(0, 3600))
        end = start + timedelta(hours=rng.choice((5, 30, 24 * 20, 24 * 70)), seconds=rng.uniform(0, 3600))
        out.append(Filters(start, end, model.id, rng.choice((None, "whatsapp")), rng.choice((None, "p1"))))
    return [*out, Filters(T0 - timedelta(days=1), T0 + timedelta(days=120), model.id)]


def test_touchpoint_counts_equal_the_raw_aggregate(store, history):
    with store.engine.connect() as conn:
        for f in random_filters(history, store.model):
            raw: Counter = Counter()
            touch_metrics._raw(conn, store.model, f, f.start, f.end, True, raw)
            rolled = touch_metrics.aggregate(conn, store.model, f)
            assert Counter({tuple(r[:4]): r[4] for r in rolled.rows}) == +raw, f


def _stays_in_python(conn, model, f: Filters) -> dict[str, dict]:
    """Time in stage from the raw contacts and transitions, as its docstring defines it."""
    who = select(contacts.c.id, contacts.c.created_at).where(contacts.c.journey_model == f.model)
    if f.persona:
        who = who.where(contacts.c.persona == f.persona)
    if f.channel:
        who = who.where(contacts.c.id.in_(select(channel_identities.c.contact_id).where(channel_identities.c.channel == f.channel)))
    closed: dict[str, list[float]] = {s: [] for s in model.stage_ids}
    ongoing: Counter = Counter()
    for cid, created in conn.execute(who).all():
        moves = conn.execute(
            select(transitions.c.to_value, transitions.c.at).where(transitions.c.contact_id == cid, transitions.c.kind == "stage").order_by(transitions.c.at, transitions.c.id)
        ).all()
        entries = [(created, model.initial_stage)] + [(at, stage) for stage, at in moves]
        entries = sorted((e for e in entries if e[0] < f.end), key=lambda e: e[0])  # creation sorts first on ties
        for (at, stage), nxt in zip(entries, [*entries[1:], None], strict=False):
            if f.start <= at < f.end:
                if nxt is None:
                    ongoing[stage] += 1
                else:
                    closed.setdefault(stage, []).append(max(0.0, (nxt[0] - at).total_seconds()))
    return {s: {**duration_stats(closed.get(s, [])), "ongoing": ongoing[s]} for s in model.stage_ids}


def test_time_in_stage_equals_a_python_recomputation(store, history):
    with store.engine.connect() as conn:
        for f in random_filters(history, store.model):
            stages = time_in_stage.compute(conn, store.model, f)["stages"]
            got = {s["stage"]: {k: v for k, v in s.items() if k not in ("stage", "label")} for s in stages}
            want = _stays_in_python(conn, store.model, f)
            assert got == want, f
