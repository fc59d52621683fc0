"""The Telegram connector (bot/channels/telegram/channel.py) served by a real Sanic app, against the fake Bot API."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.telegram.channel import (
    TelegramConfigError,
    TelegramInput,
    TelegramOutput,
    _chunks,
    load_config,
)
from bot.channels.telegram.client import TelegramApiError, TelegramClient, TelegramUnavailable
from bot.channels.telegram.state import TelegramState, callback_key
from journey_state.store import migrate
from tests.fakes.telegram import (
    TOKEN,
    FakeTelegram,
    callback_update,
    deliver,
    message_update,
    photo_update,
    text_update,
)

SECRET = "s3cret-Token_for-tests"
CHAT = 5550001
LONG_PAYLOAD = '/choose_plan{"plan": "premium", "frequency": "monthly", "grind": "espresso", "origin": "ethiopia"}'
update_ids = itertools.count(10_000)


@pytest.fixture
def fake():
    telegram = FakeTelegram().start()
    yield telegram
    telegram.stop()


@pytest.fixture
def db(sqlite_url):
    migrate.upgrade(sqlite_url)
    return sqlite_url


class Rasa:
    """Stands in for Rasa's message handler: records messages and answers like a bot turn would."""

    def __init__(self):
        self.messages: list[UserMessage] = []
        self.lock = threading.Lock()

    async def __call__(self, message: UserMessage) -> None:
        with self.lock:
            self.messages.append(message)
        await asyncio.sleep(0.05)  # a turn takes time; concurrent redeliveries overlap it
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


class _App(Sanic):
    # Sanic rewrites its protocol methods in place at start-up ("touch-up"); test mode keeps
    # the originals, so that several apps can start in one process.
    test_mode = True


class Served:
    """A Sanic app with the channel's blueprint at Rasa's URL prefix, on a free port in a thread."""

    def __init__(self, channel: TelegramInput, handler):
        self.app = _App(f"tg_{uuid.uuid4().hex[:8]}")
        self.app.blueprint(channel.blueprint(handler), url_prefix="/webhooks/" + channel.url_prefix())  # as rasa.core.channels.channel.register
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            server = self.loop.run_until_complete(
                self.app.create_server(host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False))
            self.loop.run_until_complete(server.startup())
            self.server = server
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/telegram/webhook"

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def make_channel(fake, db, **kwargs) -> TelegramInput:
    kwargs.setdefault("api_base_url", fake.base_url)
    return TelegramInput(kwargs.pop("token", TOKEN), kwargs.pop("secret", SECRET), db, **kwargs)


@pytest.fixture
def served(fake, db):
    started = []

    def serve(**kwargs):
        rasa = Rasa()
        channel = make_channel(fake, db, **kwargs)
        server = Served(channel, rasa)
        started.append(server)
        return server, rasa, channel

    yield serve
    for server in started:
        server.stop()


def test_text_message_reaches_rasa_and_the_reply_reaches_telegram(served, fake):
    server, rasa, _ = served()
    response = deliver(server.url, text_update(next(update_ids), CHAT, "how much is premium?"), SECRET)
    assert response.status_code == 200, response.text
    [message] = rasa.messages
    assert (message.text, message.sender_id, message.input_channel) == ("how much is premium?", f"telegram:{CHAT}", "telegram")
    assert message.metadata["telegram"]["chat_type"] == "private"
    [sent] = fake.made("sendMessage")
    assert (sent.params["chat_id"], sent.params["text"]) == (str(CHAT), "echo: how much is premium?")
    assert sent.token == TOKEN


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_a_missing_or_wrong_secret_is_403_and_nothing_is_processed(served, fake, secret):
    server, rasa, _ = served()
    response = deliver(server.url, text_update(next(update_ids), CHAT, "hi"), secret)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert rasa.messages == [] and fake.calls == []


@pytest.mark.parametrize("body", [
    b"{not json", b"\xff\xfe", b"[]", b'"text"', b"{}", b'{"update_id": "12"}', b'{"update_id": true}',
    json.dumps({"update_id": 5, "message": {"text": "hi"}}).encode(),
    json.dumps({"update_id": 6, "message": {"chat": {"id": "abc"}, "text": "hi"}}).encode(),
    json.dumps({"update_id": 7, "message": "hi"}).encode(),
    json.dumps({"update_id": 8, "callback_query": {"data": "x"}}).encode(),
])
def test_malformed_updates_are_400_and_the_channel_keeps_working(served, fake, body):
    server, rasa, _ = served()
    response = deliver(server.url, body, SECRET)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("malformed_json", "malformed_update")
    assert rasa.messages == [] and fake.calls == []
    assert deliver(server.url, text_update(next(update_ids), CHAT, "hi"), SECRET).status_code == 200
    assert len(rasa.messages) == 1


