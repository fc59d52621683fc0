"""Human handoff on Telegram, no browser: the customer through the fake Bot API, the agent through the console's HTTP forms.

Real stack (Rasa with the Telegram channel, action server, console process); only
Telegram's Bot API is faked. The agent's reply must reach the fake's sendMessage.
"""
from __future__ import annotations

import random
import re
import time

import pytest
import requests

from devtools.stack import create_staff_user
from tests.e2e.test_telegram import SECRET, credentials
from tests.fakes.telegram import TOKEN, FakeTelegram, deliver, text_update

AGENT, PASSWORD = "ann", "agent password 1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CSAT_QUESTION = "from 1 (very unhappy) to 5"


def try_login(console_url: str, username: str, password: str) -> requests.Response:
    http = requests.Session()
    token = CSRF.search(http.get(f"{console_url}/staff/login", timeout=30).text).group(1)
    return http.post(f"{console_url}/staff/login", data={"username": username, "password": password, "csrf_token": token},
                     allow_redirects=False, timeout=30)


class Agent:
    """A staff member using the console over HTTP: a cookie session and the CSRF token of its forms."""

    def __init__(self, console_url: str, username: str = AGENT, password: str = PASSWORD):
        self.base = console_url
        self.http = requests.Session()
        token = self._csrf("/staff/login")
        login = self.http.post(f"{self.base}/staff/login", data={"username": username, "password": password, "csrf_token": token},
                               allow_redirects=False, timeout=30)
        assert login.status_code == 302, login.text
        self.token = self._csrf("/staff/")

    def _csrf(self, path: str) -> str:
        page = self.http.get(f"{self.base}{path}", timeout=30)
        assert page.status_code == 200, page.text
        return CSRF.search(page.text).group(1)

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}", headers={"Accept": "application/json"}, timeout=30)

    def post(self, path: str, as_json: bool = True, **data) -> requests.Response:
        headers = {"Accept": "application/json"} if as_json else {}
        return self.http.post(f"{self.base}{path}", data={"csrf_token": self.token, **data}, headers=headers,
                              allow_redirects=False, timeout=60)

    def queued(self, sender: str) -> dict:
        rows = [r for r in self.get("/staff/queue.json").json()["queued"] if r["sender_id"] == sender]
        assert len(rows) == 1, rows
        return rows[0]

    def transcript(self, handoff_id: int) -> dict:
        response = self.get(f"/staff/handoffs/{handoff_id}/transcript.json")
        assert response.status_code == 200, response.text
        return response.json()


