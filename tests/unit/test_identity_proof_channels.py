"""Each channel's proof path, served by a real Sanic app against the fakes of the outside APIs:
WhatsApp (Cloud API and Twilio) prove the sender's number, Telegram the user's own shared
contact, the web chat a claim signed with JOURNEYBOT_IDENTITY_SECRET. Forgeries prove nothing."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import uuid
from datetime import datetime, timezone

import pytest
import requests
from rasa.core.channels.channel import UserMessage
from sqlalchemy import select

from bot.channels import identity_proof
from bot.channels.telegram.channel import TelegramInput
from bot.channels.webchat.identity import SignedIdentity
from bot.channels.whatsapp.cloud.channel import WhatsAppInput
from bot.channels.whatsapp.cloud.config import load_whatsapp_config
from bot.channels.whatsapp.twilio.channel import TwilioWhatsAppInput
from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef, Identifier
from journey_state.identity_signing import identity_hash
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, Touch, make_engine, migrate
from journey_state.store.tables import contact_identifiers
from tests.conftest import BUSINESS_DIR, JOURNEYS_DIR
from tests.fakes import telegram as tg
from tests.fakes import twilio as tw
from tests.fakes import whatsapp as wa
from tests.unit.test_telegram_channel import Served

SECRET = "web-identity-secret-0123456789abcdef"
TG_SECRET = "s3cret-Token_for-tests"
update_ids = itertools.count(50_000)


def number() -> str:
    return "+4915" + str(uuid.uuid4().int)[:9]


@pytest.fixture
def db(sqlite_url):
    migrate.upgrade(sqlite_url)
    identity_proof.reset()
    yield sqlite_url
    identity_proof.reset()


@pytest.fixture
def store(db) -> JourneyStore:
    journeys = JourneyStore(make_engine(db), load_named_model(JOURNEYS_DIR, "b2c"))
    yield journeys
    journeys.engine.dispose()


@pytest.fixture
def writes(monkeypatch):
    """How many proofs reached the store's write path (the real method, counted)."""
    calls = []
    real = JourneyStore.verify_identifier

    def counted(self, *args, **kwargs):
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(JourneyStore, "verify_identifier", counted)
    return calls


class Rasa:
    """Stands in for Rasa's message handler; notes whether the sender's phone was proven by then."""

    def __init__(self, store: JourneyStore):
        self.store = store
        self.messages: list[tuple[UserMessage, list]] = []
        self.lock = threading.Lock()

    async def __call__(self, message: UserMessage) -> None:
        contact = await asyncio.to_thread(self.store.contact_by_identity, ChannelRef.from_conversation_id(message.sender_id))
        with self.lock:
            self.messages.append((message, contact["identifiers"] if contact else []))


def proven(store: JourneyStore) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(contact_identifiers.c.kind, contact_identifiers.c.value,
                                                      contact_identifiers.c.source).order_by(contact_identifiers.c.id))]


def say(store, who, msg_id, intent):
    store.record_signal(who, Signal(f"msg:{msg_id}", Source.CONVERSATION, datetime.now(timezone.utc), intent=intent),
                        Touch(who.channel, msg_id, intent, 0.9, None, intent))


@pytest.fixture
def serve():
    started = []

    def start(channel, handler) -> str:
        server = Served(channel, handler)
        started.append(server)
        return f"http://127.0.0.1:{server.port}/webhooks/{channel.url_prefix()}/webhook"

    yield start
    for server in started:
        server.stop()


# -- WhatsApp Cloud API --------------------------------------------------------------------------


@pytest.fixture
def graph():
    fake = wa.FakeGraph().start()
    yield fake
    fake.stop()


def cloud_channel(db, graph) -> WhatsAppInput:
    return WhatsAppInput(verify_token=wa.VERIFY_TOKEN, app_secret=wa.APP_SECRET, access_token=wa.TOKEN,
                         phone_number_id=wa.PHONE_NUMBER_ID, config=load_whatsapp_config(BUSINESS_DIR / "whatsapp.yml"),
                         database_url=db, graph_base_url=graph.base_url, graph_version=wa.VERSION)


def post_cloud(url, sender, text, secret=wa.APP_SECRET):
    body = json.dumps(wa.notification(wa.value([wa.text_message(sender.lstrip("+"), text, "wamid." + uuid.uuid4().hex)]))).encode()
    return requests.post(url, data=body, headers={"Content-Type": "application/json", "X-Hub-Signature-256": wa.sign(body, secret)}, timeout=30)


def test_whatsapp_sender_number_is_proven_before_the_turn_and_only_once(db, store, graph, serve, writes):
    rasa = Rasa(store)
    channel = cloud_channel(db, graph)
    url = serve(channel, rasa)
    ana = number()
    for text in ("hi", "how much is premium?", "thanks"):
        assert post_cloud(url, ana, text).status_code == 200
    assert proven(store) == [("phone", ana, "whatsapp")]
    # The first turn already found the proven phone on its contact.
    assert [ids for _, ids in rasa.messages] == [[{"kind": "phone", "value": ana}]] * 3
    assert len(writes) == 1  # later messages: answered from the cache, no merge attempt
    channel.store.engine.dispose()


