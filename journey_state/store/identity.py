"""Verified emails and phones, and merging two contacts that prove the same one."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Row

from journey_state.engine import ContactState, Evidence, Transition, merge_decision
from journey_state.identifiers import Identifier
from journey_state.model import JourneyModel
from journey_state.store.checkout_tables import checkout_links
from journey_state.store.contacts import by_id, state_of
from journey_state.store.signals import insert_transitions, save_state
from journey_state.store.staff_tables import staff_notes
from journey_state.store.tables import (
    applied_signals,
    business_events,
    channel_identities,
    contact_identifiers,
    contact_merges,
    contacts,
    feedback,
    handoffs,
    loyalty_ledger,
    offer_events,
    referral_attributions,
    referral_codes,
    touchpoints,
    transitions,
)

# Tables whose rows simply follow the contact. Tables with per-contact unique keys
# (applied_signals, loyalty_ledger, referral_attributions) are handled one by one.
_FOLLOWING = (
    channel_identities,
    contact_identifiers,
    transitions,
    touchpoints,
    business_events,
    feedback,
    offer_events,
    referral_codes,
    handoffs,
    staff_notes,
    checkout_links,
)


@dataclass(frozen=True)
class MergeResult:
    survivor_uid: str
    merged_uid: str
    moved: dict[str, int]
    state: ContactState


def verify(conn: Connection, model: JourneyModel, row: Row, ident: Identifier, at: datetime, source: str) -> MergeResult | None:
    """Record that the contact in `row` proved `ident`; merge with its holder if another contact has it."""
    holder = conn.execute(
        select(contact_identifiers.c.contact_id).where(
            contact_identifiers.c.kind == ident.kind, contact_identifiers.c.value == ident.value
        )
    ).scalar()
    if holder is None:
        conn.execute(
            insert(contact_identifiers).values(contact_id=row.id, kind=ident.kind, value=ident.value, verified_at=at, source=source)
        )
        return None
    if holder == row.id:
        return None
    other = by_id(conn, holder, lock=True)
    return merge(conn, model, row, other, ident, at, source)


def merge(conn: Connection, model: JourneyModel, one: Row, two: Row, ident: Identifier, at: datetime, source: str) -> MergeResult:
    """Fold the newer contact into the older one without losing history; record the merge."""
    survivor, merged = sorted((one, two), key=lambda r: (r.created_at, r.id))
    moved: dict[str, int] = {}

    # Signals both contacts saw (e.g. one business event) stay applied once.
    survivor_signals = select(applied_signals.c.signal_id).where(applied_signals.c.contact_id == survivor.id)
    conn.execute(delete(applied_signals).where(applied_signals.c.contact_id == merged.id, applied_signals.c.signal_id.in_(survivor_signals)))
    moved["applied_signals"] = conn.execute(update(applied_signals).where(applied_signals.c.contact_id == merged.id).values(contact_id=survivor.id)).rowcount

    # The same loyalty reference credited to both is one credit, not two.
    survivor_refs = select(loyalty_ledger.c.reference).where(loyalty_ledger.c.contact_id == survivor.id)
    conn.execute(delete(loyalty_ledger).where(loyalty_ledger.c.contact_id == merged.id, loyalty_ledger.c.reference.in_(survivor_refs)))
    moved["loyalty_ledger"] = conn.execute(update(loyalty_ledger).where(loyalty_ledger.c.contact_id == merged.id).values(contact_id=survivor.id)).rowcount

    # A person is attributed to one referrer: the earliest attribution wins.
    attributions = conn.execute(
        select(referral_attributions).where(referral_attributions.c.referred_contact_id.in_((survivor.id, merged.id))).order_by(referral_attributions.c.at)
    ).all()
    for extra in attributions[1:]:
        conn.execute(delete(referral_attributions).where(referral_attributions.c.id == extra.id))
    if attributions:
        conn.execute(update(referral_attributions).where(referral_attributions.c.id == attributions[0].id).values(referred_contact_id=survivor.id))
    moved["referral_attributions"] = min(len(attributions), 1)

    for table in _FOLLOWING:
        moved[table.name] = conn.execute(update(table).where(table.c.contact_id == merged.id).values(contact_id=survivor.id)).rowcount

    evidence = Evidence(
        signal_type="identity_merge",
        source=source,
        signal_id=f"merge:{merged.uid}",
        excerpt=f"same verified {ident.kind} proved by two contacts",
        confidence=1.0,
        rule="identity_merge",
    )
    decision = merge_decision(model, state_of(survivor), state_of(merged), at, evidence)
    insert_transitions(conn, survivor.id, [Transition("merge", merged.uid, survivor.uid, at, evidence), *decision.transitions])
    save_state(conn, survivor.id, decision.state)
    conn.execute(update(contacts).where(contacts.c.id == survivor.id, contacts.c.persona.is_(None)).values(persona=merged.persona))
    conn.execute(update(contact_merges).where(contact_merges.c.survivor_id == merged.id).values(survivor_id=survivor.id))
    conn.execute(
        insert(contact_merges).values(survivor_id=survivor.id, merged_uid=merged.uid, identifier_kind=ident.kind, at=at, moved=moved)
    )
    conn.execute(delete(contacts).where(contacts.c.id == merged.id))
    return MergeResult(survivor.uid, merged.uid, moved, decision.state)
