"""Identity proofs: signed web claims (HMAC), the proof recorder (cheap repeats, merges with
evidence) and that message metadata from a client can never claim a verified identity."""
from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timezone

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions import runtime
from actions.journey_turn import ActionJourneyTurn
from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef, Identifier
from journey_state.identity_proof import KNOWN, MERGED, RECORDED, ProofRecorder
from journey_state.identity_signing import BadIdentityClaim, claim_message, identity_hash, verified_identifiers
from journey_state.store import JourneyStore, Touch, make_engine
from journey_state.store.migrate import upgrade
from journey_state.store.tables import contact_identifiers

SECRET = "test-identity-secret-0123456789abcdef"
WEB = ChannelRef("socketio", "session-ann")
WA = ChannelRef("whatsapp", "+4915112345678")
PHONE = Identifier("phone", "+4915112345678")


# -- signed claims -----------------------------------------------------------------------------


def test_the_hash_is_hmac_sha256_over_kind_value_lines():
    assert claim_message({"phone": "+49 151", "email": "a@b.co"}) == "email:a@b.co\nphone:+49 151"
    expected = hmac.new(SECRET.encode(), b"email:Ann@Example.com", hashlib.sha256).hexdigest()
    assert identity_hash(SECRET, email="Ann@Example.com") == expected
    with pytest.raises(ValueError):
        identity_hash(SECRET)


def test_a_correctly_signed_claim_proves_its_normalised_identifiers():
    claim = {"email": "Ann@Example.com", "phone": "+49 151 1234 5678", "name": "Ann"}
    claim["user_hash"] = identity_hash(SECRET, email=claim["email"], phone=claim["phone"])
    assert verified_identifiers(SECRET, claim) == [Identifier("email", "ann@example.com"), PHONE]
    claim["user_hash"] = claim["user_hash"].upper()  # hex case does not matter
    assert len(verified_identifiers(SECRET, claim)) == 2


@pytest.mark.parametrize("claim", [
    {"email": "ann@example.com", "user_hash": identity_hash("another-secret-0123456789", email="ann@example.com")},
    {"email": "eve@example.com", "user_hash": identity_hash(SECRET, email="ann@example.com")},  # value swapped
    {"email": "ann@example.com", "phone": "+4915112345678", "user_hash": identity_hash(SECRET, email="ann@example.com")},
    {"email": "ann@example.com", "user_hash": ""},
    {"email": "ann@example.com", "user_hash": 12345},
    {"email": "ann@example.com"},
    {"user_hash": identity_hash(SECRET, email="ann@example.com")},  # nothing claimed
    {"email": ["ann@example.com"], "user_hash": "00"},
    {"email": "x" * 400, "user_hash": "00"},
    {"email": "not-an-email", "user_hash": identity_hash(SECRET, email="not-an-email")},  # signed but invalid
])
def test_forged_or_unreadable_claims_prove_nothing(claim):
    with pytest.raises(BadIdentityClaim):
        verified_identifiers(SECRET, claim)


# -- the proof recorder -----------------------------------------------------------------------


class CountingStore(JourneyStore):
    """The real store, counting how often a proof reaches the write path."""

    writes = 0

    def verify_identifier(self, *args, **kwargs):
        self.writes += 1
        return super().verify_identifier(*args, **kwargs)


@pytest.fixture
def store(migrated_url, b2c_model) -> CountingStore:
    return CountingStore(make_engine(migrated_url), b2c_model)


def say(store, who, msg_id, intent):
    at = datetime.now(timezone.utc)
    store.record_signal(who, Signal(f"msg:{msg_id}", Source.CONVERSATION, at, intent=intent, excerpt=intent),
                        Touch(who.channel, msg_id, intent, 0.9, None, intent))


def sources(store):
    with store.engine.connect() as conn:
        return conn.execute(select(contact_identifiers.c.value, contact_identifiers.c.source)).all()


