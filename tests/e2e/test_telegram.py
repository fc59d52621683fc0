"""The Telegram channel inside the real Rasa server and action server, against the fake Bot API."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from journey_state.model import load_named_model
from journey_state.replies import load_replies
from tests.e2e.conftest import PROJECT
from tests.fakes.telegram import TOKEN, FakeTelegram, deliver, photo_update, text_update

SECRET = "e2e-webhook-secret_0123456789"


@pytest.fixture
def fake():
    telegram = FakeTelegram().start()
    yield telegram
    telegram.stop()


def credentials(tmp_path, fake) -> str:
    path = tmp_path / "credentials.yml"
    path.write_text(
        "bot.channels.rest.RestInput:\n"
        "bot.channels.telegram.TelegramInput:\n"
        "  token_env: TELEGRAM_BOT_TOKEN\n"
        "  secret_env: TELEGRAM_WEBHOOK_SECRET\n"
        f"  api_base_url: {fake.base_url}\n"
    )
    return str(path)


def user_texts(stack, sender: str) -> list[str]:
    response = requests.get(f"{stack.settings.rasa_url}/conversations/telegram:{sender}/tracker",
                            params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]}, timeout=30)
    assert response.status_code == 200, response.text
    return [e.get("text") for e in response.json()["events"] if e["event"] == "user"]


def test_telegram_updates_through_the_real_stack(stack_factory, sqlite_db, tmp_path, fake):
    stack = stack_factory(sqlite_db, "tg", extra_env={
        "JOURNEYBOT_CREDENTIALS": credentials(tmp_path, fake),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    })
    webhook = f"{stack.settings.rasa_url}/webhooks/telegram/webhook"
    chat = random.randint(10**8, 10**9)
    replies = load_replies(PROJECT / "data/business", load_named_model(PROJECT / "data/journeys", "b2c").stage_ids)
    update_id = random.randint(10**6, 10**7)

    # A good update: the bot's answer is delivered to Telegram, and the journey store knows the contact.
    response = deliver(webhook, text_update(update_id, chat, "hi"), SECRET)
    assert response.status_code == 200, response.text
    [sent] = fake.made("sendMessage")
    assert sent.params["chat_id"] == str(chat)
    assert sent.params["text"] == replies.choose("greet", "awareness", "telegram").text
    contact = stack.api("GET", f"/api/contacts/by-channel/telegram/{chat}")
    assert contact.status_code == 200, contact.text
    assert contact.json()["stage"] == "awareness"

    # A wrong secret: 403, and Rasa never sees the message.
    bad = deliver(webhook, text_update(update_id + 1, chat, "how much does the premium plan cost?"), "not-the-secret")
    assert bad.status_code == 403
    assert deliver(webhook, text_update(update_id + 2, chat, "hi"), None).status_code == 403

    # Malformed bodies: 400 JSON, no crash.
    for body in (b"{oops", b'{"update_id": "x"}', b'{"update_id": 1, "message": {"text": "no chat"}}'):
        malformed = deliver(webhook, body, SECRET)
        assert malformed.status_code == 400 and malformed.json()["error"]["code"].startswith("malformed")
    assert user_texts(stack, str(chat)) == ["hi"]
    assert len(fake.made("sendMessage")) == 1

    # Telegram redelivering one update, several times at once: one turn, one answer.
    pricing = text_update(update_id + 3, chat, "how much does the premium plan cost?")
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(r.json()["status"] for r in pool.map(lambda _: deliver(webhook, pricing, SECRET), range(4)))
    assert statuses == ["duplicate"] * 3 + ["ok"]
    assert deliver(webhook, pricing, SECRET).json() == {"status": "duplicate"}
    assert user_texts(stack, str(chat)) == ["hi", "how much does the premium plan cost?"]
    texts = [c.params["text"] for c in fake.made("sendMessage")]
    answer = replies.choose("ask_pricing", "awareness", "telegram").text
    assert texts[1] == answer and texts.count(answer) == 1  # (an offer may follow it, once)
    before_photo = len(texts)
    assert stack.api("GET", f"/api/contacts/by-channel/telegram/{chat}").json()["stage"] == "consideration"

    # A photo gets a polite reply and no turn.
    assert deliver(webhook, photo_update(update_id + 4, chat), SECRET).status_code == 200
    assert fake.made("sendMessage")[-1].params["text"].startswith("Sorry, I can only read text")
    assert len(user_texts(stack, str(chat))) == 2

    # An agent's reply pushed through Rasa's HTTP API reaches the customer on Telegram.
    pushed = requests.post(
        f"{stack.settings.rasa_url}/conversations/telegram:{chat}/tracker/events",
        params={"execute_side_effects": "true", "output_channel": "latest",
                "token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]},
        json=[{"event": "bot", "text": "Hi, this is Maria from Aurora support."}], timeout=60)
    assert pushed.status_code == 200, pushed.text
    [agent] = [c for c in fake.wait_for("sendMessage", before_photo + 2) if c.params["text"].startswith("Hi, this is Maria")]
    assert agent.params["chat_id"] == str(chat)
    assert "Traceback" not in stack.log_tail("rasa", 200_000)


def test_without_telegram_secrets_rasa_starts_and_the_webhook_answers_503(stack_factory, sqlite_db, tmp_path, fake):
    stack = stack_factory(sqlite_db, "tg-off", extra_env={"JOURNEYBOT_CREDENTIALS": credentials(tmp_path, fake),
                                                          "TELEGRAM_BOT_TOKEN": "", "TELEGRAM_WEBHOOK_SECRET": ""})
    response = deliver(f"{stack.settings.rasa_url}/webhooks/telegram/webhook", text_update(1, 42, "hi"), SECRET)
    assert response.status_code == 503
    assert "TELEGRAM_BOT_TOKEN" in response.json()["error"]["message"]
    assert "Telegram channel disabled" in stack.log_tail("rasa", 200_000)
    assert fake.calls == []
    assert stack.say("rest-user", "hi")  # the other channels keep working
