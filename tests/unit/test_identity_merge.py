"""Identity merge: two contacts proving the same verified email/phone become one, losing nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from journey_state.business_events import parse_event
from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef, Identifier, InvalidIdentifier
from journey_state.store import JourneyStore, Touch, make_engine
from journey_state.store.tables import contact_merges, contacts, loyalty_ledger

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
WEB = ChannelRef("socketio", "web-visitor-1")
TG = ChannelRef("telegram", "777001")


@pytest.fixture
def store(migrated_url, b2c_model) -> JourneyStore:
    return JourneyStore(make_engine(migrated_url), b2c_model)


def say(store, who, msg_id, intent, minutes, emotion=None):
    at = T0 + timedelta(minutes=minutes)
    signal = Signal(f"msg:{msg_id}", Source.CONVERSATION, at, intent=intent, emotion=emotion, excerpt=f"{intent} text")
    return store.record_signal(who, signal, Touch(who.channel, msg_id, intent, 0.9, emotion, f"{intent} text"))


def credit(store, who, reference, points):
    uid = store.contact_by_identity(who)["id"]
    with store.engine.begin() as conn:
        contact_id = conn.execute(select(contacts.c.id).where(contacts.c.uid == uid)).scalar()
        conn.execute(insert(loyalty_ledger).values(contact_id=contact_id, points=points, reason="order", reference=reference, at=T0))


def test_merge_keeps_all_history_and_the_furthest_stage(store):
    say(store, WEB, "w1", "ask_pricing", 0)            # web contact: consideration
    say(store, WEB, "w2", "place_order", 1)            # → purchase
    say(store, TG, "t1", "greet", 5)                   # telegram contact: awareness
    say(store, TG, "t2", "ask_features", 6)            # → consideration
    credit(store, WEB, "order:AUR-1", 50)
    credit(store, TG, "order:AUR-2", 20)
    web_uid = store.contact_by_identity(WEB)["id"]
    tg_uid = store.contact_by_identity(TG)["id"]

    assert store.verify_identifier(WEB, "email", "Ann.Lee@Example.com") is None
    merge = store.verify_identifier(TG, "email", " ann.lee@example.COM ")

    assert merge is not None and merge.survivor_uid == web_uid and merge.merged_uid == tg_uid
    via_web, via_tg = store.contact_by_identity(WEB), store.contact_by_identity(TG)
    assert via_web == via_tg
    assert via_web["stage"] == "purchase"
    assert {i["channel"] for i in via_web["identities"]} == {"socketio", "telegram"}
    assert via_web["identifiers"] == [{"kind": "email", "value": "ann.lee@example.com"}]
    assert via_web["loyalty_points"] == 70
    kinds = [(t["kind"], t["from"], t["to"]) for t in via_web["transitions"]]
    assert ("stage", "awareness", "consideration") in kinds and ("stage", "consideration", "purchase") in kinds
    assert ("merge", tg_uid, web_uid) in kinds
    assert len([k for k in kinds if k[0] == "stage"]) == 3  # web's two moves and telegram's one, none lost
    assert [item["message_id"] for item in store.timeline(web_uid) if item["type"] == "touchpoint"] == ["w1", "w2", "t1", "t2"]
    # The merged id still resolves, to the survivor.
    assert store.contact(tg_uid)["id"] == web_uid
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar() == 1
        merge_row = conn.execute(select(contact_merges)).one()
    assert merge_row.merged_uid == tg_uid and merge_row.identifier_kind == "email"
    assert merge_row.moved["touchpoints"] == 2 and merge_row.moved["loyalty_ledger"] == 1


def test_merge_raises_stage_of_the_older_contact_when_the_newer_is_further(store):
    say(store, WEB, "w1", "greet", 0)
    say(store, TG, "t1", "place_order", 1)
    store.verify_identifier(WEB, "phone", "+49 151 1234-5678")
    merge = store.verify_identifier(TG, "phone", "004915112345678")
    view = store.contact_by_identity(WEB)
    assert merge.survivor_uid == view["id"] and view["stage"] == "purchase"
    merge_stage = [t for t in view["transitions"] if t["kind"] == "stage" and t["evidence"]["rule"] == "identity_merge"]
    assert [(t["from"], t["to"]) for t in merge_stage] == [("awareness", "purchase")]


def test_same_signal_and_loyalty_reference_on_both_sides_count_once(store):
    event = parse_event({"idempotency_key": "k-1", "type": "order_paid", "contact": {"channel": "socketio", "external_id": WEB.external_id}})
    store.record_event(event)
    say(store, TG, "t1", "greet", 0)
    credit(store, WEB, "order:AUR-9", 30)
    credit(store, TG, "order:AUR-9", 30)
    store.verify_identifier(WEB, "email", "x@example.org")
    store.verify_identifier(TG, "email", "x@example.org")
    assert store.contact_by_identity(TG)["loyalty_points"] == 30


def test_verifying_again_or_on_the_same_contact_changes_nothing(store):
    say(store, WEB, "w1", "greet", 0)
    assert store.verify_identifier(WEB, "email", "a@b.co") is None
    assert store.verify_identifier(WEB, "email", "A@B.CO") is None
    assert len(store.contact_by_identity(WEB)["identifiers"]) == 1


def test_events_can_reference_contacts_by_email_and_merge_later(store):
    by_email = parse_event({"idempotency_key": "shop-1", "type": "order_placed", "contact": {"email": "Kim@Shop.example"}})
    first = store.record_event(by_email)
    assert first.outcome.state.stage == "purchase"
    say(store, TG, "t1", "track_order", 3)
    merge = store.verify_identifier(TG, "email", "kim@shop.example")
    assert merge.survivor_uid == first.outcome.contact_uid
    assert store.contact_by_identity(TG)["stage"] == "purchase"
    assert store.contact_by_identity(Identifier("email", "kim@shop.example"))["id"] == first.outcome.contact_uid


@pytest.mark.parametrize("kind, value", [("email", "not-an-email"), ("phone", "0151 123"), ("phone", "+12"), ("fax", "+4912345678")])
def test_invalid_identifiers_are_rejected_and_nothing_is_written(store, kind, value):
    say(store, WEB, "w1", "greet", 0)
    with pytest.raises(InvalidIdentifier):
        store.verify_identifier(WEB, kind, value)
    assert store.contact_by_identity(WEB)["identifiers"] == []
