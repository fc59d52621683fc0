"""The last gate before Rasa: what every journeybot channel makes of a message it hands on.

Each channel validates its own wire format and answers its sender (400, 403...). This gate,
wrapped around the `on_new_message` that Rasa gives each channel's blueprint, holds the rules
that are the same everywhere, so that no channel can forget one:
- the conversation id names this channel and an addressable sender (`channel:sender`);
- the text is storable (journey_state.text) and at most MAX_MESSAGE_CHARS long;
- metadata is a small, storable JSON object.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage

from bot.channels.apology import IsPaused, answer_or_apologise
from journey_state.identifiers import ChannelRef, InvalidConversationId, addressable_sender_id
from journey_state.text import TooDeep, clean_json, clean_text

logger = logging.getLogger(__name__)

# WhatsApp and Telegram cap a message at 4,096 characters; nobody types more into a web chat.
MAX_MESSAGE_CHARS = 4096

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class RejectedMessage(ValueError):
    """A message the gate refused; the channel decides how to tell its sender."""


def conversation_id(channel: str, raw_sender: object) -> str:
    """The Rasa conversation id of `raw_sender` on `channel`; RejectedMessage if it is no usable sender id."""
    try:
        return ChannelRef(channel, addressable_sender_id(raw_sender)).conversation_id
    except InvalidConversationId as exc:
        raise RejectedMessage(str(exc)) from None


def storable_message(text: object) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise RejectedMessage("the message must be text")
    return clean_text(text)[:MAX_MESSAGE_CHARS]


def storable_metadata(metadata: object) -> dict[str, Any] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise RejectedMessage("metadata must be a JSON object")
    try:
        return clean_json(metadata)
    except TooDeep as exc:
        raise RejectedMessage(f"metadata is {exc}") from None


def guarded(channel: str, on_new_message: OnNewMessage, is_paused: IsPaused | None = None,
            redelivered: bool = False) -> OnNewMessage:
    """`on_new_message` behind the gate: messages are cleaned, or refused with RejectedMessage.

    A message that gets no reply while no person owns the conversation gets an apology
    (bot/channels/apology.py); `redelivered` channels see a failed turn raise, as before.
    """

    async def handle(message: UserMessage) -> Any:
        try:
            ref = ChannelRef.from_conversation_id(message.sender_id)
        except InvalidConversationId as exc:
            raise RejectedMessage(str(exc)) from None
        if ref.channel != channel:
            raise RejectedMessage(f"conversation {ref.channel}:… cannot be addressed from the {channel} channel")
        conversation_id(channel, ref.external_id)
        message.text = storable_message(message.text)
        message.metadata = storable_metadata(message.metadata)
        return await answer_or_apologise(message, on_new_message, channel, is_paused, redelivered)

    return handle
