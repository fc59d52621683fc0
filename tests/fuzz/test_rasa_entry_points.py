"""Fuzz every HTTP entry point of the Rasa process: the REST, Telegram, WhatsApp Cloud and
Twilio webhooks, and the socket.io (engine.io long-polling) handshake and events.

One real stack for the module (tests/fuzz/harness.py). After every request: no 5xx, every
process still running and answering its health URL, and a refused (4xx) request changed
no stored row (journey tables and Rasa's `events`).
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from hypothesis import given
from hypothesis import strategies as st

from devtools.stack import TEST_TOKENS
from tests.fakes import twilio as tw
from tests.fakes import whatsapp as wa
from tests.fuzz import strategies as hs
from tests.fuzz.harness import PUBLIC_BASE, TELEGRAM_SECRET, FuzzStack, fuzz

REST = "/webhooks/rest/webhook"
TELEGRAM = "/webhooks/telegram/webhook"
WHATSAPP = "/webhooks/whatsapp/webhook"
TWILIO = "/webhooks/twilio_whatsapp/webhook"
RAW_API = hs.raw_bodies({"text": "hi", "sender": "user"}, "parse_data")
REST_AUTH = {"Authorization": f"Bearer {TEST_TOKENS['JOURNEYBOT_REST_TOKEN']}"}
JSON = {"Content-Type": "application/json"}
_ids = itertools.count(int(time.time()) % 10**6 * 1000)


def post(url: str, body: bytes, headers: dict[str, Any] | None = None, timeout: float = 90) -> requests.Response:
    return requests.post(url, data=body, headers={**JSON, **(headers or {})}, timeout=timeout)


# -- REST ------------------------------------------------------------------------------------

sender = st.one_of(st.sampled_from(["alice", "+4915000000009", "a" * 128, "a" * 129, "rest:alice", "whatsapp:+4915000000009"]),
                   hs.hostile_text, hs.json_scalar)
# An addressable sender, so the hostile text and metadata get past the envelope checks into Rasa.
good_sender = st.from_regex(r"\A[A-Za-z0-9_.@+-]{1,128}\Z")
rest_message = st.fixed_dictionaries(
    {"sender": good_sender, "message": hs.hostile_text},
    optional={"metadata": st.dictionaries(hs.hostile_text, hs.json_value, max_size=3)},  # other shapes: rest_object
)
rest_object = st.fixed_dictionaries(
    {}, optional={"sender": sender, "message": st.one_of(hs.hostile_text, hs.json_scalar), "metadata": hs.json_value,
                  "input_channel": hs.hostile_text},
)


# Well-formed envelopes with hostile content, and hostile shapes, in separate tests: in one
# one_of, Hypothesis soon favours the cheap shapes and few messages would reach Rasa.
@fuzz(60)
@given(body=rest_message)
def test_rest_webhook_hostile_messages(fuzz_stack: FuzzStack, body):
    response = fuzz_stack.probe(f"REST {body!r:.300}", lambda: post(fuzz_stack.rasa + REST, hs.dumps(body), REST_AUTH))
    assert response.status_code in (200, 400), response.text[:300]


@fuzz(40)
@given(body=st.one_of(rest_object, hs.not_an_object))
def test_rest_webhook_generated_bodies(fuzz_stack: FuzzStack, body):
    response = fuzz_stack.probe(f"REST {body!r:.300}", lambda: post(fuzz_stack.rasa + REST, hs.dumps(body), REST_AUTH))
    if response.status_code >= 400:
        assert response.json()["error"]["message"]


bad_auth = st.one_of(
    st.sampled_from([None, "Bearer", "Bearer wrong", "Basic dGVzdDp0ZXN0", "Bearer test-rest-tokenX", "Bearer " + "t" * 5000]),
    hs.hostile_text.map(lambda t: b"Bearer " + hs.header_value(t)),
)


@fuzz(30)
@given(body=rest_object, headers=hs.hostile_headers, auth=bad_auth)
def test_rest_webhook_refuses_without_the_token(fuzz_stack: FuzzStack, body, headers, auth):
    sent = {k: v for k, v in headers.items() if k != "Authorization"}
    if auth is not None:
        sent["Authorization"] = auth
    response = fuzz_stack.probe(f"REST unauthenticated {body!r:.200}", lambda: post(fuzz_stack.rasa + REST, hs.dumps(body), sent))
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("name", sorted(hs.raw_bodies({"sender": "fuzz", "message": "hi"}, "metadata")))
def test_rest_webhook_raw_bodies(fuzz_stack: FuzzStack, name):
    body = hs.raw_bodies({"sender": "fuzz", "message": "hi"}, "metadata")[name]
    response = fuzz_stack.probe(f"REST raw {name}", lambda: post(fuzz_stack.rasa + REST, body, REST_AUTH))
    assert response.status_code in (200, 400, 413), response.text


@pytest.mark.parametrize("content_type", hs.WRONG_CONTENT_TYPES)
def test_rest_webhook_wrong_content_types(fuzz_stack: FuzzStack, content_type):
    body = hs.dumps({"sender": f"ct{next(_ids)}", "message": "hi"})
    headers = {**REST_AUTH, "Content-Type": hs.header_value(content_type)}
    fuzz_stack.probe(f"REST content type {content_type!r:.80}", lambda: post(fuzz_stack.rasa + REST, body, headers))


@pytest.mark.parametrize("headers", [hs.HUGE_HEADER, hs.MANY_HEADERS], ids=["huge-header", "300-headers"])
@pytest.mark.parametrize("path", [REST, TELEGRAM, WHATSAPP, TWILIO])
def test_rasa_webhooks_oversized_headers(fuzz_stack: FuzzStack, path, headers):
    body = hs.dumps({"sender": "fuzz", "message": "hi"})
    fuzz_stack.probe(f"{path} with oversized headers", lambda: post(fuzz_stack.rasa + path, body, {**REST_AUTH, **headers}))


# -- Telegram -------------------------------------------------------------------------------

chat = st.fixed_dictionaries({"id": st.one_of(st.integers(-(2**63), 2**63), hs.json_scalar)},
                             optional={"type": st.one_of(st.sampled_from(["private", "group", "supergroup", "channel"]), hs.hostile_text)})
tg_message = st.fixed_dictionaries(
    {"chat": st.one_of(chat, chat, hs.not_an_object)},
    optional={"text": st.one_of(hs.hostile_text, hs.json_scalar), "message_id": hs.json_scalar, "from": hs.json_value,
              "contact": st.one_of(st.fixed_dictionaries({"phone_number": st.one_of(hs.hostile_text, hs.json_scalar),
                                                          "user_id": hs.json_scalar}), hs.json_value),
              "photo": hs.json_value, "sticker": hs.json_value},
)
tg_callback = st.fixed_dictionaries(
    {"id": st.one_of(hs.hostile_text, hs.json_scalar)},
    optional={"data": st.one_of(hs.hostile_text, hs.json_scalar), "from": hs.json_value, "message": st.one_of(tg_message, hs.json_value)},
)
tg_text_update = st.builds(
    lambda chat_id, text, kind: {"update_id": next(_ids), "message": {
        "message_id": 1, "date": int(time.time()), "from": {"id": chat_id, "is_bot": False, "first_name": "Fuzz"},
        "chat": {"id": chat_id, "type": kind}, "text": text}},
    st.integers(1, 2**40), hs.hostile_text, st.sampled_from(["private", "group"]),
)
tg_update = st.fixed_dictionaries(
    {"update_id": st.one_of(st.builds(lambda: next(_ids)), hs.json_scalar)},
    optional={"message": st.one_of(tg_message, hs.not_an_object), "callback_query": st.one_of(tg_callback, hs.not_an_object),
              "edited_message": hs.json_value},
)


def telegram(fuzz_stack: FuzzStack, body: bytes, secret: Any = TELEGRAM_SECRET, extra: dict | None = None) -> requests.Response:
    headers = {**({"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}), **(extra or {})}
    return post(fuzz_stack.rasa + TELEGRAM, body, headers)


@fuzz(50)
@given(update=tg_text_update)
def test_telegram_webhook_hostile_texts(fuzz_stack: FuzzStack, update):
    response = fuzz_stack.probe(f"Telegram {update!r:.300}", lambda: telegram(fuzz_stack, hs.dumps(update)))
    assert response.status_code == 200, response.text[:300]


@fuzz(40)
@given(update=st.one_of(tg_update, hs.not_an_object))
def test_telegram_webhook_generated_updates(fuzz_stack: FuzzStack, update):
    fuzz_stack.probe(f"Telegram {update!r:.300}", lambda: telegram(fuzz_stack, hs.dumps(update)))


@fuzz(20)
@given(update=tg_update, secret=st.one_of(st.none(), hs.hostile_text.map(hs.header_value)))
def test_telegram_webhook_refuses_a_wrong_secret(fuzz_stack: FuzzStack, update, secret):
    response = fuzz_stack.probe("Telegram with a wrong secret", lambda: telegram(fuzz_stack, hs.dumps(update), secret))
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("name", sorted(hs.raw_bodies({"update_id": 1}, "message")))
def test_telegram_webhook_raw_bodies(fuzz_stack: FuzzStack, name):
    body = hs.raw_bodies({"update_id": 1}, "message")[name]
    response = fuzz_stack.probe(f"Telegram raw {name}", lambda: telegram(fuzz_stack, body))
    assert response.status_code in (200, 400, 413), response.text


# -- WhatsApp Cloud API -----------------------------------------------------------------------

wa_number = st.one_of(st.builds(lambda: f"4915{next(_ids):09d}"), hs.hostile_text, hs.json_scalar)
wa_message = st.fixed_dictionaries(
    {"from": wa_number,
     "id": st.one_of(st.builds(lambda: f"wamid.FUZZ{uuid.uuid4().hex}"), hs.hostile_text, hs.json_scalar),
     "timestamp": st.one_of(st.just(str(int(time.time()))), hs.hostile_text, hs.json_scalar),
     "type": st.one_of(st.sampled_from(["text", "interactive", "button", "image", "audio", "reaction"]), hs.hostile_text)},
    optional={"text": st.one_of(st.fixed_dictionaries({"body": st.one_of(hs.hostile_text, hs.json_scalar)}), hs.json_value),
              "interactive": st.fixed_dictionaries({"type": st.sampled_from(["button_reply", "list_reply"]),
                                                    "button_reply": st.fixed_dictionaries({"id": hs.hostile_text, "title": hs.hostile_text}),
                                                    "list_reply": hs.json_value}),
              "button": st.fixed_dictionaries({"payload": hs.hostile_text, "text": hs.hostile_text}),
              "image": st.fixed_dictionaries({"caption": hs.hostile_text})},
)
wa_value = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(wa_message, min_size=1, max_size=2), hs.not_an_object)},
    optional={"metadata": st.one_of(st.just({"phone_number_id": wa.PHONE_NUMBER_ID}), hs.json_value),
              "contacts": st.one_of(st.lists(st.fixed_dictionaries({"profile": st.fixed_dictionaries({"name": hs.hostile_text})})), hs.json_value),
              "statuses": hs.json_value},
)
wa_text_notification = st.builds(
    lambda text, name: {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": wa.PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": "x"}],
        "messages": [{"from": f"4917{next(_ids):09d}", "id": f"wamid.FUZZ{uuid.uuid4().hex}", "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": text}}]}}]}]},
    hs.hostile_text, hs.hostile_text,
)
wa_payload = st.fixed_dictionaries({
    "object": st.one_of(st.just("whatsapp_business_account"), hs.json_scalar),
    "entry": st.one_of(st.lists(st.fixed_dictionaries({"changes": st.one_of(st.lists(st.fixed_dictionaries({
        "field": st.one_of(st.just("messages"), hs.hostile_text), "value": st.one_of(wa_value, hs.json_value)}), max_size=2),
        hs.not_an_object)}), max_size=2), hs.not_an_object),
})


def whatsapp(fuzz_stack: FuzzStack, body: bytes, signature: Any = "sign") -> requests.Response:
    headers = {"X-Hub-Signature-256": wa.sign(body) if signature == "sign" else signature} if signature is not None else {}
    return post(fuzz_stack.rasa + WHATSAPP, body, headers)


@fuzz(50)
@given(payload=wa_text_notification)
def test_whatsapp_webhook_hostile_texts(fuzz_stack: FuzzStack, payload):
    response = fuzz_stack.probe(f"WhatsApp signed {payload!r:.300}", lambda: whatsapp(fuzz_stack, hs.dumps(payload)))
    assert response.status_code == 200, response.text[:300]


@fuzz(40)
@given(payload=st.one_of(wa_payload, hs.not_an_object))
def test_whatsapp_webhook_generated_signed_notifications(fuzz_stack: FuzzStack, payload):
    fuzz_stack.probe(f"WhatsApp signed {payload!r:.300}", lambda: whatsapp(fuzz_stack, hs.dumps(payload)))


@fuzz(20)
@given(payload=wa_payload, signature=st.one_of(st.none(), st.just("sha256="), st.just("sha256=" + "0" * 64),
                                               st.just("sha1=abc"), hs.hostile_text.map(hs.header_value)))
def test_whatsapp_webhook_refuses_unsigned_notifications(fuzz_stack: FuzzStack, payload, signature):
    response = fuzz_stack.probe("WhatsApp unsigned", lambda: whatsapp(fuzz_stack, hs.dumps(payload), signature))
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("name", sorted(hs.raw_bodies({"object": "whatsapp_business_account", "entry": []}, "entry")))
def test_whatsapp_webhook_raw_signed_bodies(fuzz_stack: FuzzStack, name):
    body = hs.raw_bodies({"object": "whatsapp_business_account", "entry": []}, "entry")[name]
    response = fuzz_stack.probe(f"WhatsApp raw {name}", lambda: whatsapp(fuzz_stack, body))
    assert response.status_code in (200, 400, 413), response.text


@fuzz(30)
@given(params=st.dictionaries(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "x"]),
                              st.one_of(hs.hostile_text, st.just("subscribe"), st.just(wa.VERIFY_TOKEN)), max_size=4))
def test_whatsapp_verification_handshake(fuzz_stack: FuzzStack, params):
    query = "&".join(f"{hs.path_segment(k)}={hs.path_segment(v)}" for k, v in params.items())
    response = fuzz_stack.probe(f"WhatsApp verify {params!r:.200}",
                                lambda: requests.get(f"{fuzz_stack.rasa}{WHATSAPP}?{query}", timeout=30))
    if params.get("hub.mode") != "subscribe" or params.get("hub.verify_token") != wa.VERIFY_TOKEN:
        assert response.status_code in (403, 413, 414), response.status_code  # 413/414: Sanic's URL limit


# -- Twilio (WhatsApp) ----------------------------------------------------------------------

def _storable(text: str) -> str:
    # Twilio signs what it sends, and it sends UTF-8: a lone surrogate cannot be in a signed form.
    return text.encode("utf-8", "replace").decode("utf-8")


twilio_form = st.fixed_dictionaries(
    {"From": st.one_of(st.builds(lambda: f"whatsapp:+4916{next(_ids):09d}"), st.builds(lambda: f"whatsapp:+4916{next(_ids):09d}"), hs.hostile_text),
     "Body": hs.hostile_text,
     "MessageSid": st.one_of(st.builds(lambda: f"SM{uuid.uuid4().hex}"), st.builds(lambda: f"SM{uuid.uuid4().hex}"), hs.hostile_text)},
    optional={"ProfileName": hs.hostile_text, "WaId": hs.hostile_text, "NumMedia": hs.hostile_text,
              "ButtonPayload": hs.hostile_text, "To": hs.hostile_text},
).map(lambda form: {k: _storable(v) for k, v in form.items()})


def twilio(fuzz_stack: FuzzStack, form: dict[str, str], signature: Any = "sign") -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = tw.signature(PUBLIC_BASE + TWILIO, form)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return requests.post(fuzz_stack.rasa + TWILIO, data=hs.form_bytes(form), headers=headers, timeout=90)


@fuzz(60)
@given(form=twilio_form)
def test_twilio_webhook_generated_signed_forms(fuzz_stack: FuzzStack, form):
    fuzz_stack.probe(f"Twilio signed {form!r:.300}", lambda: twilio(fuzz_stack, form))


@fuzz(20)
@given(form=st.dictionaries(hs.hostile_text, hs.hostile_text, max_size=5),
       signature=st.one_of(st.none(), hs.hostile_text.map(hs.header_value), st.just("AAAA" * 7)))
def test_twilio_webhook_refuses_unsigned_forms(fuzz_stack: FuzzStack, form, signature):
    headers = {"Content-Type": "application/x-www-form-urlencoded", **({"X-Twilio-Signature": signature} if signature else {})}
    response = fuzz_stack.probe("Twilio unsigned", lambda: requests.post(
        fuzz_stack.rasa + TWILIO, data=hs.form_bytes(form), headers=headers, timeout=60))
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("name", sorted(hs.raw_bodies({"From": "whatsapp:+4915000000009"})))
def test_twilio_webhook_raw_bodies(fuzz_stack: FuzzStack, name):
    body = hs.raw_bodies({"From": "whatsapp:+4915000000009"})[name]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bogus"}
    fuzz_stack.probe(f"Twilio raw {name}", lambda: requests.post(fuzz_stack.rasa + TWILIO, data=body, headers=headers, timeout=60))


# -- socket.io (web chat) ----------------------------------------------------------------------

def engineio_handshake(fuzz_stack: FuzzStack) -> str:
    response = requests.get(f"{fuzz_stack.rasa}/socket.io/", params={"EIO": "4", "transport": "polling"}, timeout=30)
    response.raise_for_status()
    return json.loads(response.text[1:])["sid"]


@fuzz(30)
@given(params=st.dictionaries(st.sampled_from(["EIO", "transport", "sid", "t", "j", "b64"]),
                              st.one_of(hs.hostile_text, st.sampled_from(["4", "3", "polling", "websocket"])), max_size=5))
def test_socketio_handshake_query(fuzz_stack: FuzzStack, params):
    query = "&".join(f"{hs.path_segment(k)}={hs.path_segment(v)}" for k, v in params.items())
    fuzz_stack.probe(f"engine.io GET {params!r:.200}", lambda: requests.get(f"{fuzz_stack.rasa}/socket.io/?{query}", timeout=30))


def _answered(packet: bytes) -> bool:
    # python-engineio 4.15 never answers a polling POST that holds a client PING ("2") or a
    # NOOP ("6"): the request hangs (the server stays up and other sockets work). That is the
    # library's, left out here so that every example finishes; see the fuzz report (issue 13).
    return not packet.startswith((b"2", b"6"))


packet = st.one_of(
    hs.hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")).filter(_answered),
    st.sampled_from([b"40", b"41", b"3", b"5", b"9", b"4", b"42", b"42[", b'42["session_request"]', b"\x1e\x1e", b"b" + b"A" * 100]),
    st.tuples(st.sampled_from(["session_request", "user_uttered", "disconnect", "connect", hs.NASTY_TEXTS[0]]), hs.json_value)
    .map(lambda ev: b"42" + hs.dumps(list(ev))),
)


@fuzz(30)
@given(packets=st.lists(packet, min_size=1, max_size=3))
def test_socketio_polling_packets(fuzz_stack: FuzzStack, packets):
    sid = engineio_handshake(fuzz_stack)
    url = f"{fuzz_stack.rasa}/socket.io/?EIO=4&transport=polling&sid={sid}"
    body = b"\x1e".join([b"40", *packets])
    # The socket answers "ok" before Rasa handles a message, so there is no refused request
    # whose data could be compared; the checks are: no 5xx and every process alive.
    response = requests.post(url, data=body, headers={"Content-Type": "text/plain;charset=UTF-8"}, timeout=30)
    assert response.status_code < 500, f"engine.io POST {body!r:.300}: {response.status_code} {response.text[:300]}"
    fuzz_stack.assert_alive(f"engine.io POST {body!r:.300}")


@fuzz(15)
@given(session=st.one_of(hs.hostile_text, hs.json_value, st.builds(lambda: uuid.uuid4().hex)),
       message=st.one_of(hs.hostile_text, hs.json_value),
       metadata=st.one_of(hs.json_value, hs.hostile_text, st.just(hs.deep(200, '{"a":', "}"))),
       named=st.one_of(st.none(), hs.hostile_text))
def test_socketio_session_request_and_user_uttered(fuzz_stack: FuzzStack, session, message, metadata, named):
    client = socketio.Client(reconnection=False)
    confirmed: list[Any] = []
    answered: list[Any] = []
    client.on("session_confirm", lambda data: confirmed.append(data))
    client.on("bot_uttered", lambda data: answered.append(data))
    client.connect(fuzz_stack.rasa, transports=["polling"], wait_timeout=30)
    try:
        client.emit("session_request", {"session_id": session} if not isinstance(session, list) else session)
        deadline = time.monotonic() + 3
        while not confirmed and time.monotonic() < deadline:
            time.sleep(0.05)
        data: dict[str, Any] = {"message": message, "customData": metadata}
        if named is not None:
            data["session_id"] = named
        client.emit("user_uttered", data)
        deadline = time.monotonic() + 3
        while not answered and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
    fuzz_stack.assert_alive(f"socket.io session {session!r:.100} message {message!r:.100}")


# -- Rasa's own HTTP API (behind JOURNEYBOT_RASA_TOKEN) ----------------------------------------

def rasa_api_routes() -> list[tuple[str, str]]:
    """(method, path) of every route rasa.server registers, read from its source.

    Read, not imported: importing rasa.server loads TensorFlow (~10 s) at collection time.
    """
    source = Path(importlib.util.find_spec("rasa").origin).with_name("server.py").read_text(encoding="utf-8")
    routes = [(m.upper(), p) for m, p in re.findall(r'@app\.(get|post|put|delete)\("([^"]+)"', source)]
    return [r for r in routes if r[1] not in ("/", "/version")]  # the public ones: liveness and version


RASA_API = rasa_api_routes()


def test_rasa_api_routes_were_found():
    assert len(RASA_API) > 10, RASA_API


@pytest.mark.parametrize("method,path", RASA_API, ids=[f"{m} {p}" for m, p in RASA_API])
@fuzz(6)
@given(conversation=st.one_of(st.just("rest:alice"), hs.hostile_text.filter(lambda t: t not in ("", ".", ".."))),
       token=st.one_of(st.none(), st.just("wrong"), hs.hostile_text), body=st.one_of(hs.json_value, st.sampled_from(sorted(RAW_API))))
def test_rasa_http_api_refuses_without_the_token(fuzz_stack: FuzzStack, method, path, conversation, token, body):
    url = fuzz_stack.rasa + re.sub(r"<[^>]+>", hs.path_segment(conversation), path)
    if token is not None:
        url += f"?token={hs.path_segment(token)}"
    data = RAW_API[body] if isinstance(body, str) and body in RAW_API else hs.dumps(body)
    response = fuzz_stack.probe(f"Rasa API {method} {url[:200]!r}",
                                lambda: requests.request(method, url, data=data, headers=JSON, timeout=60))
    assert 400 <= response.status_code < 500, response.text[:300]


def test_no_journeybot_code_raised(fuzz_stack: FuzzStack):
    # Last in the module: whatever the requests above did, none made our own code raise.
    assert fuzz_stack.tracebacks_in_our_code() == []