def test_a_redelivered_update_is_processed_once(served, fake):
    server, rasa, _ = served()
    update = text_update(next(update_ids), CHAT, "hello")
    assert deliver(server.url, update, SECRET).json() == {"status": "ok"}
    assert deliver(server.url, update, SECRET).json() == {"status": "duplicate"}
    assert len(rasa.messages) == 1 and len(fake.made("sendMessage")) == 1


def test_concurrent_redeliveries_are_processed_once(served, fake):
    server, rasa, _ = served()
    update = text_update(next(update_ids), CHAT, "hello")
    with ThreadPoolExecutor(8) as pool:
        statuses = [r.json()["status"] for r in pool.map(lambda _: deliver(server.url, update, SECRET), range(8))]
    assert sorted(statuses) == ["duplicate"] * 7 + ["ok"]
    assert len(rasa.messages) == 1 and len(fake.made("sendMessage")) == 1


def test_dedup_survives_a_restart_and_separates_bots(fake, migrated_url):
    first = TelegramState(migrated_url)
    assert first.claim_update("111", 42) is True
    first.dispose()
    again = TelegramState(migrated_url)
    assert again.claim_update("111", 42) is False
    assert again.claim_update("222", 42) is True  # update ids are per bot
    with ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(lambda _: again.claim_update("111", 43), range(6))) == [False] * 5 + [True]
    again.dispose()


def test_non_text_messages_get_a_polite_reply_and_never_reach_rasa(served, fake):
    server, rasa, _ = served(non_text_reply="Text only, please.")
    assert deliver(server.url, photo_update(next(update_ids), CHAT), SECRET).status_code == 200
    assert deliver(server.url, message_update(next(update_ids), CHAT, location={"latitude": 1.0, "longitude": 2.0}),
                   SECRET).status_code == 200
    assert [c.params["text"] for c in fake.made("sendMessage")] == ["Text only, please."] * 2
    # Service messages and kinds journeybot does not handle are acknowledged silently.
    joined = message_update(next(update_ids), CHAT, new_chat_members=[{"id": 1, "is_bot": False, "first_name": "B"}])
    assert deliver(server.url, joined, SECRET).json() == {"status": "ignored"}
    edited = {"update_id": next(update_ids), "edited_message": text_update(1, CHAT, "edit")["message"]}
    assert deliver(server.url, edited, SECRET).json() == {"status": "ignored"}
    assert rasa.messages == [] and len(fake.made("sendMessage")) == 2


def test_commands_never_reach_rasa_as_intents(served, fake):
    server, rasa, _ = served(start_text="hello there")
    for text in ["/start", "/start@aurora_coffee_bot", '/place_order{"plan": "premium"}', "/help me"]:
        deliver(server.url, text_update(next(update_ids), CHAT, text), SECRET)
    assert [m.text for m in rasa.messages] == ["hello there", "hello there", 'place_order{"plan": "premium"}', "help me"]


def render(channel: TelegramInput, buttons, **kwargs):
    return asyncio.run(channel.get_output_channel().inline_keyboard(buttons, **kwargs))


def test_buttons_become_inline_keyboards(fake, db):
    channel = make_channel(fake, db)
    buttons = [{"title": "Premium", "payload": "/choose{\"plan\": \"premium\"}"},
               {"title": "Basic", "payload": "/choose{\"plan\": \"basic\"}"},
               {"title": "Shop", "url": "https://example.com/shop"}]
    assert render(channel, buttons) == {"inline_keyboard": [
        [{"text": "Premium", "callback_data": "/choose{\"plan\": \"premium\"}"}],
        [{"text": "Basic", "callback_data": "/choose{\"plan\": \"basic\"}"}],
        [{"text": "Shop", "url": "https://example.com/shop"}]]}
    assert render(channel, buttons[:2], layout="inline")["inline_keyboard"] == [[
        {"text": "Premium", "callback_data": "/choose{\"plan\": \"premium\"}"},
        {"text": "Basic", "callback_data": "/choose{\"plan\": \"basic\"}"}]]


