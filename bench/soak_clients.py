"""The people in the soak (bench/soak.py): customers on REST and web chat, and one staff agent.

Customers behave as a careful client does: a message the server never took (connection
refused or reset, a 5xx, a socket.io emit without acknowledgement) is sent again once the
server answers; a message the server took is never repeated. What each message got back is
recorded, so the report can tell answered, apologised, seen by an agent and lost apart.
"""
from __future__ import annotations

import contextlib
import queue
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
import socketio
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
AGENT_PREFIX = "Agent Ann: "
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ANNOTATION = re.compile(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})")
SEND_PATIENCE_S = 300.0  # how long a customer keeps retrying a message nobody took (Rasa restarts take ~1 min)


def training_examples(intents: tuple[str, ...]) -> dict[str, list[str]]:
    """Examples per intent from data/nlu, entity annotations removed ("[premium](plan)" -> "premium")."""
    found: dict[str, list[str]] = {i: [] for i in intents}
    for path in sorted((PROJECT_DIR / "data/nlu").glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if block.get("intent") in found:
                lines = [ln.strip()[2:].strip() for ln in str(block.get("examples") or "").splitlines() if ln.strip().startswith("- ")]
                found[block["intent"]].extend(ANNOTATION.sub(r"\1", ln) for ln in lines if ln)
    missing = [i for i, v in found.items() if not v]
    if missing:
        raise RuntimeError(f"no training examples for {missing}")
    return found


QUESTIONS = ("track_order", "delivery_period", "ask_pricing", "product_info", "check_refund_policy", "get_invoice", "cancel_order")
INTENTS = ("greet", *QUESTIONS, "complaint", "contact_human_agent", "review", "thanks", "goodbye")


def conversation(examples: dict[str, list[str]], rng: random.Random, asks_for_human: bool) -> list[str]:
    """One support conversation: greeting, questions, maybe a complaint or a request for a person, feedback, goodbye."""
    def pick(intent):
        return rng.choice(examples[intent])
    turns = [pick("greet"), pick(rng.choice(QUESTIONS)), pick(rng.choice(QUESTIONS))]
    if rng.random() < 0.4:
        turns.append(pick("complaint"))
    if asks_for_human:
        turns += [pick("contact_human_agent"), "hello? is anyone there?", pick(rng.choice(QUESTIONS))]
    turns += [pick("review"), pick(rng.choice(("thanks", "goodbye")))]
    return turns


@dataclass
class Sent:
    """One customer message and what came back to the customer in answer."""

    customer: str
    channel: str
    external_id: str
    text: str
    at: float
    replies: list[str] = field(default_factory=list)
    retries: int = 0
    taken: bool = True  # False: the server never took it within SEND_PATIENCE_S


class Customer:
    channel = ""

    def __init__(self, name: str, rasa_url: str, log: Callable[[Sent], None]):
        self.name, self.rasa_url, self.log = name, rasa_url, log
        self.external_id = f"soak-{name}-{random.getrandbits(32):08x}"
        self.heard_agent: list[str] = []

    @property
    def conversation_id(self) -> str:
        return f"{self.channel}:{self.external_id}"

    def say(self, text: str) -> Sent:
        raise NotImplementedError

    def close(self) -> None:
        pass


class RestCustomer(Customer):
    channel = "rest"

    def __init__(self, name: str, rasa_url: str, log: Callable[[Sent], None], token: str):
        super().__init__(name, rasa_url, log)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def say(self, text: str) -> Sent:
        sent = Sent(self.name, self.channel, self.external_id, text, time.time())
        deadline = time.monotonic() + SEND_PATIENCE_S
        while True:
            try:
                response = self.http.post(f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": self.external_id, "message": text},
                                          timeout=90)
                if response.status_code < 500:
                    response.raise_for_status()
                    sent.replies = [m.get("text") or "" for m in response.json()]
                    break
            except requests.ConnectionError:
                pass  # refused or reset: Rasa did not take the message
            except requests.Timeout:
                pass  # no answer in 90 s: a client gives up on this request and tries again
            if time.monotonic() > deadline:
                sent.taken = False
                break
            sent.retries += 1
            time.sleep(1.0)
        self.log(sent)
        return sent


class WebCustomer(Customer):
    """The storefront widget's protocol over socket.io long-polling, with acknowledgements.

    The channel acknowledges `user_uttered` after Rasa has handled the message, so every
    `bot_uttered` of that turn arrives before the acknowledgement.
    """

    channel = "socketio"

    def __init__(self, name: str, rasa_url: str, log: Callable[[Sent], None]):
        super().__init__(name, rasa_url, log)
        self.external_id = f"{random.getrandbits(128):032x}"
        self.inbox: queue.Queue = queue.Queue()
        self.client: socketio.Client | None = None

    def _connect(self) -> socketio.Client:
        if self.client is not None and self.client.connected:
            return self.client
        self.close()
        client = socketio.Client(reconnection=False)
        confirmed: queue.Queue = queue.Queue()
        client.on("bot_uttered", lambda data: self.inbox.put(data))
        client.on("session_confirm", confirmed.put)
        client.connect(self.rasa_url, socketio_path="/socket.io/", transports=["polling"], wait_timeout=10)
        client.emit("session_request", {"session_id": self.external_id})
        confirmed.get(timeout=15)
        self.client = client
        return client

    def _drain(self) -> list[str]:
        got = []
        while True:
            try:
                data = self.inbox.get_nowait()
            except queue.Empty:
                return got
            text = (data or {}).get("text") or ""
            (self.heard_agent if text.startswith(AGENT_PREFIX) else got).append(text)

    def say(self, text: str) -> Sent:
        sent = Sent(self.name, self.channel, self.external_id, text, time.time())
        deadline = time.monotonic() + SEND_PATIENCE_S
        self._drain()  # late messages of earlier turns (agent replies are kept apart)
        while True:
            acked = threading.Event()
            try:
                self._connect().emit("user_uttered", {"message": text, "session_id": self.external_id}, callback=lambda *_, done=acked: done.set())
                if acked.wait(90):
                    sent.replies = self._drain()
                    break
            except Exception:  # noqa: BLE001 - connection refused, dropped, or no session confirmation: not taken
                pass
            self.close()
            if time.monotonic() > deadline:
                sent.taken = False
                break
            sent.retries += 1
            time.sleep(1.0)
        self.log(sent)
        return sent

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # already gone with the server
                self.client.disconnect()
            self.client = None


class StaffAgent:
    """One agent in the console over HTTP: claims what is queued, takes over on request, replies, hands back."""

    def __init__(self, console_url: str, username: str, password: str, hold_s: float):
        self.base, self.username, self.password, self.hold_s = console_url, username, password, hold_s
        self.http = requests.Session()
        self.token = ""
        self.held: dict[int, float] = {}  # handoff id -> when to hand back
        self.replied: set[int] = set()
        self.takeovers: queue.Queue[tuple[str, str]] = queue.Queue()
        self.handled: list[dict] = []
        self.errors: dict[str, int] = {}
        self.agent_replies = 0

    def login(self) -> None:
        self.http = requests.Session()
        self.token = self._csrf("/staff/login")
        response = self.http.post(f"{self.base}/staff/login", data={"username": self.username, "password": self.password, "csrf_token": self.token},
                                  allow_redirects=False, timeout=30)
        if response.status_code != 302:
            raise RuntimeError(f"staff login failed: {response.status_code} {response.text[:200]}")
        self.token = self._csrf("/staff/")

    def _csrf(self, path: str) -> str:
        page = self.http.get(f"{self.base}{path}", timeout=30)
        page.raise_for_status()
        return CSRF.search(page.text).group(1)

    def _post(self, path: str, **data: str) -> requests.Response:
        return self.http.post(f"{self.base}{path}", data={"csrf_token": self.token, **data}, headers={"Accept": "application/json"},
                              allow_redirects=False, timeout=60)

    def _error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def step(self, final: bool = False) -> None:
        """One round: take over what was asked, claim the queue, reply once, hand back what was held long enough."""
        while not self.takeovers.empty():
            channel, sender = self.takeovers.get()
            response = self._post("/staff/takeover", channel=channel, sender_id=sender)
            if response.status_code == 303 and "/staff/handoffs/" in response.headers.get("Location", ""):
                self.held[int(response.headers["Location"].rstrip("/").split("/")[-1])] = time.monotonic() + self.hold_s
            else:
                self._error(f"takeover {response.status_code}")
                if response.status_code >= 500:  # Rasa could not pause it now: ask again next round
                    self.takeovers.put((channel, sender))
                break
        for row in self.http.get(f"{self.base}/staff/queue.json", headers={"Accept": "application/json"}, timeout=30).json()["queued"]:
            response = self._post(f"/staff/handoffs/{row['id']}/claim")
            if response.status_code == 200:
                self.held[row["id"]] = time.monotonic() + self.hold_s
            else:
                self._error(f"claim {response.status_code}")
        for handoff, until in list(self.held.items()):
            if handoff not in self.replied:
                response = self._post(f"/staff/handoffs/{handoff}/reply", text=f"{AGENT_PREFIX}I'm looking into it (#{handoff}).")
                if response.status_code == 200:
                    self.replied.add(handoff)
                    self.agent_replies += 1
                else:
                    self._error(f"reply {response.status_code}")
            if final or time.monotonic() >= until:
                transcript = self.http.get(f"{self.base}/staff/handoffs/{handoff}/transcript.json", headers={"Accept": "application/json"}, timeout=30)
                response = self._post(f"/staff/handoffs/{handoff}/handback")
                if response.status_code == 303:
                    del self.held[handoff]
                    if transcript.status_code == 200:
                        self.handled.append(transcript.json())
                elif response.status_code == 409:
                    # Already returned: an earlier hand back resumed the bot and marked it, then
                    # could not send the follow-up (Rasa restarting) and answered 5xx.
                    del self.held[handoff]
                    self._error("handback 409 (already handed back)")
                else:
                    self._error(f"handback {response.status_code}")

    def run(self, stop: threading.Event, period_s: float = 2.0) -> None:
        while not stop.is_set():
            try:
                if not self.token:
                    self.login()
                self.step()
            except Exception as exc:  # noqa: BLE001 - the console or its database is restarting: try again next round
                self._error(f"round failed: {type(exc).__name__}")
            stop.wait(period_s)

    def finish(self, timeout_s: float = 180.0) -> None:
        """Hand every held conversation back before the report reads the trackers."""
        deadline = time.monotonic() + timeout_s
        while (self.held or not self.takeovers.empty()) and time.monotonic() < deadline:
            try:
                self.step(final=True)
            except Exception as exc:  # noqa: BLE001 - as in run()
                self._error(f"final round failed: {type(exc).__name__}")
            time.sleep(1.0)
