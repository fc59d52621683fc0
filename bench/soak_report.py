"""The soak's figures: what customers got, checked against Rasa's trackers and the journey store.

A message counts as
- answered: the customer got at least one reply that is not the apology;
- apologised: the only reply was the apology (the bot said it cannot answer now);
- seen by an agent: no reply, but it is in the tracker while the conversation was paused
  (the transcript the agent sees is that tracker);
- lost: anything else: taken by the server, never answered, never seen (or never taken at all).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.soak_clients import AGENT_PREFIX, Sent


@dataclass
class Figures:
    sent: int = 0
    answered: int = 0
    apologised: int = 0
    seen_by_agent: int = 0
    lost: int = 0
    never_taken: int = 0
    retries: int = 0
    answered_turns_in_tracker: int = 0
    touchpoints: int = 0
    journey_updates_lost: int = 0
    answered_missing_from_tracker: int = 0
    bot_replies_while_paused_tracker: int = 0
    bot_replies_while_paused_received: int = 0
    agent_replies_heard_on_web_chat: int = 0
    still_paused: list[str] = field(default_factory=list)  # after every handoff was handed back: nobody owns these
    lost_examples: list[str] = field(default_factory=list)
    paused_examples: list[str] = field(default_factory=list)
    journey_examples: list[str] = field(default_factory=list)

    @property
    def bot_replies_while_paused(self) -> int:
        return self.bot_replies_while_paused_tracker + self.bot_replies_while_paused_received

    def lines(self) -> list[str]:
        return [
            f"messages sent:                 {self.sent}  (sent again after a refused/reset request: {self.retries})",
            f"messages answered:             {self.answered}",
            f"messages with an apology:      {self.apologised}",
            f"messages seen by an agent:     {self.seen_by_agent}  (no bot answer: the conversation was with a person)",
            f"messages lost:                 {self.lost}  (of them never taken by the server: {self.never_taken})",
            (f"journey updates lost:          {self.journey_updates_lost}  (answered turns in Rasa's trackers: "
             f"{self.answered_turns_in_tracker}, touchpoints stored: {self.touchpoints}; answered but not in a tracker: "
             f"{self.answered_missing_from_tracker})"),
            (f"bot replies while paused:      {self.bot_replies_while_paused}  (in trackers: {self.bot_replies_while_paused_tracker}, "
             f"received by customers: {self.bot_replies_while_paused_received})"),
            f"agent replies heard on web chat: {self.agent_replies_heard_on_web_chat}",
            f"conversations still paused at the end: {len(self.still_paused)} {self.still_paused[:8]}",
            *(f"  lost: {x}" for x in self.lost_examples[:10]),
            *(f"  bot spoke while paused: {x}" for x in self.paused_examples[:10]),
            *(f"  journey update lost: {x}" for x in self.journey_examples[:10]),
        ]


def _user_turns(events: list[dict[str, Any]]) -> tuple[list[tuple[dict, bool]], list[str], set[str]]:
    """([(user event, paused when it came)], [texts the bot said while paused], {waiting updates}).

    A waiting update (bot/channels/waiting.py: "still in line, number 2") is meant to reach a
    queued customer while paused; it answers no question, so it is not the bot speaking over a person.
    """
    paused = False
    turns, spoke, updates = [], [], set()
    for event in events:
        kind = event.get("event")
        if kind == "pause":
            paused = True
        elif kind == "resume":
            paused = False
        elif kind == "user":
            turns.append((event, paused))
        elif kind == "bot" and (event.get("metadata") or {}).get("journeybot") == "waiting_update":
            updates.add(event.get("text") or "")
        elif kind == "bot" and paused and not (event.get("metadata") or {}).get("agent"):
            spoke.append(event.get("text") or "")
    return turns, spoke, updates


def figures(sent: Iterable[Sent], rasa_url: str, rasa_token: str, api: Any, apologies: set[str],
            heard_agent: int = 0, hand_back_texts: frozenset[str] = frozenset()) -> Figures:
    """`api(method, path)` is Stack.api (the journey API with its token).

    `hand_back_texts` (the follow-ups and the CSAT question the console sends when an agent
    hands back) reach web chat whenever the agent acts, possibly while a message is in
    flight; they answer no message.
    """
    out = Figures(agent_replies_heard_on_web_chat=heard_agent)
    by_conversation: dict[tuple[str, str], list[Sent]] = {}
    for s in sent:
        by_conversation.setdefault((s.channel, s.external_id), []).append(s)
    for (channel, external), messages in by_conversation.items():
        tracker = requests.get(f"{rasa_url}/conversations/{channel}:{external}/tracker", params={"token": rasa_token}, timeout=60)
        tracker.raise_for_status()
        if tracker.json().get("paused"):
            out.still_paused.append(f"{channel}:{external}")
        turns, spoke, updates = _user_turns(tracker.json().get("events") or [])
        out.bot_replies_while_paused_tracker += len(spoke)
        out.paused_examples += [f"{channel}:{external}: {t!r}" for t in spoke]
        contact = api("GET", f"/api/contacts/by-channel/{channel}/{external}")
        touched: set[str] = set()
        if contact.status_code == 200:
            items = api("GET", f"/api/contacts/{contact.json()['id']}/timeline").json()["items"]
            touched = {i["message_id"] for i in items if i["type"] == "touchpoint"}
        out.touchpoints += len(touched)
        cursor = 0
        for s in messages:
            out.sent += 1
            out.retries += s.retries
            match = None
            for index in range(cursor, len(turns)):
                if turns[index][0].get("text") == s.text:
                    match, cursor = turns[index], index + 1
                    break
            bot_replies = [r for r in s.replies if not r.startswith(AGENT_PREFIX) and r not in hand_back_texts and r not in updates]
            answered = [r for r in bot_replies if r not in apologies]
            if match is not None and match[1] and bot_replies:
                out.bot_replies_while_paused_received += len(bot_replies)
                out.paused_examples.append(f"{channel}:{external}: {s.text!r} -> {bot_replies!r}")
            if answered:
                out.answered += 1
                if match is None:
                    out.answered_missing_from_tracker += 1
                    out.journey_updates_lost += 1
                    out.journey_examples.append(f"{channel}:{external}: {s.text!r} answered {answered[:1]!r}, not in the tracker")
                else:
                    out.answered_turns_in_tracker += 1
                    if str(match[0].get("message_id")) not in touched:
                        out.journey_updates_lost += 1
                        intent = ((match[0].get("parse_data") or {}).get("intent") or {}).get("name")
                        out.journey_examples.append(f"{channel}:{external}: {s.text!r} ({intent}) answered {answered[:1]!r}, no touchpoint")
            elif bot_replies:
                out.apologised += 1
            elif match is not None and match[1]:
                out.seen_by_agent += 1
            else:
                out.lost += 1
                out.never_taken += 0 if s.taken else 1
                where = "in the tracker, not paused" if match else "not in the tracker"
                out.lost_examples.append(f"{channel}:{external} at {s.at:.0f}: {s.text!r} ({where}, retries {s.retries})")
    return out