def test_send_text_with_buttons_delivers_a_valid_keyboard(fake, db):
    channel = make_channel(fake, db)
    asyncio.run(channel.get_output_channel().send_text_with_buttons(
        str(CHAT), "Which plan?", [{"title": "Premium", "payload": LONG_PAYLOAD}, {"title": "No", "payload": "/deny"}]))
    [sent] = fake.made("sendMessage")  # the fake rejects callback_data over 64 bytes, as Telegram does
    rows = sent.markup["inline_keyboard"]
    assert [r[0]["text"] for r in rows] == ["Premium", "No"]
    assert rows[0][0]["callback_data"] == callback_key(LONG_PAYLOAD) and rows[1][0]["callback_data"] == "/deny"


def test_a_long_payload_round_trips_through_a_button_press_even_after_a_restart(served, fake, db):
    assert len(LONG_PAYLOAD.encode()) > 64
    first = make_channel(fake, db)
    [[button]] = render(first, [{"title": "Premium monthly", "payload": LONG_PAYLOAD}])["inline_keyboard"]
    key = button["callback_data"]
    assert len(key.encode()) <= 64 and key == callback_key(LONG_PAYLOAD)
    assert render(first, [{"title": "again", "payload": LONG_PAYLOAD}])["inline_keyboard"][0][0]["callback_data"] == key
    server, rasa, _ = served()  # a new channel object: empty in-process cache, same database
    response = deliver(server.url, callback_update(next(update_ids), CHAT, key, query_id="q-1"), SECRET)
    assert response.status_code == 200
    assert [(m.text, m.sender_id) for m in rasa.messages] == [(LONG_PAYLOAD, f"telegram:{CHAT}")]
    [answered] = fake.made("answerCallbackQuery")
    assert answered.params["callback_query_id"] == "q-1"
    # answered before the turn's reply, so the button's spinner stops at once
    assert [c.method for c in fake.calls] == ["answerCallbackQuery", "sendMessage"]


def test_short_payloads_pass_through_and_unknown_keys_get_a_polite_reply(served, fake):
    server, rasa, _ = served(expired_button_reply="That button expired.")
    deliver(server.url, callback_update(next(update_ids), CHAT, "/affirm"), SECRET)
    deliver(server.url, callback_update(next(update_ids), CHAT, callback_key("never stored")), SECRET)
    assert [m.text for m in rasa.messages] == ["/affirm"]
    assert len(fake.made("answerCallbackQuery")) == 2
    assert [c.params["text"] for c in fake.made("sendMessage")] == ["echo: /affirm", "That button expired."]


def test_a_failing_answer_callback_query_does_not_lose_the_press(served, fake):
    server, rasa, _ = served()
    fake.queue(400, {"ok": False, "error_code": 400, "description": "Bad Request: query is too old"},
               method="answerCallbackQuery")
    assert deliver(server.url, callback_update(next(update_ids), CHAT, "/affirm"), SECRET).status_code == 200
    assert [m.text for m in rasa.messages] == ["/affirm"]


@pytest.mark.parametrize("token,secret,missing", [(None, SECRET, "TELEGRAM_BOT_TOKEN"),
                                                  (TOKEN, None, "TELEGRAM_WEBHOOK_SECRET"),
                                                  (None, None, "TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET")])
def test_without_secrets_the_channel_stays_registered_and_answers_503(fake, db, caplog, token, secret, missing):
    env = {k: v for k, v in {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_WEBHOOK_SECRET": secret,
                             "JOURNEYBOT_DATABASE_URL": db}.items() if v}
    with caplog.at_level(logging.WARNING, logger="bot.channels.telegram.channel"):
        channel = TelegramInput.from_credentials({"api_base_url": fake.base_url}, env=env)
    assert [r.getMessage() for r in caplog.records if missing in r.getMessage()]
    assert (channel.get_output_channel() is None) == (token is None)
    rasa = Rasa()
    server = Served(channel, rasa)
    try:
        response = deliver(server.url, text_update(next(update_ids), CHAT, "hi"), SECRET)
        assert response.status_code == 503 and missing in response.json()["error"]["message"]
        assert requests.get(server.url.rsplit("/", 1)[0] + "/", timeout=5).json() == {"status": "unconfigured"}
    finally:
        server.stop()
    assert rasa.messages == [] and fake.calls == []


