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


@dataclass(frozen=True)
class ChannelRef:
    """A contact's identity on one channel, e.g. ('telegram', '12345')."""

    channel: str
    external_id: str

    def __post_init__(self):
        if not self.channel or not self.external_id:
            raise ValueError("channel and external id are required")
        if len(self.channel) > 32:
            raise ValueError("channel name longer than 32 characters")
        if len(self.external_id) > MAX_EXTERNAL_ID:
            raise ValueError(f"external id longer than {MAX_EXTERNAL_ID} characters")


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
