"""Twilio WhatsApp connector: output through a fake Twilio Messages API, credentials from env,
and agent pushes routed to the provider that carried the user's last message."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.channels.whatsapp.cloud.channel import WhatsAppInput
from bot.channels.whatsapp.twilio.channel import TwilioWhatsAppInput, TwilioWhatsAppOutput, twilio_address
from journey_state.store import migrate
from tests.fakes import twilio as tw
from tests.fakes import whatsapp as wa


@pytest.fixture
def fake():
    server = tw.FakeTwilio().start()
    yield server
    server.stop()


def output(fake, auth_token=tw.AUTH_TOKEN) -> TwilioWhatsAppOutput:
    client = Client(tw.ACCOUNT_SID, auth_token, http_client=TwilioHttpClient(timeout=5))
    client.api.base_url = fake.base_url
    return TwilioWhatsAppOutput(client, tw.WHATSAPP_NUMBER)


def test_addresses():
    assert twilio_address("+4915100000001") == "whatsapp:+4915100000001"
    assert twilio_address("whatsapp:+14155238886") == "whatsapp:+14155238886"


def test_text_is_sent_and_long_text_split(fake):
    out = output(fake)
    asyncio.run(out.send_text_message("+4915100000001", "Hello there"))
    asyncio.run(out.send_text_message("+4915100000001", ("word " * 500).strip()))
    sent = fake.wait_for(3)
    assert (sent[0].to, sent[0].from_, sent[0].body) == ("whatsapp:+4915100000001", tw.WHATSAPP_NUMBER, "Hello there")
    assert [len(m.body) <= 1600 for m in sent[1:]] == [True, True]
    assert " ".join(m.body for m in sent[1:]) == ("word " * 500).strip()


def test_buttons_become_listed_options(fake):
    asyncio.run(output(fake).send_text_with_buttons("+4915100000001", "Pick a plan",
                                                     [{"title": "Premium", "payload": "/a"}, {"title": "Basic", "payload": "/b"}]))
    assert fake.wait_for(1)[0].body == "Pick a plan\n\n• Premium\n• Basic"


def test_refusals_are_logged_not_raised(fake, caplog):
    caplog.set_level(logging.ERROR)
    asyncio.run(output(fake, auth_token="0" * 32).send_text_message("+4915100000001", "hi"))
    assert "HTTP 401" in caplog.text and "0" * 32 not in caplog.text
    assert fake.sent == []


def test_missing_secrets_leave_the_channel_registered_but_disabled(monkeypatch, caplog):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.WARNING)
    channel = TwilioWhatsAppInput.from_credentials({"auth_token_env": "TWILIO_AUTH_TOKEN"})
    assert not channel.configured and channel.get_output_channel() is None
    assert channel.name() == "whatsapp" and channel.url_prefix() == "twilio_whatsapp"
    assert "TWILIO_ACCOUNT_SID" in caplog.text and "503" in caplog.text


def test_configured_from_env(monkeypatch, sqlite_url, fake):
    migrate.upgrade(sqlite_url)
    monkeypatch.setenv("JB_TEST_SID", tw.ACCOUNT_SID)
    monkeypatch.setenv("JB_TEST_TOKEN", tw.AUTH_TOKEN)
    monkeypatch.setenv("JB_TEST_NUMBER", tw.WHATSAPP_NUMBER)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", sqlite_url)
    channel = TwilioWhatsAppInput.from_credentials({
        "account_sid_env": "JB_TEST_SID", "auth_token_env": "JB_TEST_TOKEN", "whatsapp_number_env": "JB_TEST_NUMBER",
        "public_base_url": "https://bot.example.com/", "api_base_url": fake.base_url,
    })
    assert channel.configured and channel.public_base_url == "https://bot.example.com"
    asyncio.run(channel.reply_channel().send_text_message("+4915100000001", "hi"))
    assert fake.wait_for(1)[0].body == "hi"
    channel.store.engine.dispose()


def test_pushes_go_to_the_provider_that_carried_the_last_message(monkeypatch, sqlite_url, fake):
    """Both connectors configured: an agent push follows the user's provider, whichever connector Rasa picked."""
    migrate.upgrade(sqlite_url)
    graph = wa.FakeGraph().start()
    try:
        env = {"JB_SID": tw.ACCOUNT_SID, "JB_TOKEN": tw.AUTH_TOKEN, "JB_NUMBER": tw.WHATSAPP_NUMBER,
               "JB_VERIFY": wa.VERIFY_TOKEN, "JB_SECRET": wa.APP_SECRET, "JB_ACCESS": wa.TOKEN, "JB_PHONE": wa.PHONE_NUMBER_ID,
               "JOURNEYBOT_DATABASE_URL": sqlite_url}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        twilio = TwilioWhatsAppInput.from_credentials({"account_sid_env": "JB_SID", "auth_token_env": "JB_TOKEN",
                                                       "whatsapp_number_env": "JB_NUMBER", "api_base_url": fake.base_url})
        cloud = WhatsAppInput.from_credentials({"verify_token_env": "JB_VERIFY", "app_secret_env": "JB_SECRET",
                                                "access_token_env": "JB_ACCESS", "phone_number_id_env": "JB_PHONE",
                                                "graph_base_url": graph.base_url, "graph_version": wa.VERSION})
        now = datetime.now(timezone.utc)
        twilio.store.touch("+4915100000001", "twilio", now)
        cloud.store.touch("+4915100000002", "cloud", now)
        for push in (twilio.get_output_channel(), cloud.get_output_channel()):
            asyncio.run(push.send_response("+4915100000001", {"text": "via Twilio"}))
            asyncio.run(push.send_response("+4915100000002", {"text": "via Cloud API"}))
        assert [m.body for m in fake.wait_for(2)] == ["via Twilio", "via Twilio"]
        assert [s.body["text"]["body"] for s in graph.wait_for(2)] == ["via Cloud API", "via Cloud API"]
        twilio.store.engine.dispose()
        cloud.store.engine.dispose()
    finally:
        graph.stop()