def test_from_credentials_reads_the_named_variables(fake, db):
    env = {"MY_TOKEN": TOKEN, "MY_SECRET": SECRET, "JOURNEYBOT_DATABASE_URL": db}
    channel = TelegramInput.from_credentials({"token_env": "MY_TOKEN", "secret_env": "MY_SECRET",
                                              "api_base_url": fake.base_url, "button_layout": "inline"}, env=env)
    output = channel.get_output_channel()
    assert isinstance(output, TelegramOutput) and output.name() == "telegram"
    assert (channel.configured, output.client.base_url, output.button_layout) == (True, fake.base_url, "inline")
    assert channel.state.database_url == db


@pytest.mark.parametrize("block,key", [({"tokn_env": "X"}, "tokn_env"), ({"button_layout": "grid"}, "button_layout"),
                                       ({"api_base_url": "ftp://x"}, "api_base_url"), ({"timeout": "soon"}, "timeout"),
                                       ({"token_env": ""}, "token_env")])
def test_bad_config_names_the_file_and_key(block, key):
    with pytest.raises(TelegramConfigError, match=rf"credentials\.yml: bot\.channels\.telegram\.TelegramInput\.{key}:"):
        load_config(block)


def test_long_texts_are_split_below_telegrams_limit():
    text = "\n\n".join(["a" * 3000, "b" * 3000, "c" * 5000])
    parts = _chunks(text)
    assert all(len(p) <= 4096 for p in parts) and "".join(parts).replace("\n", "") == text.replace("\n", "")
    assert _chunks("short") == ["short"]


def test_client_retries_flood_waits_and_raises_typed_errors(fake):
    client = TelegramClient(TOKEN, fake.base_url, timeout=2)
    fake.queue(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 0",
                     "parameters": {"retry_after": 0}}, method="sendMessage")
    assert asyncio.run(client.send_message(CHAT, "hi"))["text"] == "hi"
    assert len(fake.made("sendMessage")) == 2
    with pytest.raises(TelegramApiError) as error:
        asyncio.run(client.send_message(CHAT, ""))
    assert (error.value.error_code, error.value.method) == (400, "sendMessage")
    with pytest.raises(TelegramApiError) as error:
        asyncio.run(TelegramClient("999:wrong", fake.base_url).call("getMe"))
    assert error.value.error_code == 401
    fake.queue(200, {"ok": True, "result": True}, delay=1.5)
    with pytest.raises(TelegramUnavailable, match=r"no answer within 0\.5s"):
        asyncio.run(TelegramClient(TOKEN, fake.base_url, timeout=0.5).call("getMe"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(TelegramUnavailable, match="cannot connect"):
        asyncio.run(TelegramClient(TOKEN, f"http://127.0.0.1:{closed}", retries=1).call("getMe"))


def test_the_fake_accepts_form_encoded_requests_like_aiogram_sends(fake):
    markup = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    reply = requests.post(f"{fake.base_url}/bot{TOKEN}/sendMessage",
                          data={"chat_id": CHAT, "text": "hi", "reply_markup": markup}, timeout=5).json()
    assert reply["ok"] and reply["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
    assert fake.made("sendMessage")[0].markup == json.loads(markup)


def test_set_webhook_cli_sends_the_secret(fake, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from bot.channels.telegram.setup import telegram

    creds = tmp_path / "credentials.yml"
    creds.write_text(f"bot.channels.rest.RestInput:\nbot.channels.telegram.TelegramInput:\n  api_base_url: {fake.base_url}\n")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    url = "https://bot.example.com/webhooks/telegram/webhook"
    result = CliRunner().invoke(telegram, ["--credentials", str(creds), "set-webhook", "--url", url])
    assert result.exit_code == 0, result.output
    assert fake.webhook == {"url": url, "secret_token": SECRET, "allowed_updates": ["message", "callback_query"]}
    result = CliRunner().invoke(telegram, ["--credentials", str(creds), "webhook-info"])
    assert result.exit_code == 0 and f"url: {url}" in result.output
    bad = CliRunner().invoke(telegram, ["--credentials", str(creds), "set-webhook", "--url", "http://insecure/x"])
    assert bad.exit_code != 0 and "https" in bad.output
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "has spaces!")
    bad = CliRunner().invoke(telegram, ["--credentials", str(creds), "set-webhook", "--url", url])
    assert bad.exit_code != 0 and "A-Z a-z 0-9 _ -" in bad.output
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    missing = CliRunner().invoke(telegram, ["--credentials", str(creds), "webhook-info"])
    assert missing.exit_code != 0 and "TELEGRAM_BOT_TOKEN is not set" in missing.output
