"""JourneyStore on SQLite and PostgreSQL (journey_state/store/)."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from journey_state.engine import Signal, Source, decide, initial_state
from journey_state.errors import StoreUnavailable
from journey_state.store import ChannelRef, JourneyStore, Touch, make_engine, migrate
from journey_state.store.tables import applied_signals, channel_identities, contacts, touchpoints, transitions

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
ALICE = ChannelRef("telegram", "1001")


@pytest.fixture
def store(migrated_url, b2c_model):
    engine = make_engine(migrated_url)
    yield JourneyStore(engine, b2c_model)
    engine.dispose()


def said(signal_id, intent, at, emotion=None, excerpt="", confidence=0.9):
    return Signal(signal_id, Source.CONVERSATION, at, intent=intent, emotion=emotion, excerpt=excerpt, confidence=confidence)


def event(signal_id, name, at, excerpt=""):
    return Signal(signal_id, Source.EVENT, at, event=name, excerpt=excerpt or name)


def touch(intent=None, text="", message_id=None, emotion=None, confidence=0.9, channel="telegram"):
    return Touch(channel=channel, message_id=message_id, intent=intent, confidence=confidence, emotion=emotion, excerpt=text)


def count(store, table, **where):
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with store.engine.connect() as conn:
        return conn.execute(query).scalar_one()


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0), value
    return parsed


# -- contacts and transitions ----------------------------------------------------------


def test_unknown_identity_has_no_contact(store):
    assert store.contact_by_identity(ALICE) is None


def test_first_signal_creates_the_contact(store):
    outcome = store.record_signal(ALICE, said("m1", "ask_pricing", T0, excerpt="how much?"), touch("ask_pricing", "how much?", "m1"))
    assert not outcome.duplicate
    assert outcome.state.stage == "consideration"
    assert [(t.kind, t.from_value, t.to_value) for t in outcome.transitions] == [("stage", "awareness", "consideration")]
    assert len(outcome.contact_uid) == 32

    view = store.contact_by_identity(ALICE)
    assert view["id"] == outcome.contact_uid
    assert view["journey_model"] == "b2c"
    assert (view["stage"], view["stage_label"]) == ("consideration", "Consideration")
    assert view["at_risk"] is False and view["dormant"] is False
    assert view["identities"] == [{"channel": "telegram", "external_id": "1001"}]
    assert parse_iso(view["last_activity_at"]) == T0
    assert view["transitions"] == [
        {
            "kind": "stage",
            "from": "awareness",
            "to": "consideration",
            "at": view["transitions"][0]["at"],
            "evidence": {
                "signal_type": "intent",
                "source": "conversation",
                "signal_id": "m1",
                "excerpt": "how much?",
                "confidence": 0.9,
                "rule": "evaluates_offer",
            },
        }
    ]
    assert parse_iso(view["transitions"][0]["at"]) == T0
    assert count(store, contacts) == 1 and count(store, channel_identities) == 1


def test_signal_that_changes_nothing_still_creates_contact(store):
    outcome = store.record_signal(ALICE, said("m1", "greet", T0))
    assert outcome.transitions == () and outcome.state.stage == "awareness"
    view = store.contact_by_identity(ALICE)
    assert view["stage"] == "awareness" and view["transitions"] == []
    assert count(store, applied_signals) == 1


def test_journey_is_read_back_in_order_with_evidence(store, b2c_model):
    signals = [
        said("m1", "ask_pricing", T0, excerpt="prices?"),
        said("m2", "place_order", T0 + timedelta(minutes=5), emotion="angry", excerpt="order now!"),
        event("e1", "order_cancelled", T0 + timedelta(hours=1), excerpt="order_cancelled: order=A1"),
        Signal("a1", Source.AGENT, T0 + timedelta(hours=2), target_stage="retention", excerpt="fixed by support"),
        event("e2", "review_posted", T0 + timedelta(days=3)),
    ]
    state = initial_state(b2c_model)
    expected = []
    for signal in signals:
        outcome = store.record_signal(ALICE, signal)
        decision = decide(b2c_model, state, signal)
        assert outcome.state == decision.state and outcome.transitions == decision.transitions
        state = decision.state
        expected += [
            (t.kind, t.from_value, t.to_value, t.evidence.signal_id, t.evidence.rule, t.evidence.excerpt) for t in decision.transitions
        ]

    view = store.contact_by_identity(ALICE)
    got = [
        (t["kind"], t["from"], t["to"], t["evidence"]["signal_id"], t["evidence"]["rule"], t["evidence"]["excerpt"])
        for t in view["transitions"]
    ]
    assert got == expected
    assert got == [
        ("stage", "awareness", "consideration", "m1", "evaluates_offer", "prices?"),
        ("stage", "consideration", "purchase", "m2", "decides_to_buy", "order now!"),
        ("at_risk", "off", "on", "m2", "at_risk", "order now!"),
        ("stage", "purchase", "consideration", "e1", "order_withdrawn", "order_cancelled: order=A1"),
        ("stage", "consideration", "retention", "a1", "agent_override", "fixed by support"),
        ("stage", "retention", "advocacy", "e2", "recommends_brand", "review_posted"),
        ("at_risk", "on", "off", "e2", "at_risk_cleared", "review_posted"),
    ]
    assert [t["evidence"]["source"] for t in view["transitions"]] == [
        "conversation", "conversation", "conversation", "event", "agent", "event", "event",
    ]
    stage_chain = [t for t in view["transitions"] if t["kind"] == "stage"]
    for previous, current in itertools.pairwise(stage_chain):
        assert current["from"] == previous["to"]
    assert view["stage"] == "advocacy" and view["at_risk"] is False


def test_lazy_dormancy_is_stored(store):
    store.record_signal(ALICE, said("m1", "greet", T0))
    outcome = store.record_signal(ALICE, said("m2", "ask_pricing", T0 + timedelta(days=40)))
    assert [(t.kind, t.to_value) for t in outcome.transitions] == [("dormant", "on"), ("dormant", "off"), ("stage", "consideration")]
    view = store.contact_by_identity(ALICE)
    assert [(t["kind"], t["to"]) for t in view["transitions"]] == [("dormant", "on"), ("dormant", "off"), ("stage", "consideration")]
    assert parse_iso(view["transitions"][0]["at"]) == T0 + timedelta(days=30)
    assert view["dormant"] is False


def test_time_signal_marks_contact_dormant(store):
    store.record_signal(ALICE, said("m1", "greet", T0))
    outcome = store.record_signal(ALICE, Signal("tick-1", Source.TIME, T0 + timedelta(days=31)))
    assert outcome.state.dormant
    view = store.contact_by_identity(ALICE)
    assert view["dormant"] is True
    assert parse_iso(view["last_activity_at"]) == T0
    assert view["transitions"][-1]["evidence"]["signal_type"] == "inactivity"


# -- idempotency --------------------------------------------------------------------------


def test_replaying_a_signal_id_changes_nothing(store):
    first = store.record_signal(ALICE, said("m1", "ask_pricing", T0), touch("ask_pricing", "prices?", "m1"))
    before = store.contact_by_identity(ALICE)
    replay = store.record_signal(ALICE, said("m1", "ask_pricing", T0), touch("ask_pricing", "prices?", "m1"))
    assert replay.duplicate is True
    assert replay.transitions == ()
    assert replay.contact_uid == first.contact_uid
    assert replay.state == first.state
    assert store.contact_by_identity(ALICE) == before
    assert count(store, transitions) == 1
    assert count(store, applied_signals) == 1
    assert count(store, touchpoints) == 1


def test_replay_with_different_content_is_still_a_duplicate(store):
    store.record_signal(ALICE, said("m1", "greet", T0))
    replay = store.record_signal(ALICE, said("m1", "place_order", T0 + timedelta(minutes=1)))
    assert replay.duplicate and replay.transitions == ()
    view = store.contact_by_identity(ALICE)
    assert view["stage"] == "awareness" and view["transitions"] == []
    assert parse_iso(view["last_activity_at"]) == T0


def test_replay_after_other_signals_does_not_reapply(store):
    store.record_signal(ALICE, event("e1", "order_placed", T0))
    store.record_signal(ALICE, event("e2", "order_cancelled", T0 + timedelta(hours=1)))
    replay = store.record_signal(ALICE, event("e1", "order_placed", T0))
    assert replay.duplicate and replay.state.stage == "consideration"
    assert store.contact_by_identity(ALICE)["stage"] == "consideration"
    assert count(store, transitions, kind="stage") == 2


def test_signal_ids_are_per_contact(store):
    bob = ChannelRef("telegram", "1002")
    a = store.record_signal(ALICE, said("m1", "ask_pricing", T0))
    b = store.record_signal(bob, said("m1", "ask_pricing", T0))
    assert not a.duplicate and not b.duplicate
    assert a.contact_uid != b.contact_uid
    assert count(store, applied_signals) == 2


# -- identities ----------------------------------------------------------------------------


def test_identities_are_separate_contacts(store):
    refs = [ALICE, ChannelRef("web", "1001"), ChannelRef("telegram", "1002")]
    uids = {store.record_signal(ref, said(f"m-{i}", "greet", T0)).contact_uid for i, ref in enumerate(refs)}
    assert len(uids) == 3
    assert count(store, contacts) == 3
    store.record_signal(refs[1], said("m-x", "place_order", T0))
    assert store.contact_by_identity(refs[1])["stage"] == "purchase"
    assert store.contact_by_identity(ALICE)["stage"] == "awareness"
    assert store.contact_by_identity(refs[2])["identities"] == [{"channel": "telegram", "external_id": "1002"}]


def test_same_identity_is_the_same_contact(store):
    uids = {store.record_signal(ALICE, said(f"m{i}", "greet", T0 + timedelta(minutes=i))).contact_uid for i in range(3)}
    assert len(uids) == 1
    assert count(store, contacts) == 1


@pytest.mark.parametrize("channel,external", [("", "1"), ("web", ""), ("web", "x" * 256)])
def test_channel_ref_validation(channel, external):
    with pytest.raises(ValueError):
        ChannelRef(channel, external)


# -- touchpoints and datetimes ---------------------------------------------------------------


def test_touch_rows_are_stored(store):
    store.record_signal(ALICE, said("m1", "ask_pricing", T0), touch("ask_pricing", "how much?", "m1", "neutral", 0.81))
    store.record_signal(ALICE, said("m2", "place_order", T0 + timedelta(minutes=1)), touch("place_order", "y" * 800, "m2"))
    store.record_signal(ALICE, event("e1", "order_paid", T0 + timedelta(minutes=2)))  # no touch
    with store.engine.connect() as conn:
        rows = conn.execute(select(touchpoints).order_by(touchpoints.c.id)).all()
        contact_id = conn.execute(select(contacts.c.id)).scalar_one()
    assert len(rows) == 2
    first, second = rows
    assert (first.contact_id, first.channel, first.message_id, first.intent, first.emotion) == (
        contact_id, "telegram", "m1", "ask_pricing", "neutral",
    )
    assert first.confidence == pytest.approx(0.81)
    assert first.stage == "consideration"  # the stage after the signal
    assert first.excerpt == "how much?"
    assert first.at == T0
    assert second.stage == "purchase"
    assert second.excerpt == "y" * 500
    assert second.at == T0 + timedelta(minutes=1)


def test_datetimes_come_back_timezone_aware_utc(store):
    local = timezone(timedelta(hours=2))
    at = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=local)
    store.record_signal(ALICE, said("m1", "ask_pricing", at), touch("ask_pricing", "hi", "m1"))
    with store.engine.connect() as conn:
        contact = conn.execute(select(contacts)).one()
        values = [
            contact.created_at,
            contact.updated_at,
            contact.last_activity_at,
            conn.execute(select(transitions.c.at)).scalar_one(),
            conn.execute(select(applied_signals.c.at)).scalar_one(),
            conn.execute(select(touchpoints.c.at)).scalar_one(),
            conn.execute(select(channel_identities.c.created_at)).scalar_one(),
        ]
    for value in values:
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0), value
    assert contact.last_activity_at == at
    assert contact.last_activity_at.hour == 12  # 14:30+02:00 stored as 12:30 UTC
    assert abs(contact.created_at - datetime.now(timezone.utc)) < timedelta(minutes=5)
    view = store.contact_by_identity(ALICE)
    assert parse_iso(view["last_activity_at"]) == at
    assert parse_iso(view["created_at"]) == contact.created_at
    assert view["transitions"][0]["at"] == "2026-06-01T12:30:15.123456+00:00"


def test_naive_datetimes_are_refused(store):
    with pytest.raises(Exception, match="naive datetime"):
        store.record_signal(ALICE, said("m1", "greet", datetime(2026, 1, 1, 12, 0)))
    assert store.contact_by_identity(ALICE) is None  # the whole transaction rolled back


# -- migrations state -------------------------------------------------------------------------


def test_pending_on_empty_database_and_not_after_upgrade(database_url):
    assert migrate.pending(database_url) is True
    migrate.upgrade(database_url)
    assert migrate.pending(database_url) is False


# -- unreachable databases ----------------------------------------------------------------------


def unreachable_urls(tmp_path):
    return {
        "postgres": "postgresql://postgres@127.0.0.1:1/nope",
        "sqlite": f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'journeybot.db'}",
    }


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_unreachable_database_gives_store_unavailable(tmp_path, b2c_model, backend):
    url = unreachable_urls(tmp_path)[backend]
    engine = make_engine(url)
    store = JourneyStore(engine, b2c_model)
    calls = {
        "record_signal": lambda: store.record_signal(ALICE, said("m1", "greet", T0)),
        "contact_by_identity": lambda: store.contact_by_identity(ALICE),
        "upgrade": lambda: migrate.upgrade(url),
        "pending": lambda: migrate.pending(url),
    }
    reason = "Connection refused" if backend == "postgres" else "unable to open database file"
    try:
        for name, call in calls.items():
            with pytest.raises(StoreUnavailable) as info:
                call()
            message = str(info.value)
            assert reason in message, (name, message)
            assert "unavailable" in message or "cannot migrate" in message, (name, message)
            assert "Traceback" not in message and "sqlalche.me" not in message, (name, message)
            assert info.value.__cause__ is None and info.value.__suppress_context__, name
    finally:
        engine.dispose()
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("url", ["not a url", "://nothing"])
def test_bad_url_gives_store_unavailable(url):
    with pytest.raises(StoreUnavailable, match="bad database URL"):
        make_engine(url)
