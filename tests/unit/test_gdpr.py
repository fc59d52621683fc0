"""Export and erasure: everything about a contact, including Rasa's conversations in the same database."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select, text

from journey_state.business_events import parse_event
from journey_state.engine import Signal, Source
from journey_state.errors import ContactNotFound
from journey_state.identifiers import ChannelRef
from journey_state.store import JourneyStore, Touch, make_engine
from journey_state.store.schema import OWN_TABLES
from journey_state.store.tables import contacts, erasures, feedback, offer_events

T0 = datetime(2026, 4, 2, 8, 0, tzinfo=timezone.utc)
ANN = ChannelRef("rest", "ann-123")
BEN = ChannelRef("rest", "ben-456")


@pytest.fixture
def store(migrated_url, b2c_model) -> JourneyStore:
    return JourneyStore(make_engine(migrated_url), b2c_model)


def rasa_conversation(url: str, sender: str, texts: list[str]) -> None:
    """Store a conversation with Rasa's own SQL tracker store on the same database."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker_store = SQLTrackerStore(Domain.empty(), host=url)
    tracker = DialogueStateTracker(sender, slots=[])
    for t in texts:
        tracker.update(UserUttered(t, {"name": "greet", "confidence": 1.0}))
        tracker.update(BotUttered(f"echo {t}"))
    asyncio.run(tracker_store.save(tracker))
    tracker_store.engine.dispose()


def populate(store: JourneyStore, who: ChannelRef, prefix: str) -> str:
    for i, intent in enumerate(["greet", "ask_pricing", "place_order"]):
        at = T0 + timedelta(minutes=i)
        store.record_signal(who, Signal(f"{prefix}-{i}", Source.CONVERSATION, at, intent=intent, excerpt=f"{prefix} says {intent}"),
                            Touch(who.channel, f"{prefix}-{i}", intent, 0.9, "happy", f"{prefix} says {intent}"))
    store.record_event(parse_event({"idempotency_key": f"{prefix}-paid", "type": "order_paid", "contact": {"channel": who.channel, "external_id": who.external_id},
                                    "occurred_at": (T0 + timedelta(hours=1)).isoformat(), "payload": {"order_id": f"{prefix}-o1", "amount": 29}}))
    store.verify_identifier(who, "email", f"{prefix}@example.com")
    uid = store.contact_by_identity(who)["id"]
    with store.engine.begin() as conn:
        cid = conn.execute(select(contacts.c.id).where(contacts.c.uid == uid)).scalar()
        conn.execute(insert(feedback).values(contact_id=cid, kind="nps", score=9, comment="great", stage="purchase", channel=who.channel, at=T0 + timedelta(hours=2)))
        conn.execute(insert(offer_events).values(contact_id=cid, offer_id="first-bag-free", kind="shown", stage="consideration", channel=who.channel, at=T0 + timedelta(minutes=1, seconds=30)))
    return uid


def test_export_holds_everything_in_order(store, migrated_url):
    uid = populate(store, ANN, "ann")
    rasa_conversation(migrated_url, ANN.conversation_id, ["hello", "price?"])
    data = store.export(uid)
    assert data["contact"]["id"] == uid and data["contact"]["stage"] == "purchase"
    assert data["contact"]["identifiers"] == [{"kind": "email", "value": "ann@example.com"}]
    assert [e["idempotency_key"] for e in data["business_events"]] == ["ann-paid"]
    assert data["business_events"][0]["payload"] == {"order_id": "ann-o1", "amount": 29}
    assert [(f["kind"], f["score"]) for f in data["feedback"]] == [("nps", 9)]
    assert [o["offer_id"] for o in data["offers"]] == ["first-bag-free"]
    assert {"user", "bot"} <= {c["type"] for c in data["conversations"]}
    user_texts = [c["data"] for c in data["conversations"] if c["type"] == "user"]
    assert any("price?" in d for d in user_texts)
    timeline_types = [item["type"] for item in data["timeline"]]
    assert timeline_types[:2] == ["touchpoint", "touchpoint"]
    assert "offer_shown" in timeline_types and "feedback" in timeline_types and "business_event" in timeline_types
    ats = [item["at"] for item in data["timeline"]]
    assert ats == sorted(ats)