def test_a_forged_whatsapp_webhook_proves_nothing(db, store, graph, serve):
    rasa = Rasa(store)
    channel = cloud_channel(db, graph)
    url = serve(channel, rasa)
    assert post_cloud(url, number(), "hi", secret="not-the-app-secret").status_code == 403
    assert proven(store) == [] and rasa.messages == []
    channel.store.engine.dispose()


def test_whatsapp_merges_with_the_contact_that_proved_the_number_elsewhere(db, store, graph, serve):
    ana = number()
    web = ChannelRef("socketio", "web-ana")
    say(store, web, "w1", "ask_pricing")
    say(store, web, "w2", "place_order")
    store.verify_identifier(web, "phone", ana, "webchat")
    rasa = Rasa(store)
    channel = cloud_channel(db, graph)
    assert post_cloud(serve(channel, rasa), ana, "where is my order?").status_code == 200
    contact = store.contact_by_identity(ChannelRef("whatsapp", ana))
    assert contact["id"] == store.contact_by_identity(web)["id"] and contact["stage"] == "purchase"
    assert {i["channel"] for i in contact["identities"]} == {"socketio", "whatsapp"}
    merge = [t for t in contact["transitions"] if t["kind"] == "merge"]
    assert len(merge) == 1 and merge[0]["evidence"]["source"] == "whatsapp"
    channel.store.engine.dispose()


# -- Twilio WhatsApp -----------------------------------------------------------------------------


@pytest.fixture
def twilio_api():
    fake = tw.FakeTwilio().start()
    yield fake
    fake.stop()


def test_twilio_proves_the_number_only_after_the_signature_check(db, store, twilio_api, serve):
    rasa = Rasa(store)
    channel = TwilioWhatsAppInput(tw.ACCOUNT_SID, tw.AUTH_TOKEN, tw.WHATSAPP_NUMBER, public_base_url="https://bot.example.com",
                                  api_base_url=twilio_api.base_url, database_url=db)
    url = serve(channel, rasa)
    public = "https://bot.example.com/webhooks/twilio_whatsapp/webhook"
    bob, eve = number(), number()
    form = tw.inbound_form(bob, "hi")
    assert requests.post(url, data=form, headers={"X-Twilio-Signature": tw.signature(public, form)}, timeout=30).status_code == 200
    forged = tw.inbound_form(eve, "hi")
    bad = requests.post(url, data=forged, headers={"X-Twilio-Signature": tw.signature(public, forged, "f" * 32)}, timeout=30)
    assert bad.status_code == 403
    assert proven(store) == [("phone", bob, "twilio_whatsapp")]
    assert [m.sender_id for m, _ in rasa.messages] == [f"whatsapp:{bob}"]
    channel.store.engine.dispose()


# -- Telegram --------------------------------------------------------------------------------------


@pytest.fixture
def telegram():
    fake = tg.FakeTelegram().start()
    yield fake
    fake.stop()


def tg_channel(db, telegram) -> TelegramInput:
    return TelegramInput(tg.TOKEN, TG_SECRET, db, api_base_url=telegram.base_url)


def test_the_users_own_shared_contact_proves_their_phone_and_links_the_contact(db, store, telegram, serve):
    ana, chat = number(), 7_000_001
    web = ChannelRef("socketio", "web-ana")
    say(store, web, "w1", "ask_pricing")
    store.verify_identifier(web, "phone", ana, "webchat")
    rasa = Rasa(store)
    url = serve(tg_channel(db, telegram), rasa)

    # Offered on /phone: a one-time keyboard whose button shares the user's own number.
    assert tg.deliver(url, tg.text_update(next(update_ids), chat, "/phone"), TG_SECRET).status_code == 200
    [offer] = telegram.wait_for("sendMessage", 1)
    assert offer.markup["keyboard"] == [[{"text": "Share my phone number", "request_contact": True}]]

    # Telegram sends the number without "+"; the contact is merged with the web one.
    own = tg.contact_update(next(update_ids), chat, ana.lstrip("+"), user_id=chat)
    assert tg.deliver(url, own, TG_SECRET).status_code == 200
    confirm = telegram.wait_for("sendMessage", 2)[1]
    assert confirm.params["text"].startswith("Thanks! Your phone number is confirmed, and I've linked this chat")
    assert confirm.markup == {"remove_keyboard": True}
    contact = store.contact_by_identity(ChannelRef("telegram", str(chat)))
    assert contact["id"] == store.contact_by_identity(web)["id"] and contact["stage"] == "consideration"
    assert [t["evidence"]["source"] for t in contact["transitions"] if t["kind"] == "merge"] == ["telegram"]
    assert rasa.messages == []  # a contact share is not a turn


