"""How a contact is referred to: a channel identity, or a verified email or phone (normalised)."""
from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("email", "phone")
MAX_EXTERNAL_ID = 255
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE_NOISE = re.compile(r"[\s().\-/]")


class InvalidIdentifier(ValueError):
    """An email or phone number that cannot be normalised."""


class InvalidConversationId(ValueError):
    """A Rasa conversation id that does not name a channel and a sender on it."""


# Channel names as Rasa's InputChannel.name() gives them ("rest", "socketio", "whatsapp", ...).
_CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# What a sender id may hold to be addressable in a Rasa HTTP API path: Rasa 3.6 does not
# percent-decode conversation ids there, so an id must need no encoding at all. Covers
# E.164 numbers (+49...), Telegram chat ids (-100...), socket.io session ids and REST names.
_SENDER_ID = re.compile(r"^[A-Za-z0-9_.@+\-]{1,128}$")


@dataclass(frozen=True)
class ChannelRef:
    """A contact's identity on one channel, e.g. ('telegram', '12345')."""

    channel: str
    external_id: str

    def __post_init__(self) -> None:
        if not self.channel or not self.external_id:
            raise ValueError("channel and external id are required")
        if len(self.channel) > 32:
            raise ValueError("channel name longer than 32 characters")
        if len(self.external_id) > MAX_EXTERNAL_ID:
            raise ValueError(f"external id longer than {MAX_EXTERNAL_ID} characters")

    @property
    def conversation_id(self) -> str:
        """The Rasa conversation of this identity: its channel and sender, e.g. 'whatsapp:+4915112345678'.

        A conversation keyed by sender id alone could be reached from any channel: anyone on
        the REST channel who guessed a WhatsApp number would read that customer's chat.
        """
        return f"{self.channel}:{self.external_id}"

    @classmethod
    def from_conversation_id(cls, conversation_id: str) -> ChannelRef:
        channel, sep, sender = conversation_id.partition(":")
        if not sep or not _CHANNEL_NAME.match(channel) or not sender:
            raise InvalidConversationId(f"{conversation_id[:80]!r} is not a conversation id of the form channel:sender")
        return cls(channel, sender)


def addressable_sender_id(raw: object) -> str:
    """`raw` as a sender id that every store and Rasa's HTTP API can take unchanged; InvalidConversationId if not."""
    if not isinstance(raw, str) or not _SENDER_ID.match(raw):
        raise InvalidConversationId("a sender id is 1-128 characters: letters, digits and _ . @ + -")
    return raw


@dataclass(frozen=True)
class Identifier:
    """A verified email or phone number, in normal form."""

    kind: str
    value: str


ContactRef = ChannelRef | Identifier


def normalise_email(raw: str) -> str:
    value = raw.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise InvalidIdentifier(f"{raw!r} is not a valid email address")
    return value


def normalise_phone(raw: str) -> str:
    """E.164 form: '+' and 7-15 digits. '00' prefixes become '+'; a national number without a country code is rejected."""
    value = _PHONE_NOISE.sub("", raw.strip())
    if value.startswith("whatsapp:"):
        value = value[len("whatsapp:"):]
    if value.startswith("00"):
        value = "+" + value[2:]
    if not value.startswith("+") or not value[1:].isdigit() or not 7 <= len(value) - 1 <= 15:
        raise InvalidIdentifier(f"{raw!r} is not a phone number in international form, e.g. +4915112345678")
    return value


def identifier(kind: str, raw: str) -> Identifier:
    if kind == "email":
        return Identifier(kind, normalise_email(raw))
    if kind == "phone":
        return Identifier(kind, normalise_phone(raw))
    raise InvalidIdentifier(f"unknown identifier kind {kind!r} (use {', '.join(KINDS)})")


def sender_on(channel: str, recipient_id: str) -> str:
    """The sender on `channel` whom Rasa's `recipient_id` (the conversation id) names.

    Output channels are also called with their own raw sender ids (a Telegram chat id, a phone
    number), which never contain the prefix, so both forms are accepted.
    """
    prefix = channel + ":"
    return recipient_id[len(prefix):] if recipient_id.startswith(prefix) else recipient_id