class Customer:
    """One Telegram chat: sends updates to Rasa's webhook and reads what the bot sent back."""

    def __init__(self, stack, fake: FakeTelegram):
        self.webhook = f"{stack.settings.rasa_url}/webhooks/telegram/webhook"
        self.fake = fake
        self.chat = random.randint(10**8, 10**9)
        self.update_id = random.randint(10**6, 10**7)

    def update(self, text: str) -> dict:
        self.update_id += 1
        return text_update(self.update_id, self.chat, text)

    def send(self, text_or_update) -> requests.Response:
        update = self.update(text_or_update) if isinstance(text_or_update, str) else text_or_update
        response = deliver(self.webhook, update, SECRET)
        assert response.status_code == 200, response.text
        return response

    def received(self) -> list[str]:
        return [c.params["text"] for c in self.fake.made("sendMessage") if c.params["chat_id"] == str(self.chat)]

    def wait_for(self, text: str, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if any(text in t for t in got):
                return got
            time.sleep(0.1)
        raise AssertionError(f"Telegram never got {text!r}; got {self.received()}")

    def silent_after(self, action, quiet: float = 3.0) -> None:
        """The bot sends nothing to this chat because of `action` (checked for `quiet` seconds)."""
        before = self.received()
        action()
        time.sleep(quiet)
        assert self.received() == before, f"the bot spoke while paused: {self.received()[len(before):]}"


@pytest.fixture
def fake():
    telegram = FakeTelegram().start()
    yield telegram
    telegram.stop()


@pytest.fixture
def stack(stack_factory, sqlite_db, tmp_path, fake):
    stack = stack_factory(sqlite_db, "handoff-tg", extra_env={
        "JOURNEYBOT_CREDENTIALS": credentials(tmp_path, fake),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "JOURNEYBOT_CONSOLE_SECRET": "telegram-e2e-secret" * 3,
    })
    create_staff_user(sqlite_db, AGENT, PASSWORD)
    return stack


def rasa_tracker(stack, sender: str) -> dict:
    response = requests.get(f"{stack.settings.rasa_url}/conversations/telegram:{sender}/tracker",
                            params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def test_handoff_over_telegram(stack, fake):
    customer = Customer(stack, fake)
    sender = str(customer.chat)
    customer.send("hi")
    customer.wait_for("Hi!")
    customer.send("I want to talk to a human")
    customer.wait_for("number 1 in the queue")
    assert rasa_tracker(stack, sender)["paused"] is True
    customer.send("hello? anyone?")
    customer.wait_for("Still in line")  # the first message while queued: place and wait
    customer.silent_after(lambda: customer.send("anyone at all?"))  # the next ones: no update per message

    agent = Agent(stack.settings.console_url)
    row = agent.queued(sender)
    assert (row["channel"], row["trigger"], row["reason"]) == ("telegram", "customer_request", "I want to talk to a human")
    assert "hello? anyone?" in [m["text"] for m in agent.transcript(row["id"])["messages"] if m["from"] == "customer"]
    claim = agent.post(f"/staff/handoffs/{row['id']}/claim")
    assert claim.status_code == 200 and claim.json() == {"claimed": row["id"], "agent": AGENT, "announced": True}
    customer.wait_for(" from the team joined the chat.")

    reply = "Hi, this is Ann from the team. What happened?"
    sent = agent.post(f"/staff/handoffs/{row['id']}/reply", text=reply)
    assert sent.status_code == 200 and sent.json() == {"sent": True}
    customer.wait_for(reply)  # delivered by Telegram's sendMessage to this chat
    [delivered] = [c for c in fake.made("sendMessage") if c.params["text"] == reply]
    assert delivered.params["chat_id"] == sender

    customer.silent_after(lambda: customer.send("my parcel never came"))
    transcript = agent.transcript(row["id"])
    assert transcript["paused"] is True
    assert [m["from"] for m in transcript["messages"][-2:]] == ["agent", "customer"]
    assert transcript["messages"][-1]["text"] == "my parcel never came"

    back = agent.post(f"/staff/handoffs/{row['id']}/handback")
    assert back.status_code == 303
    got = customer.wait_for(CSAT_QUESTION)
    assert "virtual assistant" in got[-2] and CSAT_QUESTION in got[-1], got[-3:]
    csat = [c for c in fake.made("sendMessage") if CSAT_QUESTION in c.params["text"]][-1]
    assert [b["text"] for row_ in csat.markup["inline_keyboard"] for b in row_] == ["1", "2", "3", "4", "5"]
    customer.send("5")
    customer.wait_for("Thanks for rating us")
    assert rasa_tracker(stack, sender)["paused"] is False

    late = agent.post(f"/staff/handoffs/{row['id']}/reply", text="one more thing")
    assert late.status_code == 409 and "handed back to the bot" in late.json()["error"]["message"]
    assert "one more thing" not in customer.received()
    assert "Traceback" not in stack.log_tail("rasa", 200_000) + stack.log_tail("console", 200_000)

    # The console process limits failed logins: five wrong passwords, then even the right one waits.
    for attempt in range(5):
        wrong = try_login(stack.settings.console_url, AGENT, f"wrong password {attempt}")
        assert wrong.status_code == 401 and "Wrong username or password." in wrong.text
    locked = try_login(stack.settings.console_url, AGENT, PASSWORD)
    assert locked.status_code == 429 and "Too many failed logins" in locked.text
    assert agent.get("/staff/queue.json").status_code == 200  # a session from before keeps working