def test_a_repeated_proof_costs_no_write_and_a_new_identity_merges_with_the_stage(store):
    clock = [0.0]
    recorder = ProofRecorder(store, ttl_s=60, clock=lambda: clock[0])
    say(store, WEB, "w1", "ask_pricing")
    say(store, WEB, "w2", "place_order")  # purchase on the web
    web_uid = store.contact_by_identity(WEB)["id"]

    assert recorder.prove(WEB, PHONE, "webchat").status == RECORDED
    assert recorder.prove(WEB, PHONE, "webchat").status == KNOWN
    assert store.writes == 1

    say(store, WA, "a1", "greet")  # a separate WhatsApp contact, still in awareness
    outcome = recorder.prove(WA, PHONE, "whatsapp")
    assert outcome.status == MERGED and outcome.merge.survivor_uid == web_uid
    merged = store.contact_by_identity(WA)
    assert merged["id"] == web_uid and merged["stage"] == "purchase"
    merge = next(t for t in merged["transitions"] if t["kind"] == "merge")
    assert merge["evidence"]["source"] == "whatsapp" and merge["evidence"]["signal_type"] == "identity_merge"
    assert sources(store) == [("+4915112345678", "webchat")]

    # The next hundred messages from WhatsApp are answered from the cache.
    for _ in range(100):
        assert recorder.prove(WA, PHONE, "whatsapp").status == KNOWN
    assert store.writes == 2

    # A fresh process (empty cache) needs one read, still no write.
    assert ProofRecorder(store).prove(WA, PHONE, "whatsapp").status == KNOWN
    assert store.writes == 2


def test_after_erasure_the_proof_is_made_again_once_the_cache_expires(store):
    clock = [0.0]
    recorder = ProofRecorder(store, ttl_s=60, clock=lambda: clock[0])
    recorder.prove(WA, PHONE, "whatsapp")
    store.erase(store.contact_by_identity(WA)["id"])
    assert recorder.prove(WA, PHONE, "whatsapp").status == KNOWN  # cached
    clock[0] = 61
    assert recorder.prove(WA, PHONE, "whatsapp").status == RECORDED
    assert store.contact_by_identity(WA)["identifiers"] == [{"kind": "phone", "value": PHONE.value}]


def test_the_cache_is_bounded(store):
    recorder = ProofRecorder(store, size=3)
    for i in range(5):
        recorder.prove(ChannelRef("whatsapp", f"+49151000000{i}"), Identifier("phone", f"+49151000000{i}"), "whatsapp")
    assert len(recorder._seen) == 3


# -- client metadata is never a proof -------------------------------------------------------------


@pytest.fixture
def action_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'actions.db'}"
    upgrade(url)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", url)
    monkeypatch.setenv("JOURNEYBOT_IDENTITY_SECRET", SECRET)
    runtime.reset()
    yield url
    runtime.reset()


@pytest.mark.parametrize("channel", ["rest", "socketio"])
def test_metadata_claiming_an_identity_is_ignored_by_the_action_server(action_db, channel):
    # Even a correctly signed claim: only the web chat channel checks claims, before Rasa sees them.
    claim = {"email": "ann@example.com", "phone": PHONE.value, "verified": True, "identity_verified": True,
             "user_hash": identity_hash(SECRET, email="ann@example.com", phone=PHONE.value)}
    message = {"text": "hi", "intent": {"name": "greet", "confidence": 0.99}, "entities": [], "message_id": "m1",
               "metadata": {**claim, "customData": claim}}
    events = [{"event": "user", "text": "hi", "timestamp": time.time(), "parse_data": message,
               "input_channel": channel, "message_id": "m1", "metadata": {**claim, "customData": claim}}]
    tracker = Tracker("intruder", {"journey_stage": None}, message, events, False, None, {}, "action_listen")
    ActionJourneyTurn().run(CollectingDispatcher(), tracker, {})
    store = runtime.services().store
    contact = store.contact_by_identity(ChannelRef(channel, "intruder"))
    assert contact is not None and contact["identifiers"] == []
    assert store.contact_by_identity(PHONE) is None
