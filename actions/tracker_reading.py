"""Turns a rasa_sdk Tracker into a journey_state Turn."""
from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Tracker

from actions import runtime
from journey_state.conversation import Turn
from journey_state.identifiers import ChannelRef, InvalidConversationId
from journey_state.text import clean_text
from journey_state.understanding import CLARIFY, Context, Parse, Understanding, UnderstandingRules, understand

DEFAULT_CHANNEL = "rest"
MAX_RECENT_INTENTS = 10
# What "yes" and "no" mean right after the bot's last question, as its reply declared
# (replies.yml on_affirm / on_deny); set by the answering action, valid for one message.
PENDING_ANSWER_SLOT = "pending_answer"
YES_NO = ("affirm", "deny")


def _user_events(tracker: Tracker) -> list[dict]:
    return [e for e in tracker.events if e.get("event") == "user"]


def channel_identity(tracker: Tracker) -> ChannelRef:
    """Who the conversation is with: its id names the channel and the sender ("whatsapp:+4915...").

    A conversation opened through Rasa's own HTTP API (token-protected) may have a bare id; it
    belongs to the channel it was last used on.
    """
    try:
        return ChannelRef.from_conversation_id(tracker.sender_id)
    except InvalidConversationId:
        return ChannelRef(tracker.get_latest_input_channel() or DEFAULT_CHANNEL, tracker.sender_id)


def domain_intents(domain: Any) -> frozenset[str]:
    """The intent names of a rasa_sdk domain dict (entries are names or one-key mappings)."""
    names = (domain or {}).get("intents", []) if isinstance(domain, dict) else []
    return frozenset(n if isinstance(n, str) else next(iter(n)) for n in names if isinstance(n, (str, dict)) and n)


def pending_answer(tracker: Tracker) -> dict[str, Any] | None:
    """The declared meanings of yes/no, if the bot's question was its last turn before this message."""
    value = tracker.get_slot(PENDING_ANSWER_SLOT)
    if not isinstance(value, dict) or value.get("user_turn") != len(_user_events(tracker)) - 1:
        return None
    return value


def with_declared_meaning(tracker: Tracker, turn: Turn, intents: Collection[str]) -> Turn:
    """A "yes"/"no" to the bot's own question becomes what the question declared.

    "Yes" to "Would you like to know what each plan includes?" is an ask_features turn, for
    the journey as for the answer; a target that is an answer but no intent ("what_else")
    keeps the affirm intent and only chooses the answer.
    """
    pending = pending_answer(tracker) if turn.intent in YES_NO else None
    target = pending.get(turn.intent) if pending and turn.intent else None
    if not isinstance(target, str) or target == "form":
        return turn
    return dataclasses.replace(turn, intent=target if target in intents else turn.intent, answer=target)


def _parse(parse_data: dict[str, Any], text: str | None = None) -> Parse:
    intent = parse_data.get("intent") or {}
    ranking = [
        (str(r["name"]), float(r.get("confidence") or 0.0))
        for r in parse_data.get("intent_ranking") or ()
        if isinstance(r, dict) and r.get("name")
    ]
    products = [str(e["value"]) for e in parse_data.get("entities") or () if isinstance(e, dict) and e.get("entity") == "product" and e.get("value")]
    emotion = parse_data.get("emotion")
    return Parse(
        text=text if text is not None else str(parse_data.get("text") or ""),
        intent=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        ranking=ranking,
        products=products,
        emotion=emotion.get("label") if isinstance(emotion, dict) else None,
    )


def _bot_asked(bot_event: dict[str, Any]) -> bool:
    data = bot_event.get("data") or {}
    return bool(data.get("buttons")) or str(bot_event.get("text") or "").rstrip().endswith("?")


def understood_messages(events: Iterable[dict[str, Any]], rules: UnderstandingRules, latest: dict[str, Any] | None = None) -> list[Understanding]:
    """What each customer message counted as, oldest first, each read against the turns before it.

    Earlier messages are read again with the same rules, so "two not understood in a row"
    counts a refused clarification or gated chit-chat as the bot treated it, not as the model
    labelled it. `latest` (the tracker's latest_message) stands in for the last message's parse.
    """
    users = [e for e in events if e.get("event") == "user"]
    window = {id(e) for e in users[-(MAX_RECENT_INTENTS + 1):]}
    context = Context()
    last_bot: dict[str, Any] | None = None
    answered = False
    out: list[Understanding] = []
    for event in events:
        kind = event.get("event")
        if kind == "bot":
            last_bot, answered = event, True
        if kind != "user" or id(event) not in window:
            continue
        parse_data = latest if (latest is not None and event is users[-1]) else (event.get("parse_data") or {})
        context = Context(
            bot_asked=last_bot is not None and answered and _bot_asked(last_bot),
            bot_answered=answered,
            last_product=context.last_product,
            last_topic=context.last_topic,
        )
        meant = understand(_parse(parse_data, clean_text(str(parse_data.get("text") or event.get("text") or ""))), context, rules)
        out.append(meant)
        topics = (*rules.follow_ups.topics, *rules.follow_ups.product_topics)
        context = Context(
            last_product=meant.product or context.last_product,
            last_topic=meant.intent if meant.understood and meant.intent in topics else context.last_topic,
        )
        answered = False
    return out


def turn_from_tracker(tracker: Tracker, rules: UnderstandingRules | None = None, intents: Collection[str] = ()) -> Turn:
    """The latest message as a Turn; its intent is what the message counts as (journey_state.understanding).

    With the domain's `intents`, a yes/no to the bot's own question resolves to its declared meaning.
    """
    if rules is None:
        rules = runtime.services().understanding
    message = tracker.latest_message or {}
    users = _user_events(tracker)
    event = users[-1] if users else {}
    intent = message.get("intent") or {}
    timestamp = event.get("timestamp")
    at = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else datetime.now(timezone.utc)
    # Rasa gives every parsed message an id; the sender and event time identify a message
    # just as well when it has none, so a retried action still replays the same signal.
    message_id = message.get("message_id") or event.get("message_id") or f"{tracker.sender_id}:{timestamp}"
    emotion = message.get("emotion")
    meanings = understood_messages(tracker.events, rules, message) if users else [understand(_parse(message), Context(), rules)]
    meant = meanings[-1]
    who = channel_identity(tracker)
    entities = message.get("entities") or []
    products = [e.get("value") for e in entities if isinstance(e, dict) and e.get("entity") == "product"]
    turn = Turn(
        channel=who.channel,
        sender_id=who.external_id,
        message_id=str(message_id),
        # Channels clean text before Rasa; Rasa's own HTTP API does not, and a journey store
        # that cannot write the text would lose the whole turn.
        text=clean_text(message.get("text") or ""),
        intent=meant.intent,
        confidence=float(intent.get("confidence") or 0.0),
        at=at,
        emotion=emotion.get("label") if isinstance(emotion, dict) else None,
        # A clarification is neither a miss nor a success: the answer to it is ("Something else"
        # is a miss), so "not understood in a row" looks through it.
        recent_intents=tuple(m.intent for m in meanings[:-1] if m.intent and m.reason != CLARIFY),
        nlu_intent=intent.get("name"),
        understood_by=meant.reason,
        candidates=meant.candidates,
        product=meant.product,
        products=tuple(p for p in products if isinstance(p, str)),
    )
    return with_declared_meaning(tracker, turn, intents) if intents else turn
