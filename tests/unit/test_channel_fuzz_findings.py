"""Channel bugs the fuzz suite (tests/fuzz) found, each served by a real Sanic app.

- JSON nested deeper than the parser's recursion limit made Telegram's and WhatsApp Cloud's
  webhooks answer 500 (RecursionError is no ValueError).
- A secret header holding bytes that are not UTF-8 (Sanic decodes them to lone surrogates)
  made the REST and Telegram token checks raise UnicodeEncodeError: 500 instead of 401/403.
- A non-ASCII X-Hub-Signature-256 made hmac.compare_digest raise TypeError: 500, not 403.
"""
from __future__ import annotations

import pytest
import requests

from bot.channels.rest import RestInput
from bot.channels.whatsapp.cloud.channel import WhatsAppInput
from bot.channels.whatsapp.cloud.config import load_whatsapp_config
from tests.conftest import BUSINESS_DIR
from tests.fakes import whatsapp as wa
from tests.unit.test_telegram_channel import (  # noqa: F401 (fixtures)
    SECRET,
    Rasa,
    Served,
    db,
    fake,
    make_channel,
)

DEEP = ("[" * 5000 + "]" * 5000).encode()
DEEP_FIELD = b'{"update_id": 1, "message": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"
NOT_UTF8 = b"\xff\xfe\xed\xa0\x80"


@pytest.fixture
def servers():
    started: list[Served] = []

    def serve(channel):
        rasa = Rasa()
        server = Served(channel, rasa)
        started.append(server)
        return f"http://127.0.0.1:{server.port}/webhooks/{channel.url_prefix()}/webhook", rasa

    yield serve
    for server in started:
        server.stop()


def whatsapp_channel(database_url: str) -> WhatsAppInput:
    return WhatsAppInput(verify_token=wa.VERIFY_TOKEN, app_secret=wa.APP_SECRET, access_token=wa.TOKEN,
                         phone_number_id=wa.PHONE_NUMBER_ID, config=load_whatsapp_config(BUSINESS_DIR / "whatsapp.yml"),
                         database_url=database_url, graph_base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("body", [DEEP, DEEP_FIELD], ids=["deep-list", "deep-field"])
def test_telegram_deeply_nested_json_is_400(servers, fake, db, body):
    url, rasa = servers(make_channel(fake, db))
    response = requests.post(url, data=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed_json"
    assert rasa.messages == []


@pytest.mark.parametrize("body", [DEEP, b'{"object": "whatsapp_business_account", "entry": ' + DEEP + b"}"], ids=["deep-list", "deep-field"])
def test_whatsapp_signed_deeply_nested_json_is_400(servers, db, body):
    url, rasa = servers(whatsapp_channel(db))
    response = requests.post(url, data=body, headers={"X-Hub-Signature-256": wa.sign(body)}, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed_payload"
    assert rasa.messages == []


@pytest.mark.parametrize("signature", ["sha256=é" + "0" * 63, b"sha256=" + NOT_UTF8], ids=["non-ascii", "not-utf8"])
def test_whatsapp_signature_that_is_not_ascii_is_403(servers, db, signature):
    url, _ = servers(whatsapp_channel(db))
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    sent = signature.encode("utf-8") if isinstance(signature, str) else signature
    response = requests.post(url, data=body, headers={"X-Hub-Signature-256": sent}, timeout=10)
    assert response.status_code == 403, response.text


def test_telegram_secret_header_that_is_not_utf8_is_403(servers, fake, db):
    url, rasa = servers(make_channel(fake, db))
    response = requests.post(url, data=b'{"update_id": 1}', headers={"X-Telegram-Bot-Api-Secret-Token": NOT_UTF8}, timeout=10)
    assert response.status_code == 403, response.text
    assert rasa.messages == []


@pytest.mark.parametrize("auth", [b"Bearer " + NOT_UTF8, "Bearer tökén".encode()], ids=["not-utf8", "non-ascii"])
def test_rest_token_that_is_not_utf8_is_401(servers, auth):
    url, rasa = servers(RestInput("rest-token-for-tests"))
    response = requests.post(url, data=b'{"sender": "alice", "message": "hi"}', timeout=10,
                             headers={"Authorization": auth, "Content-Type": "application/json"})
    assert response.status_code == 401, response.text
    assert rasa.messages == []
