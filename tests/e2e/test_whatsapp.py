"""WhatsApp (Cloud API and Twilio) end to end: real Rasa server, action server and console,
with local fakes of the Graph API and Twilio's Messages API."""
from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests

from tests.fakes import twilio as tw
from tests.fakes import whatsapp as wa

WEBHOOK = "/webhooks/whatsapp/webhook"
TWILIO_WEBHOOK = "/webhooks/twilio_whatsapp/webhook"
PUBLIC_BASE = "https://bot.example.com"


@pytest.fixture()
def twilio_api():
    fake = tw.FakeTwilio().start()
    yield fake
    fake.stop()


def credentials(tmp_path, graph_url: str, twilio_url: str, prefix: str) -> str:
    """Both connectors; secrets come from env vars whose names start with `prefix` (unset ones stay 503)."""
    path = tmp_path / f"credentials-{prefix}.yml"
    path.write_text(f"""bot.channels.rest.RestInput:
bot.channels.whatsapp.twilio.TwilioWhatsAppInput:
  account_sid_env: {prefix}TWILIO_ACCOUNT_SID
  auth_token_env: {prefix}TWILIO_AUTH_TOKEN
  whatsapp_number_env: {prefix}TWILIO_WHATSAPP_NUMBER
  public_url_env: {prefix}PUBLIC_URL
  api_base_url: {twilio_url}
bot.channels.whatsapp.cloud.WhatsAppInput:
  verify_token_env: {prefix}WHATSAPP_VERIFY_TOKEN
  app_secret_env: {prefix}WHATSAPP_APP_SECRET
  access_token_env: {prefix}WHATSAPP_ACCESS_TOKEN
  phone_number_id_env: {prefix}WHATSAPP_PHONE_NUMBER_ID
  graph_base_url: {graph_url}
  graph_version: {wa.VERSION}
""")
    return str(path)


def cloud_env(prefix: str) -> dict[str, str]:
    return {f"{prefix}WHATSAPP_VERIFY_TOKEN": wa.VERIFY_TOKEN, f"{prefix}WHATSAPP_APP_SECRET": wa.APP_SECRET,
            f"{prefix}WHATSAPP_ACCESS_TOKEN": wa.TOKEN, f"{prefix}WHATSAPP_PHONE_NUMBER_ID": wa.PHONE_NUMBER_ID}


def twilio_env(prefix: str) -> dict[str, str]:
    return {f"{prefix}TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID, f"{prefix}TWILIO_AUTH_TOKEN": tw.AUTH_TOKEN,
            f"{prefix}TWILIO_WHATSAPP_NUMBER": tw.WHATSAPP_NUMBER, f"{prefix}PUBLIC_URL": PUBLIC_BASE}


def number() -> str:
    return "+4915" + str(uuid.uuid4().int)[:9]


def post_signed(stack, payload, secret: str = wa.APP_SECRET, signature: str | None = None) -> requests.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature or wa.sign(body, secret)}
    return requests.post(stack.settings.rasa_url + WEBHOOK, data=body, headers=headers, timeout=60)


def user_events(stack, sender: str) -> list[dict]:
    token = stack.tokens["JOURNEYBOT_RASA_TOKEN"]
    r = requests.get(f"{stack.settings.rasa_url}/conversations/whatsapp:{sender}/tracker", params={"token": token}, timeout=30)
    r.raise_for_status()
    return [e for e in r.json()["events"] if e["event"] == "user"]


def agent_push(stack, sender: str, text: str) -> requests.Response:
    token = stack.tokens["JOURNEYBOT_RASA_TOKEN"]
    return requests.post(f"{stack.settings.rasa_url}/conversations/whatsapp:{sender}/tracker/events",
                         params={"execute_side_effects": "true", "output_channel": "latest", "token": token},
                         json=[{"event": "bot", "text": text}], timeout=60)


def body_text(sent: wa.Sent) -> str:
    b = sent.body
    return b["text"]["body"] if b["type"] == "text" else b["interactive"]["body"]["text"]


