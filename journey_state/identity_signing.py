"""Signed identity claims (Intercom-style identity verification) for the web chat.

The business's own site knows who is logged in. Its server computes

    user_hash = hex(HMAC-SHA256(JOURNEYBOT_IDENTITY_SECRET, message))
    message   = "email:<email>"                      (email only)
              | "phone:<phone>"                      (phone only)
              | "email:<email>\\nphone:<phone>"       (both; email first)

over the values exactly as it passes them to the widget, and puts `email`/`phone` and
`user_hash` into the widget's `customData`. Only a claim whose hash matches proves anything;
the secret never reaches the browser, so a visitor cannot sign a claim for someone else.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from journey_state.identifiers import KINDS, Identifier, InvalidIdentifier, identifier
from journey_state.secret_compare import same_secret

HASH_KEY = "user_hash"
MAX_CLAIM_CHARS = 320
MIN_SECRET_CHARS = 16


class BadIdentityClaim(ValueError):
    """A claim with a user_hash that does not verify, or that cannot be read."""


def claim_message(claims: Mapping[str, str]) -> str:
    """The text that is signed: one "kind:value" line per claimed kind, in the order of KINDS."""
    return "\n".join(f"{kind}:{claims[kind]}" for kind in KINDS if kind in claims)


def identity_hash(secret: str, *, email: str | None = None, phone: str | None = None) -> str:
    """What the business's server puts into customData.user_hash for this customer."""
    claims = {k: v for k, v in (("email", email), ("phone", phone)) if v}
    if not claims:
        raise ValueError("sign at least an email or a phone number")
    return hmac.new(secret.encode(), claim_message(claims).encode(), hashlib.sha256).hexdigest()


def has_claim(data: Any) -> bool:
    """True if `data` carries a user_hash, i.e. asks to be treated as a signed claim."""
    return isinstance(data, Mapping) and HASH_KEY in data


def verified_identifiers(secret: str, data: Mapping[str, Any]) -> list[Identifier]:
    """The identifiers a correctly signed claim proves, normalised; BadIdentityClaim otherwise."""
    given = data.get(HASH_KEY)
    if not isinstance(given, str) or not given:
        raise BadIdentityClaim("user_hash must be a non-empty string")
    claims: dict[str, str] = {}
    for kind in KINDS:
        value = data.get(kind)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > MAX_CLAIM_CHARS:
            raise BadIdentityClaim(f"{kind} must be a string of at most {MAX_CLAIM_CHARS} characters")
        claims[kind] = value
    if not claims:
        raise BadIdentityClaim("user_hash given without an email or phone to prove")
    expected = hmac.new(secret.encode(), claim_message(claims).encode(), hashlib.sha256).hexdigest()
    if not same_secret(given.strip().lower(), expected):
        raise BadIdentityClaim("user_hash does not match the claimed email/phone")
    try:
        return [identifier(kind, value) for kind, value in claims.items()]
    except InvalidIdentifier as exc:
        raise BadIdentityClaim(str(exc)) from None
