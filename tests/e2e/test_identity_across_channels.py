"""One contact across channels, through the real Rasa server, action server and console:
a signed-in web customer advances their stage, proves the same phone on Telegram (own contact)
and writes on WhatsApp; all three identities end up on one contact that kept stage and history.
Forged web claims and REST metadata claiming the phone prove nothing."""
from __future__ import annotations

import json
import queue
import random
import uuid
from urllib.parse import quote

import pytest
import requests
import socketio

from journey_state.identity_signing import identity_hash
from tests.fakes import telegram as tg
from tests.fakes import whatsapp as wa

IDENTITY_SECRET = "e2e-identity-secret-0123456789abcdef"
TG_SECRET = "e2e-webhook-secret_0123456789"
PRICING = "how much does the premium plan cost?"


@pytest.fixture()
def telegram():
    fake = tg.FakeTelegram().start()
    yield fake
    fake.stop()


def credentials(tmp_path, graph, telegram) -> str:
    path = tmp_path / "credentials-identity.yml"
    path.write_text(f"""bot.channels.rest.RestInput:
bot.channels.webchat.WebChatInput:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: true
bot.channels.telegram.TelegramInput:
  token_env: ID_TELEGRAM_BOT_TOKEN
  secret_env: ID_TELEGRAM_WEBHOOK_SECRET
  api_base_url: {telegram.base_url}
bot.channels.whatsapp.cloud.WhatsAppInput:
  verify_token_env: ID_WHATSAPP_VERIFY_TOKEN
  app_secret_env: ID_WHATSAPP_APP_SECRET
  access_token_env: ID_WHATSAPP_ACCESS_TOKEN
  phone_number_id_env: ID_WHATSAPP_PHONE_NUMBER_ID
  graph_base_url: {graph.base_url}
  graph_version: {wa.VERSION}
""")
    return str(path)


class WebVisitor:
    """The storefront widget: socket.io long-polling, with the site's customData on every message."""

    def __init__(self, rasa_url: str, custom_data: dict):
        self.session_id = uuid.uuid4().hex
        self.custom_data = custom_data
        self.replies: queue.Queue = queue.Queue()
        confirmed: queue.Queue = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("bot_uttered", self.replies.put)
        self.client.on("session_confirm", confirmed.put)
        self.client.connect(rasa_url, socketio_path="/socket.io/", transports=["polling"], wait_timeout=10)
        self.client.emit("session_request", {"session_id": self.session_id})
        assert confirmed.get(timeout=10) == self.session_id

    def say(self, text: str) -> list[dict]:
        self.client.emit("user_uttered", {"message": text, "customData": self.custom_data, "session_id": self.session_id})
        got = [self.replies.get(timeout=30)]
        try:
            while True:  # the pricing answer can come with an offer
                got.append(self.replies.get(timeout=1.5))
        except queue.Empty:
            return got

    def close(self) -> None:
        self.client.disconnect()


def user_events(stack, sender: str) -> list[dict]:
    r = requests.get(f"{stack.settings.rasa_url}/conversations/socketio:{sender}/tracker",
                     params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]}, timeout=30)
    r.raise_for_status()
    return [e for e in r.json()["events"] if e["event"] == "user"]


def by_channel(stack, channel: str, sender: str) -> dict:
    r = stack.api("GET", f"/api/contacts/by-channel/{channel}/{quote(sender, safe='')}")
    assert r.status_code == 200, r.text
    return r.json()