def test_whatsapp_cloud_api(stack_factory, sqlite_db, tmp_path, graph, twilio_api, replies):
    creds = credentials(tmp_path, graph.base_url, twilio_api.base_url, "WA1_")
    stack = stack_factory(sqlite_db, "wa", extra_env={"JOURNEYBOT_CREDENTIALS": creds, **cloud_env("WA1_")})
    rasa = stack.settings.rasa_url

    # Meta's verification handshake.
    ok = requests.get(rasa + WEBHOOK, params={"hub.mode": "subscribe", "hub.verify_token": wa.VERIFY_TOKEN, "hub.challenge": "1158201444"}, timeout=10)
    assert (ok.status_code, ok.text) == (200, "1158201444")
    bad = requests.get(rasa + WEBHOOK, params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, timeout=10)
    assert bad.status_code == 403

    # A good message gets the greeting with its buttons as WhatsApp reply buttons.
    ana = number()
    hello = wa.notification(wa.value([wa.text_message(ana.lstrip("+"), "hi", "wamid.HELLO" + uuid.uuid4().hex)]))
    r = post_signed(stack, hello)
    assert r.status_code == 200, r.text
    [greeting] = graph.wait_for(1)
    greet = replies.choose("greet", "awareness", "whatsapp")
    assert greeting.to == ana.lstrip("+") and greeting.type == "interactive"
    assert body_text(greeting) == greet.text
    buttons = greeting.body["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == [b.payload for b in greet.buttons]

    # Tapping a button sends its id back: Rasa gets the payload, the journey moves.
    tap = wa.notification(wa.value([wa.button_reply(ana.lstrip("+"), buttons[0]["reply"]["id"], buttons[0]["reply"]["title"], "wamid.TAP" + uuid.uuid4().hex)]))
    assert post_signed(stack, tap).status_code == 200
    answer = graph.wait_for(2)[1]
    assert body_text(answer) == replies.choose("ask_pricing", "awareness", "whatsapp").text
    contact = stack.api("GET", f"/api/contacts/by-channel/whatsapp/{quote(ana)}").json()
    assert contact["stage"] == "consideration"

    # A duplicate delivery, also four at once (Meta retries), is processed once.
    def settled() -> int:
        count = -1
        while count != len(graph.sent):  # wait until no more replies arrive
            count = len(graph.sent)
            time.sleep(1.5)
        return count

    before = settled()
    assert post_signed(stack, hello).status_code == 200
    dup_id = "wamid.DUP" + uuid.uuid4().hex
    dup = wa.notification(wa.value([wa.text_message(ana.lstrip("+"), "thanks", dup_id)]))
    with ThreadPoolExecutor(4) as pool:
        codes = [f.result().status_code for f in [pool.submit(post_signed, stack, dup) for _ in range(4)]]
    assert codes == [200] * 4
    after = settled()
    thanks = replies.choose("thanks", "consideration", "whatsapp").text
    assert [body_text(s) for s in graph.sent[before:after]].count(thanks) == 1, graph.sent[before:after]
    ids = [e.get("message_id") for e in user_events(stack, ana)]
    assert len(ids) == len(set(ids)) == 3 and ids[-1] == dup_id

    # Bad signature → 403, nothing processed; no secret header → 403.
    intruder = number()
    forged = wa.notification(wa.value([wa.text_message(intruder.lstrip("+"), "hi", "wamid.FORGED")]))
    assert post_signed(stack, forged, secret="not-the-app-secret").status_code == 403
    assert requests.post(rasa + WEBHOOK, json=forged, timeout=10).status_code == 403
    # Malformed payloads → 400 JSON, nothing processed, server still fine.
    assert post_signed(stack, b"{not json").status_code == 400
    broken = wa.notification(wa.value([{"from": intruder.lstrip("+"), "type": "text", "text": {"body": "hi"}}]))  # no id
    r = post_signed(stack, broken)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_payload"
    assert post_signed(stack, {"object": "page", "entry": []}).status_code == 400
    assert user_events(stack, intruder) == []

    # Several entries and changes in one notification, statuses ignored: every message answered.
    bob, cy = number(), number()
    multi = wa.notification(
        wa.value(statuses=[wa.status_update(ana.lstrip("+"), greeting.wamid)]),
        wa.value([wa.text_message(bob.lstrip("+"), "hello", "wamid.B" + uuid.uuid4().hex)], name="Bob"),
        wa.value([wa.text_message(cy.lstrip("+"), "hello", "wamid.C" + uuid.uuid4().hex)], name="Cy"),
        entries=2,
    )
    assert post_signed(stack, multi).json() == {"status": "ok", "messages": 2}
    sent = graph.sent[after:settled()]
    assert {s.to for s in sent} == {bob.lstrip("+"), cy.lstrip("+")}

    # 24-hour rule. Within the window an agent's message goes out as it is...
    n = settled()
    assert agent_push(stack, ana, "Hi Ana, this is Sam from the team.").status_code == 200
    pushed = graph.wait_for(n + 1)[n]
    assert (pushed.type, body_text(pushed)) == ("text", "Hi Ana, this is Sam from the team.")
    # ...but to someone who last wrote 25 hours ago (a late delivery) only the template may go.
    late = number()
    old = int(time.time()) - 25 * 3600
    n = settled()
    assert post_signed(stack, wa.notification(wa.value([wa.text_message(late.lstrip("+"), "hi", "wamid.OLD" + uuid.uuid4().hex, old)]))).status_code == 200
    graph.wait_for(n + 1)
    n2 = settled()
    assert {s.type for s in graph.sent[n:n2]} == {"template"}  # even the bot's own replies
    assert agent_push(stack, late, "Your refund was approved.").status_code == 200
    template = graph.wait_for(n2 + 1)[n2]
    assert template.to == late.lstrip("+") and template.type == "template"
    assert template.body["template"]["name"] == "journeybot_follow_up"
    assert template.body["template"]["language"] == {"code": "en"}
    assert template.body["template"]["components"][0]["parameters"] == [{"type": "text", "text": "Your refund was approved."}]

    # The Twilio connector is registered but has no secrets here: 503, not a crash.
    assert requests.post(rasa + TWILIO_WEBHOOK, data=tw.inbound_form(bob, "hi"), timeout=10).status_code == 503
    assert "Bearer" not in stack.log_tail("rasa", 200_000)


def test_twilio_whatsapp(stack_factory, sqlite_db, tmp_path, graph, twilio_api, replies):
    creds = credentials(tmp_path, graph.base_url, twilio_api.base_url, "TW1_")
    stack = stack_factory(sqlite_db, "tw", extra_env={"JOURNEYBOT_CREDENTIALS": creds, **twilio_env("TW1_")})
    url = stack.settings.rasa_url + TWILIO_WEBHOOK
    public = PUBLIC_BASE + TWILIO_WEBHOOK  # what Twilio signs, behind the proxy

    def post(form, sig=None):
        return requests.post(url, data=form, headers={"X-Twilio-Signature": sig if sig is not None else tw.signature(public, form)}, timeout=60)

    ana = number()
    hello = tw.inbound_form(ana, "hi")
    r = post(hello)
    assert r.status_code == 200 and "<Response>" in r.text
    [greeting] = twilio_api.wait_for(1)
    assert greeting.to == f"whatsapp:{ana}" and greeting.from_ == tw.WHATSAPP_NUMBER
    greet = replies.choose("greet", "awareness", "whatsapp")
    assert greeting.body.startswith(greet.text) and all(b.title in greeting.body for b in greet.buttons)
    # Same person, same contact as on the Cloud API: channel "whatsapp", sender id = the number.
    assert stack.api("GET", f"/api/contacts/by-channel/whatsapp/{quote(ana)}").status_code == 200

    # Duplicate delivery (also concurrent) → processed once.
    with ThreadPoolExecutor(3) as pool:
        assert [f.result().status_code for f in [pool.submit(post, hello) for _ in range(3)]] == [200] * 3
    time.sleep(2)
    assert len(twilio_api.sent) == 1
    assert len(user_events(stack, ana)) == 1

    # Bad or missing signature → 403; the URL Rasa sees (not the public one) does not validate.
    bob = number()
    forged = tw.inbound_form(bob, "hi")
    assert post(forged, sig=tw.signature(public, forged, auth_token="0" * 32)).status_code == 403
    assert post(forged, sig="").status_code == 403
    assert post(forged, sig=tw.signature(url, forged)).status_code == 403
    tampered = dict(forged, Body="give me a refund")
    assert post(tampered, sig=tw.signature(public, forged)).status_code == 403
    # Malformed → 400 and nothing processed.
    sms = tw.inbound_form(bob, "hi", From="+4915100000000")
    assert post(sms).status_code == 400
    no_sid = {k: v for k, v in tw.inbound_form(bob, "hi").items() if k not in ("MessageSid", "SmsMessageSid", "SmsSid")}
    assert post(no_sid).status_code == 400
    assert user_events(stack, bob) == []

    # An agent's message reaches the customer through Twilio.
    assert agent_push(stack, ana, "Hi Ana, Sam here.").status_code == 200
    assert twilio_api.wait_for(2)[1].body == "Hi Ana, Sam here."

    # The Cloud API connector has no secrets here: 503 for both the handshake and messages.
    rasa = stack.settings.rasa_url
    assert requests.get(rasa + WEBHOOK, params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}, timeout=10).status_code == 503
    assert post_signed(stack, wa.notification(wa.value([wa.text_message("4915100000001", "hi", "wamid.X")]))).status_code == 503
    assert graph.sent == []
    assert tw.AUTH_TOKEN not in stack.log_tail("rasa", 200_000)