def test_a_new_phone_is_confirmed_without_linking(db, store, telegram, serve):
    chat = 7_000_002
    url = serve(tg_channel(db, telegram), Rasa(store))
    assert tg.deliver(url, tg.contact_update(next(update_ids), chat, "+44 7700 900123", user_id=chat), TG_SECRET).status_code == 200
    assert telegram.wait_for("sendMessage", 1)[0].params["text"] == "Thanks! Your phone number is confirmed."
    assert proven(store) == [("phone", "+447700900123", "telegram")]


@pytest.mark.parametrize("user_id, chat_type, reply", [
    (4_242_424, "private", "That is someone else's contact"),  # a friend's contact
    (None, "private", "That is someone else's contact"),       # a contact typed in, not a Telegram user
    ("chat", "group", "Sorry, I can only read text messages"),  # own contact, but in a group
])
def test_someone_elses_contact_or_a_group_share_proves_nothing(db, store, telegram, serve, user_id, chat_type, reply):
    chat = 7_000_003
    rasa = Rasa(store)
    url = serve(tg_channel(db, telegram), rasa)
    update = tg.contact_update(next(update_ids), chat, number(), user_id=chat if user_id == "chat" else user_id, chat_type=chat_type)
    assert tg.deliver(url, update, TG_SECRET).status_code == 200
    [sent] = telegram.wait_for("sendMessage", 1)
    assert sent.params["text"].startswith(reply)
    if chat_type == "private":
        assert sent.markup["keyboard"][0][0]["request_contact"] is True
    assert proven(store) == [] and rasa.messages == []


# -- web chat ----------------------------------------------------------------------------------------


def signed(email=None, phone=None, secret=SECRET, **extra):
    return {**({"email": email} if email else {}), **({"phone": phone} if phone else {}),
            "user_hash": identity_hash(secret, email=email, phone=phone), **extra}


def test_a_signed_web_claim_proves_email_and_phone_and_the_hash_never_reaches_rasa(db, store):
    identity = SignedIdentity("socketio", SECRET, db)
    data = {"message": "hi", "session_id": "s1", "customData": signed("Ann@Example.com", "+49 151 1234 5678", plan="premium")}
    cleaned = asyncio.run(identity.apply("s1", data, ("customData", "metadata")))
    assert cleaned["customData"] == {"email": "Ann@Example.com", "phone": "+49 151 1234 5678", "plan": "premium"}
    assert data["customData"]["user_hash"]  # the caller's dict is left alone
    assert proven(store) == [("email", "ann@example.com", "webchat"), ("phone", "+4915112345678", "webchat")]
    contact = store.contact_by_identity(Identifier("email", "ann@example.com"))
    assert contact["identities"][0]["channel"] == "socketio" and contact["identities"][0]["external_id"] == "s1"


@pytest.mark.parametrize("claim", [
    signed("ann@example.com", secret="a-guessed-secret-0123456789"),
    {**signed("ann@example.com"), "email": "eve@example.com"},
    {"email": "ann@example.com", "user_hash": "0" * 64},
    json.dumps(signed("ann@example.com", secret="a-guessed-secret-0123456789")),  # as a JSON string
])
def test_a_forged_web_claim_is_logged_and_ignored(db, store, caplog, claim):
    caplog.set_level(logging.WARNING)
    identity = SignedIdentity("socketio", SECRET, db)
    cleaned = asyncio.run(identity.apply("s2", {"message": "hi", "metadata": claim}, ("customData", "metadata")))
    assert "user_hash" not in cleaned["metadata"]
    assert proven(store) == [] and store.contact_by_identity(ChannelRef("socketio", "s2")) is None
    assert "identity claim for session s2 rejected" in caplog.text


@pytest.mark.parametrize("secret", [None, "short"])
def test_without_a_usable_secret_no_claim_is_trusted(db, store, caplog, secret):
    caplog.set_level(logging.WARNING)
    identity = SignedIdentity("socketio", secret, db)
    asyncio.run(identity.apply("s3", {"message": "hi", "customData": signed("ann@example.com", secret=secret or "x" * 20)}, ("customData",)))
    assert proven(store) == []
    assert "JOURNEYBOT_IDENTITY_SECRET" in caplog.text


def test_an_unavailable_store_does_not_lose_the_message(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    identity_proof.reset()
    identity = SignedIdentity("socketio", SECRET, f"sqlite:///{tmp_path / 'not-migrated.db'}")
    cleaned = asyncio.run(identity.apply("s4", {"message": "hi", "customData": signed("ann@example.com")}, ("customData",)))
    assert cleaned["message"] == "hi"
    assert "not applied (retried with the next message)" in caplog.text
    identity_proof.reset()