def test_erase_removes_the_contact_and_its_conversations_only(store, migrated_url):
    ann = populate(store, ANN, "ann")
    ben = populate(store, BEN, "ben")
    rasa_conversation(migrated_url, ANN.conversation_id, ["hello", "delete me"])
    rasa_conversation(migrated_url, BEN.conversation_id, ["hello"])
    before_ben = store.export(ben)

    receipt = store.erase(ann)

    assert receipt["contact_id"] == ann and len(receipt["receipt_id"]) == 32
    assert receipt["deleted"]["contacts"] == 1 and receipt["deleted"]["touchpoints"] == 3
    assert receipt["deleted"]["conversation_events"] > 0 and receipt["deleted"]["feedback"] == 1
    with pytest.raises(ContactNotFound):
        store.export(ann)
    assert store.contact_by_identity(ANN) is None
    engine = make_engine(migrated_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": ANN.conversation_id}).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": BEN.conversation_id}).scalar() > 0
        for name in OWN_TABLES - {"erasures"}:
            dump = " ".join(str(r) for r in conn.execute(text(f"SELECT * FROM {name}")).all())
            assert ann not in dump and "ann@example.com" not in dump and "ann says" not in dump, name
        record = conn.execute(select(erasures)).one()
    assert record.receipt_id == receipt["receipt_id"] and ann not in str(record)
    assert store.export(ben) == before_ben  # nobody else was touched


def test_erasing_an_unknown_contact_is_an_error_and_deletes_nothing(store):
    populate(store, BEN, "ben")
    with pytest.raises(ContactNotFound):
        store.erase("0" * 32)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar() == 1


def test_agent_override_is_recorded_as_agent_evidence(store):
    uid = populate(store, ANN, "ann")
    outcome = store.override_stage(uid, "advocacy", agent="maria", reason="wrote a glowing review by email")
    assert outcome.state.stage == "advocacy"
    last = store.contact(uid)["transitions"][-1]
    assert (last["from"], last["to"]) == ("purchase", "advocacy")
    assert last["evidence"]["source"] == "agent" and last["evidence"]["rule"] == "agent_override"
    assert last["evidence"]["excerpt"] == "maria: wrote a glowing review by email"
    with pytest.raises(ValueError, match="unknown stage 'legend'"):
        store.override_stage(uid, "legend", agent="maria")


def test_dormancy_job_marks_quiet_contacts_once(store):
    populate(store, ANN, "ann")                      # last activity T0 + 1h (event)
    store.record_signal(BEN, Signal("b1", Source.CONVERSATION, T0 + timedelta(days=40), intent="greet"))
    later = T0 + timedelta(days=45)
    assert store.mark_dormant(later) == 1            # ann: quiet for 45 days; ben: 5 days
    assert store.mark_dormant(later) == 0            # already dormant
    ann = store.contact_by_identity(ANN)
    assert ann["dormant"] is True and store.contact_by_identity(BEN)["dormant"] is False
    flag = [t for t in ann["transitions"] if t["kind"] == "dormant"]
    assert [(t["from"], t["to"], t["evidence"]["source"]) for t in flag] == [("off", "on", "time")]
    # Coming back clears it.
    store.record_signal(ANN, Signal("a-back", Source.CONVERSATION, later + timedelta(days=1), intent="greet"))
    assert store.contact_by_identity(ANN)["dormant"] is False


def test_erasure_reaches_only_the_contacts_own_channel_conversations(store, migrated_url):
    """The same sender id on another channel is somebody else's conversation and stays."""
    ann = populate(store, ANN, "ann")
    rasa_conversation(migrated_url, ANN.conversation_id, ["hello"])
    rasa_conversation(migrated_url, f"telegram:{ANN.external_id}", ["not ann"])
    store.erase(ann)
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            left = [s for (s,) in conn.execute(text("SELECT DISTINCT sender_id FROM events"))]
    finally:
        engine.dispose()
    assert left == [f"telegram:{ANN.external_id}"]
