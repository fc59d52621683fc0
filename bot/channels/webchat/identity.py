"""Signed identity claims in web chat messages (see journey_state/identity_signing.py).

The widget sends `customData` with every message. A claim there ({"email": ..., "phone": ...,
"user_hash": ...}) proves the email/phone for the chat session only if user_hash is the HMAC
made with JOURNEYBOT_IDENTITY_SECRET; a wrong one is logged and ignored. The user_hash is a
credential for that customer, so it is removed before the message reaches Rasa's tracker.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from bot.channels import identity_proof
from journey_state.identifiers import ChannelRef
from journey_state.identity_signing import HASH_KEY, MIN_SECRET_CHARS, BadIdentityClaim, has_claim, verified_identifiers

logger = logging.getLogger(__name__)

SECRET_ENV = "JOURNEYBOT_IDENTITY_SECRET"
CUSTOM_DATA_KEY = "customData"  # what rasa-webchat sends


def _as_dict(value: Any) -> Any:
    if isinstance(value, str) and HASH_KEY in value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


class SignedIdentity:
    """Checks claims for one channel; `apply` returns the message data without the user_hash."""

    def __init__(self, channel: str, secret: str | None, database_url: str):
        self.channel = channel
        self.database_url = database_url
        self.secret = secret
        if secret and len(secret) < MIN_SECRET_CHARS:
            logger.error("web chat: %s is shorter than %d characters; signed identity claims are ignored",
                         SECRET_ENV, MIN_SECRET_CHARS)
            self.secret = None
        self._warned_unset = False

    async def apply(self, sender_id: str | None, data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        """Prove a valid claim found under any of `keys` for `sender_id`; strip every user_hash."""
        cleaned = dict(data)
        claim = None
        for key in keys:
            value = _as_dict(cleaned.get(key))
            if has_claim(value):
                claim = claim or value
                cleaned[key] = {k: v for k, v in value.items() if k != HASH_KEY}
        if claim is not None and sender_id:
            await self._prove(str(sender_id), claim)
        return cleaned

    async def _prove(self, sender_id: str, claim: dict[str, Any]) -> None:
        if not self.secret:
            if not self._warned_unset:
                logger.warning("web chat: identity claim ignored because %s is not set", SECRET_ENV)
                self._warned_unset = True
            return
        try:
            proven = verified_identifiers(self.secret, claim)
        except BadIdentityClaim as exc:
            logger.warning("web chat: identity claim for session %s rejected: %s", sender_id, exc)
            return
        try:
            who = ChannelRef(self.channel, sender_id)
        except ValueError as exc:
            logger.warning("web chat: identity claim ignored: %s", exc)
            return
        for ident in proven:
            await identity_proof.prove(self.database_url, who, ident.kind, ident.value, identity_proof.WEBCHAT_SIGNED)
