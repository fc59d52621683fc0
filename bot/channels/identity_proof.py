"""Channel side of identity proofs: the channel vouches that a sender owns an email or phone.

Proofs are applied here, in the Rasa server process, before the message goes to Rasa, so the
turn the action server records already lands on the merged contact. Nothing a client sends as
message metadata is ever read as a proof: only what a channel checked itself (WhatsApp's
sender number, Telegram's own-contact share, a web claim with a valid HMAC) comes through here.
A proof that cannot be applied is logged and retried with the sender's next message; it never
loses the message itself.
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from bot import services
from journey_state.errors import JourneyError
from journey_state.identifiers import ChannelRef, InvalidIdentifier, identifier
from journey_state.identity_proof import MERGED, ProofOutcome, ProofRecorder

logger = logging.getLogger(__name__)

# Recorded as the identifier's source and the merge's evidence (at most 16 characters).
WHATSAPP_CLOUD = "whatsapp"
WHATSAPP_TWILIO = "twilio_whatsapp"
TELEGRAM_CONTACT = "telegram"
WEBCHAT_SIGNED = "webchat"


def recorder_for(database_url: str) -> ProofRecorder:
    """The process's recorder (engine, cache) for this database, shared by all channels; built on first use."""
    return services.shared(database_url).proofs


def reset() -> None:
    """Forget the recorders (tests switch databases)."""
    services.reset()


def mask(value: str) -> str:
    """An identifier as logs may show it."""
    if "@" in value:
        name, _, domain = value.partition("@")
        return f"{name[:1]}***@{domain}"
    return value[:-4] + "****" if len(value) > 6 else "****"


async def prove(database_url: str, who: ChannelRef, kind: str, raw: str, source: str) -> ProofOutcome | None:
    """Apply the proof; None (logged) if the value is not an identifier or the store is unavailable."""
    try:
        ident = identifier(kind, raw)
    except InvalidIdentifier as exc:
        logger.warning("identity: %s proof for %s/%s ignored: %s", source, who.channel, who.external_id, exc)
        return None
    try:
        recorder = await asyncio.to_thread(recorder_for, database_url)
        outcome = await asyncio.to_thread(recorder.prove, who, ident, source)
    except (JourneyError, SQLAlchemyError) as exc:
        logger.error("identity: %s proof of %s %s for %s/%s not applied (retried with the next message): %s",
                     source, kind, mask(ident.value), who.channel, who.external_id, exc)
        return None
    if outcome.status == MERGED and outcome.merge is not None:  # merged outcomes carry their merge
        logger.info("identity: %s proved %s %s for %s/%s; contact %s merged into %s", source, kind, mask(ident.value),
                    who.channel, who.external_id, outcome.merge.merged_uid, outcome.merge.survivor_uid)
    return outcome