def test_stage_and_history_follow_the_customer_across_channels(stack_factory, sqlite_db, tmp_path, graph, telegram, replies):
    stack = stack_factory(sqlite_db, "identity", extra_env={
        "JOURNEYBOT_CREDENTIALS": credentials(tmp_path, graph, telegram),
        "JOURNEYBOT_IDENTITY_SECRET": IDENTITY_SECRET,
        "ID_TELEGRAM_BOT_TOKEN": tg.TOKEN, "ID_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "ID_WHATSAPP_VERIFY_TOKEN": wa.VERIFY_TOKEN, "ID_WHATSAPP_APP_SECRET": wa.APP_SECRET,
        "ID_WHATSAPP_ACCESS_TOKEN": wa.TOKEN, "ID_WHATSAPP_PHONE_NUMBER_ID": wa.PHONE_NUMBER_ID,
    })
    rasa = stack.settings.rasa_url
    phone = "+4915" + str(uuid.uuid4().int)[:9]
    email = f"ann.{uuid.uuid4().hex[:8]}@example.com"

    # 1. Web chat, signed in on the shop: the site signed email and phone with the secret.
    ann = WebVisitor(rasa, {"email": email, "phone": phone, "user_hash": identity_hash(IDENTITY_SECRET, email=email, phone=phone)})
    try:
        assert ann.say("hi")[0]["text"] == replies.choose("greet", "awareness", "socketio").text
        assert ann.say(PRICING)[0]["text"] == replies.choose("ask_pricing", "awareness", "socketio").text
    finally:
        ann.close()
    web = by_channel(stack, "socketio", ann.session_id)
    assert web["stage"] == "consideration"
    assert web["identifiers"] == [{"kind": "email", "value": email}, {"kind": "phone", "value": phone}]
    # The user_hash is a credential: it never lands in the tracker.
    assert all("user_hash" not in json.dumps(e.get("metadata") or {}) for e in user_events(stack, ann.session_id))

    # A visitor claiming the same phone with a forged hash, and REST metadata claiming it
    # (even correctly signed): both still talk to the bot, neither proves anything.
    eve = WebVisitor(rasa, {"phone": phone, "user_hash": identity_hash("guessed-secret-0123456789", phone=phone)})
    try:
        eve.say("hi")
    finally:
        eve.close()
    claim = {"phone": phone, "user_hash": identity_hash(IDENTITY_SECRET, phone=phone), "verified": True}
    rest = requests.post(f"{rasa}/webhooks/rest/webhook", timeout=60, headers={"Authorization": f"Bearer {stack.tokens['JOURNEYBOT_REST_TOKEN']}"}, json={
        "sender": "rest-intruder", "message": "hi", "metadata": {**claim, "customData": claim}})
    assert rest.status_code == 200 and rest.json()
    for channel, sender in (("socketio", eve.session_id), ("rest", "rest-intruder")):
        intruder = by_channel(stack, channel, sender)
        assert intruder["id"] != web["id"] and intruder["identifiers"] == [] and intruder["stage"] == "awareness"

    # 2. Telegram: the user shares their own contact (the number without "+", as Telegram sends it).
    chat = random.randint(10**8, 10**9)
    webhook = f"{rasa}/webhooks/telegram/webhook"
    update_id = random.randint(10**6, 10**7)
    assert tg.deliver(webhook, tg.contact_update(update_id, chat, phone.lstrip("+"), user_id=chat), TG_SECRET).status_code == 200
    [linked] = telegram.wait_for("sendMessage", 1)
    assert "linked this chat" in linked.params["text"] and linked.markup == {"remove_keyboard": True}
    assert tg.deliver(webhook, tg.text_update(update_id + 1, chat, "hi"), TG_SECRET).status_code == 200
    greeting = telegram.wait_for("sendMessage", 2)[1]
    assert greeting.params["text"] == replies.choose("greet", "consideration", "telegram").text  # the web stage

    # 3. WhatsApp from the same number: proven by WhatsApp, merged before the turn is recorded.
    hello = wa.notification(wa.value([wa.text_message(phone.lstrip("+"), "hi", "wamid.ID" + uuid.uuid4().hex)]))
    body = json.dumps(hello).encode()
    r = requests.post(rasa + "/webhooks/whatsapp/webhook", data=body, timeout=60,
                      headers={"Content-Type": "application/json", "X-Hub-Signature-256": wa.sign(body)})
    assert r.status_code == 200, r.text
    [answer] = graph.wait_for(1)
    sent = answer.body["text"]["body"] if answer.type == "text" else answer.body["interactive"]["body"]["text"]
    assert sent == replies.choose("greet", "consideration", "whatsapp").text

    # One contact, reachable through all three identities, with the web stage and history.
    contact = by_channel(stack, "whatsapp", phone)
    assert contact["id"] == web["id"] == by_channel(stack, "telegram", str(chat))["id"]
    assert contact["stage"] == "consideration"
    assert {(i["channel"], i["external_id"]) for i in contact["identities"]} == {
        ("socketio", ann.session_id), ("telegram", str(chat)), ("whatsapp", phone)}
    assert contact["identifiers"] == web["identifiers"]
    merges = [t for t in contact["transitions"] if t["kind"] == "merge"]
    assert [(t["to"], t["evidence"]["source"]) for t in merges] == [(web["id"], "telegram"), (web["id"], "whatsapp")]

    timeline = stack.api("GET", f"/api/contacts/{contact['id']}/timeline")
    assert timeline.status_code == 200, timeline.text
    items = timeline.json()["items"]
    touch_channels = [i["channel"] for i in items if i["type"] == "touchpoint"]
    assert touch_channels == ["socketio", "socketio", "telegram", "whatsapp"], items
    stages = [(i["from"], i["to"]) for i in items if i["type"] == "transition" and i["kind"] == "stage"]
    assert stages == [("awareness", "consideration")]
    # The merged-away contact ids resolve to the survivor.
    assert stack.api("GET", f"/api/contacts/{merges[1]['from']}").json()["id"] == web["id"]
