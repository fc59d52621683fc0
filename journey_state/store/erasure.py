"""GDPR erasure: delete a contact, everything linked to it, and its Rasa conversations."""
from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import delete, insert, inspect, select
from sqlalchemy.engine import Connection, Row

from journey_state.store.channel_tables import SENDER_KEYED
from journey_state.store.checkout_tables import checkout_links
from journey_state.store.contacts import now
from journey_state.store.tables import (
    applied_signals,
    business_events,
    channel_identities,
    contact_identifiers,
    contact_merges,
    contacts,
    erasures,
    feedback,
    handoffs,
    loyalty_ledger,
    offer_events,
    referral_attributions,
    referral_codes,
    touchpoints,
    transitions,
)
from journey_state.store.views import RASA_EVENTS, conversation_ids, identities

_BY_CONTACT = (
    touchpoints,
    transitions,
    applied_signals,
    business_events,
    feedback,
    offer_events,
    loyalty_ledger,
    handoffs,
    contact_identifiers,
    checkout_links,
)


def erase(conn: Connection, row: Row) -> dict[str, Any]:
    """Delete the contact and all its data; return a receipt that holds no personal data."""
    deleted: dict[str, int] = {}
    senders = [i["external_id"] for i in identities(conn, row.id)]
    conversations = conversation_ids(conn, row.id)
    if conversations and inspect(conn).has_table("events"):
        deleted["conversation_events"] = conn.execute(delete(RASA_EVENTS).where(RASA_EVENTS.c.sender_id.in_(conversations))).rowcount
    else:
        deleted["conversation_events"] = 0
    for table, column in SENDER_KEYED:
        deleted[table.name] = conn.execute(delete(table).where(table.c[column].in_(senders))).rowcount if senders else 0
    codes = select(referral_codes.c.id).where(referral_codes.c.contact_id == row.id)
    deleted["referral_attributions"] = conn.execute(
        delete(referral_attributions).where(
            (referral_attributions.c.referred_contact_id == row.id) | referral_attributions.c.code_id.in_(codes)
        )
    ).rowcount
    deleted["referral_codes"] = conn.execute(delete(referral_codes).where(referral_codes.c.contact_id == row.id)).rowcount
    for tbl in _BY_CONTACT:
        deleted[tbl.name] = conn.execute(delete(tbl).where(tbl.c.contact_id == row.id)).rowcount
    deleted["contact_merges"] = conn.execute(delete(contact_merges).where(contact_merges.c.survivor_id == row.id)).rowcount
    deleted["channel_identities"] = conn.execute(delete(channel_identities).where(channel_identities.c.contact_id == row.id)).rowcount
    deleted["contacts"] = conn.execute(delete(contacts).where(contacts.c.id == row.id)).rowcount
    # The analytics facts hold no personal data, but an erasure leaves nothing of the contact
    # behind. Imported here because journey_state.analytics builds on this package.
    from journey_state.analytics import facts

    facts.forget(conn, [row.id])
    receipt = {
        "receipt_id": uuid.uuid4().hex,
        "contact_id": row.uid,
        "erased_at": now(),
        "deleted": deleted,
    }
    conn.execute(
        insert(erasures).values(
            receipt_id=receipt["receipt_id"],
            contact_hash=hashlib.sha256(row.uid.encode()).hexdigest(),
            at=receipt["erased_at"],
            deleted=deleted,
        )
    )
    receipt["erased_at"] = receipt["erased_at"].isoformat()
    return receipt
