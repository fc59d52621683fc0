"""The conversation suite: every conversation in tests/conversations/ against ONE real stack over REST.

Real Rasa model, real action server and console on SQLite, seeded with the demo shop's orders.
Each conversation gets its own sender, so they share the stack without sharing a journey; after
every turn the reply is checked (devtools.conversations.check_reply) and the contact's stage is
read back through the journey API. Conversations whose `needs:` feature is listed in
tests/conversations/pending.yml are expected to fail (xfail, not strict) until it is merged.
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests

from devtools.conversations import (
    Conversation,
    Outcome,
    Turn,
    check_bot_said,
    check_contact,
    check_reply,
    describe_turn,
    fill,
    load_pending,
    load_suite,
    reply_text,
)
from devtools.stack import Stack, create_staff_user
from journey_state.commerce.demo_shop import seed_demo_orders
from journey_state.store import make_engine
from journey_state.store.migrate import upgrade

SUITE_DIR = Path(__file__).resolve().parents[1] / "conversations"
# Demo customers: each gets four orders (paid, in transit, delivered, delivered long ago),
# numbered from AUR-10042 in this order, so a conversation that cancels or refunds one has
# orders nobody else reads.
DEMO_EMAILS = ["demo@auroracoffee.example", "ines@auroracoffee.example", "omar@auroracoffee.example",
               "lena@auroracoffee.example", "kofi@auroracoffee.example"]
AGENT, AGENT_PASSWORD = "sam", "suite agent password 1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

CONVERSATIONS = load_suite(SUITE_DIR)
PENDING = load_pending(SUITE_DIR)
OUTCOMES: list[Outcome] = []  # read by the terminal summary in tests/e2e/conftest.py


def _param(conversation: Conversation):
    pending = [f"{need}: {PENDING[need]}" for need in conversation.needs if need in PENDING]
    marks = [pytest.mark.xfail(reason="; ".join(pending), strict=False)] if pending else []
    return pytest.param(conversation, id=f"{conversation.theme}/{conversation.id}", marks=marks)


@pytest.fixture(scope="module")
def suite_stack(trained_model, tmp_path_factory):
    """One stack for the whole module: starting one costs far more than all the conversations."""
    work = tmp_path_factory.mktemp("conversation-suite")
    url = f"sqlite:///{work / 'journeybot.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        seed_demo_orders(engine, DEMO_EMAILS)
    finally:
        engine.dispose()
    create_staff_user(url, AGENT, AGENT_PASSWORD, role="agent")
    stack = Stack.create(trained_model, url, work / "stack")
    try:
        yield stack.start()
    finally:
        stack.stop()


class Agent:
    """A staff member in the stack's console, over HTTP (login, queue, claim, reply, hand back)."""

    def __init__(self, stack: Stack):
        self.base = stack.settings.console_url
        self.http = requests.Session()
        login = self.http.get(f"{self.base}/staff/login", timeout=30)
        token = CSRF.search(login.text).group(1)
        done = self.http.post(f"{self.base}/staff/login", timeout=30, allow_redirects=False,
                              data={"username": AGENT, "password": AGENT_PASSWORD, "csrf_token": token})
        assert done.status_code == 302, done.text
        self.csrf = CSRF.search(self.http.get(f"{self.base}/staff/", timeout=30).text).group(1)

    def handoff_id(self, sender: str) -> int:
        queue = self.http.get(f"{self.base}/staff/queue.json", timeout=30).json()
        ids = [row["id"] for row in queue["queued"] + queue["assigned"] if row["sender_id"] == sender]
        assert ids, f"no open handoff for {sender}"
        return ids[0]

    def act(self, action: str, sender: str, text: str = "") -> None:
        handoff = self.handoff_id(sender)
        data = {"csrf_token": self.csrf}
        if action == "reply":
            data["text"] = text or "Hi, this is Sam from the team. How can I help?"
        response = self.http.post(f"{self.base}/staff/handoffs/{handoff}/{action}", data=data, timeout=60, allow_redirects=False)
        assert response.status_code == 303, f"{action}: {response.status_code} {response.text[:300]}"


@pytest.fixture(scope="module")
def agent(suite_stack):
    return Agent(suite_stack)


def contact(stack: Stack, sender: str) -> dict | None:
    response = stack.api("GET", f"/api/contacts/by-channel/rest/{sender}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def tracker(stack: Stack, sender: str) -> dict:
    response = requests.get(f"{stack.settings.rasa_url}/conversations/rest:{sender}/tracker",
                            params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]}, timeout=30)
    response.raise_for_status()
    return response.json()


def post_event(stack: Stack, sender: str, n: int, turn: Turn) -> None:
    body = {"idempotency_key": f"{sender}-{n}-{turn.value}", "type": turn.value,
            "contact": {"channel": "rest", "external_id": sender}, "payload": dict(turn.payload)}
    response = stack.api("POST", "/api/events", json=body)
    assert response.status_code in (200, 201), response.text


def run(stack: Stack, agent_factory, conversation: Conversation) -> list[str]:
    """Play the conversation; raise at the first turn that misses, with the transcript so far."""
    base = f"suite-{conversation.id}-{uuid.uuid4().hex[:6]}"
    captured: dict[str, str] = {}
    transcript: list[str] = []
    for n, turn in enumerate(conversation.turns):
        sender = f"{base}-{turn.speaker}" if turn.speaker else base
        messages: list[dict] = []
        if turn.kind == "say":
            text = turn.value * turn.times
            for name, value in captured.items():
                text = text.replace("{" + name + "}", value)
            messages = stack.say(sender, text)
            transcript += [describe_turn(turn), "  bot: " + (reply_text(messages).replace("\n", " / ") or "(nothing)")]
        elif turn.kind == "event":
            post_event(stack, sender, n, turn)
            transcript.append(describe_turn(turn))
        else:
            agent_factory().act(turn.value, sender, turn.payload.get("text", ""))
            transcript.append(describe_turn(turn))
        expect = fill(turn.expect, captured)
        state = tracker(stack, sender) if "handoff" in expect or "bot_said" in expect else {}
        handed_off = bool(state.get("paused")) if "handoff" in expect else None
        bot_texts = [e.get("text") or "" for e in state.get("events", []) if e.get("event") == "bot"] if "bot_said" in expect else None
        problems = (check_reply(expect, messages, handed_off) if turn.kind == "say" else [])
        problems += check_bot_said(expect, bot_texts) + check_contact(expect, contact(stack, sender))
        for name, pattern in turn.capture.items():
            found = re.search(pattern, reply_text(messages))
            if found is None:
                problems.append(f"nothing to capture as {name} (/{pattern}/)")
            else:
                captured[name] = found.group(0)
        if problems:
            raise AssertionError(f"turn {n + 1} ({describe_turn(turn)}): " + "; ".join(problems) + "\n" + "\n".join(transcript))
    return transcript


@pytest.mark.parametrize("conversation", [_param(c) for c in CONVERSATIONS])
def test_conversation(conversation, suite_stack, request):
    try:
        transcript = run(suite_stack, lambda: request.getfixturevalue("agent"), conversation)
    except Exception as exc:  # an HTTP error (a 500 from Rasa) is a failed conversation too
        OUTCOMES.append(Outcome(conversation, False, str(exc) or type(exc).__name__))
        raise
    OUTCOMES.append(Outcome(conversation, True))
    print("\n".join(transcript))  # shown with -s or -rP: what a passing conversation looked like
