"""The conversation suite's files (tests/conversations/*.yml): loading, validation, and the per-turn checks.

Kept out of the test module so the files can be validated without a running stack
(tests/unit/test_conversation_files.py) and the e2e runner stays a thin loop.
A turn's checks are on meaning (regexes, "not contains", buttons, handoff, stage), never on a
whole reply text, so the suite survives rewording of replies.yml.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TURN_KINDS = ("say", "event", "agent")
AGENT_ACTIONS = ("claim", "reply", "handback", "close")
EXPECT_KEYS = {"has", "any", "not", "buttons", "no_buttons", "last_buttons", "bot_said", "handoff", "silent", "stage", "stage_in", "at_risk"}
STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")


class ConversationFileError(ValueError):
    """A suite file that cannot run as written; the message names the file and conversation."""


@dataclass(frozen=True)
class Turn:
    kind: str  # say | event | agent
    value: Any  # the message, the event type, or the agent action
    payload: dict[str, Any] = field(default_factory=dict)  # event payload / agent reply text
    expect: dict[str, Any] = field(default_factory=dict)
    times: int = 1  # the message repeated this many times (a 10,000-character answer without a 10,000-character file)
    speaker: str = ""  # "" is the conversation's customer; another name is a second customer (a referred friend)
    capture: dict[str, str] = field(default_factory=dict)  # name -> regex read from the reply, used later as {name}


@dataclass(frozen=True)
class Conversation:
    theme: str
    id: str
    title: str
    needs: tuple[str, ...]
    turns: tuple[Turn, ...]


@dataclass
class Outcome:
    conversation: Conversation
    passed: bool
    failure: str = ""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _turn(where: str, raw: Any) -> Turn:
    if not isinstance(raw, dict):
        raise ConversationFileError(f"{where}: a turn is a mapping, got {raw!r}")
    kinds = [k for k in TURN_KINDS if k in raw]
    if len(kinds) != 1:
        raise ConversationFileError(f"{where}: a turn has exactly one of {', '.join(TURN_KINDS)}")
    kind = kinds[0]
    expect = {k: v for k, v in raw.items() if k not in (kind, "payload", "text", "as", "capture", "times")}
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        raise ConversationFileError(f"{where}: unknown keys {sorted(unknown)}")
    # The journey state is checked after every turn the customer or the business makes.
    if kind in ("say", "event") and "stage" not in expect and "stage_in" not in expect:
        raise ConversationFileError(f"{where}: every say/event turn states the expected stage (stage or stage_in)")
    for key in ("stage",):
        if key in expect and expect[key] not in STAGES:
            raise ConversationFileError(f"{where}: stage {expect[key]!r} is not one of {', '.join(STAGES)}")
    for stage in _as_list(expect.get("stage_in")):
        if stage not in STAGES:
            raise ConversationFileError(f"{where}: stage_in {stage!r} is not one of {', '.join(STAGES)}")
    for key in ("has", "any", "not", "buttons", "bot_said"):
        for pattern in _as_list(expect.get(key)):
            if isinstance(pattern, bool) and key == "buttons":
                continue
            try:
                re.compile(str(pattern))
            except re.error as exc:
                raise ConversationFileError(f"{where}: {key} pattern {pattern!r}: {exc}") from None
    if kind == "agent" and raw["agent"] not in AGENT_ACTIONS:
        raise ConversationFileError(f"{where}: agent action {raw['agent']!r} is not one of {', '.join(AGENT_ACTIONS)}")
    if kind == "say" and not isinstance(raw["say"], str):
        raise ConversationFileError(f"{where}: say needs a string (quote numbers: say: \"7\")")
    payload = raw.get("payload") or ({"text": raw["text"]} if "text" in raw else {})
    capture = {str(k): str(v) for k, v in (raw.get("capture") or {}).items()}
    for name, pattern in capture.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConversationFileError(f"{where}: capture {name} pattern {pattern!r}: {exc}") from None
    times = raw.get("times", 1)
    if not isinstance(times, int) or not 1 <= times <= 20_000:
        raise ConversationFileError(f"{where}: times must be a whole number from 1 to 20000")
    return Turn(kind, raw[kind], dict(payload), expect, times, str(raw.get("as") or ""), capture)


def load_file(path: Path) -> list[Conversation]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "conversations" not in data:
        raise ConversationFileError(f"{path.name}: needs `theme` and `conversations`")
    theme = str(data.get("theme") or path.stem)
    conversations = []
    for n, raw in enumerate(data["conversations"]):
        where = f"{path.name}: conversations[{n}]"
        if not isinstance(raw, dict) or "id" not in raw or not raw.get("turns"):
            raise ConversationFileError(f"{where}: needs `id` and `turns`")
        where = f"{path.name}: {raw['id']}"
        turns = tuple(_turn(f"{where}: turns[{i}]", t) for i, t in enumerate(raw["turns"]))
        if turns[0].kind != "say":
            raise ConversationFileError(f"{where}: the customer speaks first (the contact exists from the first message)")
        conversations.append(Conversation(
            theme=theme, id=str(raw["id"]), title=str(raw.get("title", raw["id"])),
            needs=tuple(str(x) for x in _as_list(raw.get("needs"))), turns=turns,
        ))
    return conversations


def load_suite(directory: Path) -> list[Conversation]:
    conversations = [c for path in sorted(directory.glob("*.yml")) if path.name != "pending.yml" for c in load_file(path)]
    seen: set[str] = set()
    for c in conversations:
        if c.id in seen:
            raise ConversationFileError(f"conversation id {c.id!r} is used twice")
        seen.add(c.id)
    return conversations


def load_pending(directory: Path) -> dict[str, str]:
    """needs-feature -> why it is expected to fail (tests/conversations/pending.yml)."""
    path = directory / "pending.yml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in (data.get("pending") or {}).items()}


# -- checks --------------------------------------------------------------------------------------


def reply_text(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def button_titles(messages: list[dict]) -> list[str]:
    return [b.get("title") or "" for m in messages for b in (m.get("buttons") or [])]


def fill(expect: dict[str, Any], captured: dict[str, str]) -> dict[str, Any]:
    """The expectations with earlier captured values ({code}) put into the reply patterns, escaped."""
    def one(pattern: Any) -> Any:
        if not isinstance(pattern, str):
            return pattern
        for name, value in captured.items():
            pattern = pattern.replace("{" + name + "}", re.escape(value))
        return pattern

    return {k: ([one(p) for p in v] if isinstance(v, list) else one(v)) if k in ("has", "any", "not") else v for k, v in expect.items()}


def check_reply(expect: dict[str, Any], messages: list[dict], handed_off: bool | None) -> list[str]:
    """Every way the bot's reply to one turn misses its expectations (empty: all met)."""
    problems = []
    text = reply_text(messages)
    if expect.get("silent"):
        if messages:
            problems.append(f"expected no reply, got {text!r}")
    elif not messages:
        problems.append("expected a reply, got none")
    for pattern in _as_list(expect.get("has")):
        if not re.search(str(pattern), text, re.IGNORECASE):
            problems.append(f"reply lacks /{pattern}/")
    alternatives = _as_list(expect.get("any"))
    if alternatives and not any(re.search(str(p), text, re.IGNORECASE) for p in alternatives):
        problems.append(f"reply matches none of {alternatives}")
    for pattern in _as_list(expect.get("not")):
        if re.search(str(pattern), text, re.IGNORECASE):
            problems.append(f"reply contains /{pattern}/")
    titles = button_titles(messages)
    wanted = expect.get("buttons")
    if wanted is True and not titles:
        problems.append("expected buttons, got none")
    for pattern in [] if isinstance(wanted, bool) else _as_list(wanted):
        if not any(re.search(str(pattern), t, re.IGNORECASE) for t in titles):
            problems.append(f"no button matches /{pattern}/ (buttons: {titles})")
    if expect.get("last_buttons") and messages and not messages[-1].get("buttons"):
        problems.append("the last bubble has no buttons (they scroll away under it)")
    if expect.get("no_buttons") and titles:
        problems.append(f"expected no buttons, got {titles}")
    if "handoff" in expect and handed_off is not None and bool(expect["handoff"]) != handed_off:
        problems.append("expected a handoff to a person" if expect["handoff"] else "expected no handoff")
    return problems


def check_bot_said(expect: dict[str, Any], bot_texts: list[str] | None) -> list[str]:
    """What the bot told the customer outside a REST reply (an agent's claim, a hand-back), from Rasa's tracker."""
    if bot_texts is None:
        return []
    joined = "\n".join(bot_texts)
    return [f"the conversation never shows /{p}/" for p in _as_list(expect.get("bot_said")) if not re.search(str(p), joined, re.IGNORECASE)]


def check_contact(expect: dict[str, Any], contact: dict | None) -> list[str]:
    """The journey state after a turn: stage, and optionally the at-risk side state."""
    if "stage" not in expect and "stage_in" not in expect and "at_risk" not in expect:
        return []
    if contact is None:
        return ["no contact stored for this sender"]
    problems = []
    stage = contact.get("stage")
    if "stage" in expect and stage != expect["stage"]:
        problems.append(f"stage is {stage!r}, expected {expect['stage']!r}")
    allowed = _as_list(expect.get("stage_in"))
    if allowed and stage not in allowed:
        problems.append(f"stage is {stage!r}, expected one of {allowed}")
    if "at_risk" in expect and bool(contact.get("at_risk")) != bool(expect["at_risk"]):
        problems.append(f"at_risk is {contact.get('at_risk')!r}, expected {expect['at_risk']!r}")
    return problems


def describe_turn(turn: Turn) -> str:
    if turn.kind == "say":
        return f"customer: {turn.value!r}" + (f" x{turn.times}" if turn.times > 1 else "")
    if turn.kind == "event":
        return f"event: {turn.value}"
    return f"agent: {turn.value}"


def summary(outcomes: list[Outcome], pending: dict[str, str]) -> list[str]:
    """Pass rate overall, per theme and per `needs:` feature, then the failures, for the terminal."""
    if not outcomes:
        return []

    def rate(items: list[Outcome]) -> str:
        passed = sum(o.passed for o in items)
        return f"{passed}/{len(items)} ({100 * passed / len(items):.0f}%)"

    lines = [f"conversations passed: {rate(outcomes)}", "by theme:"]
    themes = sorted({o.conversation.theme for o in outcomes})
    lines += [f"  {t:<22} {rate([o for o in outcomes if o.conversation.theme == t])}" for t in themes]
    needs = sorted({n for o in outcomes for n in o.conversation.needs})
    lines.append("by needs (pending features marked *):")
    lines += [f"  {n + ('*' if n in pending else ''):<22} {rate([o for o in outcomes if n in o.conversation.needs])}" for n in needs]
    lines.append(f"  {'(needs nothing)':<22} {rate(plain)}" if (plain := [o for o in outcomes if not o.conversation.needs]) else "")
    failures = [o for o in outcomes if not o.passed]
    if failures:
        lines.append("failures:")
        lines += [f"  {o.conversation.theme}/{o.conversation.id} [{','.join(o.conversation.needs) or '-'}]: "
                  f"{o.failure.splitlines()[0][:160]}" for o in failures]
    return [line for line in lines if line]
