"""ProgramsStore: offers, feedback, referrals and loyalty points for the contacts of a JourneyStore.

Each method is one unit of work of the JourneyStore (`write`, with its retries, or
`read`) around the functions of one program's module, which run inside the caller's
transaction on a contact row the caller has locked:
journey_state/store/offer_records.py, feedback_records.py, referral_records.py and
loyalty_points.py. Every write is idempotent on replay (see each module).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Row

from journey_state.business_events import BusinessEvent
from journey_state.engine import Source
from journey_state.feedback import score
from journey_state.identifiers import ChannelRef, Identifier
from journey_state.loyalty import LoyaltySettings, load_loyalty
from journey_state.model import JourneyModel, load_model
from journey_state.offers import (
    REDEEMED,
    SHOWN,
    Offer,
    OfferCatalog,
    OfferContext,
    OfferEvent,
    choose_offer,
    load_offers,
)
from journey_state.referrals import ReferralSettings, load_referrals, normalise_code
from journey_state.store import contacts as contact_rows
from journey_state.store.contacts import now
from journey_state.store.feedback_records import FeedbackOutcome, record_feedback
from journey_state.store.loyalty_points import (
    LedgerOutcome,
    PointsSummary,
    balance,
    credit_for_event,
    recent_entries,
)
from journey_state.store.offer_records import (
    OfferRecord,
    offer_context,
    offer_history,
    present_offer,
    record_offer_event,
)
from journey_state.store.referral_records import (
    IssuedCode,
    ReferralOutcome,
    attribute,
    contact_is_advocate,
    issue_code,
)
from journey_state.store.repository import JourneyStore

Contact = str | ChannelRef | Identifier  # a contact uid, or how the contact reached us
MAX_REFERENCE = 200


def _check_reference(reference: str | None) -> str:
    if reference is None:
        return uuid.uuid4().hex
    if not isinstance(reference, str) or not reference.strip() or len(reference) > MAX_REFERENCE:
        raise ValueError(f"reference must be non-empty text of at most {MAX_REFERENCE} characters")
    return reference.strip()


class ProgramsStore:
    """Offers, feedback, referrals and loyalty for the contacts of a JourneyStore.

    A contact is given by uid (must exist) or by a ChannelRef / Identifier (created on
    writes if new, like JourneyStore.record_signal). Each write is one transaction.
    """

    def __init__(
        self,
        store: JourneyStore,
        offers: OfferCatalog,
        loyalty: LoyaltySettings,
        referrals: ReferralSettings,
        rng: Any = None,
    ):
        self.store = store
        self.offers = offers
        self.loyalty = loyalty
        self.referrals = referrals
        self.rng = rng  # for referral codes; None: secrets.SystemRandom

    @classmethod
    def load(cls, store: JourneyStore, business_dir: str | Path, journeys_dir: str | Path) -> ProgramsStore:
        """Read offers.yml and programs.yml, validated against every journey model in `journeys_dir`."""
        models = [load_model(p) for p in sorted(Path(journeys_dir).glob("*.yml"))]
        stages = {s for m in models for s in m.stage_ids}
        return cls(store, load_offers(business_dir, stages), load_loyalty(business_dir), load_referrals(business_dir, models))

    @property
    def model(self) -> JourneyModel:
        return self.store.model

    # offers

    def choose_offer(self, contact: Contact, channel: str | None, at: datetime | None = None) -> Offer | None:
        """The offer the contact would get now, without recording anything."""
        at = at or now()
        with self.store.read() as conn:
            row = self._find(conn, contact)
            if row is None:
                return choose_offer(self.offers, OfferContext(self.model.initial_stage, channel=channel), (), at)
            return choose_offer(self.offers, offer_context(conn, row, channel), offer_history(conn, row.id), at)

    def present_offer(self, contact: Contact, channel: str | None, at: datetime | None = None) -> Offer | None:
        """Choose an offer and record the impression in one transaction.

        Pass the turn's time as `at`: a replay with the same `at` returns the same offer
        and records nothing more.
        """
        at = at or now()
        return self.store.write(lambda conn: present_offer(conn, self.offers, self._lock(conn, contact), channel, at))

    def record_offer_shown(self, contact: Contact, offer_id: str, channel: str | None, at: datetime | None = None) -> OfferRecord:
        self.offers.get(offer_id)  # UnknownOffer
        at = at or now()
        return self.store.write(lambda conn: record_offer_event(conn, self._lock(conn, contact), offer_id, SHOWN, channel, at))

    def record_offer_redeemed(self, contact: Contact, offer_id: str, channel: str | None, at: datetime | None = None) -> OfferRecord:
        """A redemption; only the first per offer and contact counts (later ones are duplicates)."""
        self.offers.get(offer_id)
        at = at or now()
        return self.store.write(lambda conn: record_offer_event(conn, self._lock(conn, contact), offer_id, REDEEMED, channel, at))

    def offer_history(self, contact: Contact) -> tuple[OfferEvent, ...]:
        with self.store.read() as conn:
            row = self._find(conn, contact)
            return () if row is None else offer_history(conn, row.id)

    # feedback

    def record_feedback(
        self,
        contact: Contact,
        kind: str,
        answer: Any,
        *,
        reference: str | None = None,
        comment: str | None = None,
        channel: str | None = None,
        handoff_id: int | None = None,
        at: datetime | None = None,
        source: Source = Source.CONVERSATION,
    ) -> FeedbackOutcome:
        """Parse and store an NPS or CSAT answer and apply its journey signal, in one transaction.

        `answer` is the raw text, button payload or number; InvalidScore (before any write)
        says what is expected. `reference` (e.g. the message id) makes a replay a no-op.
        """
        parsed = score(kind, answer)
        reference = _check_reference(reference)
        at = at or now()

        def work(conn: Connection) -> FeedbackOutcome:
            row = self._lock(conn, contact)
            return record_feedback(conn, self.model, row, parsed, reference, at, comment, channel, handoff_id, source)

        return self.store.write(work)

    # referrals

    def is_advocate(self, contact: Contact) -> bool:
        with self.store.read() as conn:
            row = self._find(conn, contact)
            return row is not None and contact_is_advocate(conn, self.referrals.advocates, self.model, row)

    def issue_referral_code(self, contact: Contact, again: bool = False) -> IssuedCode:
        """The advocate's referral code (NotAnAdvocate otherwise); `again` issues a fresh one."""
        return self.store.write(
            lambda conn: issue_code(conn, self.model, self.referrals, self._lock(conn, contact), self.rng, again)
        )

    def attribute_referral(self, contact: Contact, code: str, at: datetime | None = None) -> ReferralOutcome:
        """The new contact arrived with `code`: attribute them to its owner and credit both rewards."""
        normalise_code(code, self.referrals.code)  # InvalidReferralCode before any write
        at = at or now()
        return self.store.write(lambda conn: attribute(conn, self.model, self.referrals, self._lock(conn, contact), code, at))

    # loyalty

    def credit_order(self, event: BusinessEvent) -> LedgerOutcome:
        """Points for a purchase event (or their reversal on a refund), once per order."""

        def work(conn: Connection) -> LedgerOutcome:
            row = contact_rows.find_or_create(conn, self.model, event.contact, source="event")
            return credit_for_event(conn, self.loyalty, row, event)

        return self.store.write(work)

    def points(self, contact: Contact, recent: int = 5) -> PointsSummary:
        """Balance and latest ledger entries ("How many points do I have?"); 0 for unknown contacts."""
        with self.store.read() as conn:
            row = self._find(conn, contact)
            if row is None:
                return PointsSummary(None, 0, ())
            return PointsSummary(row.uid, balance(conn, row.id), recent_entries(conn, row.id, recent))

    # plumbing

    def _lock(self, conn: Connection, contact: Contact) -> Row:
        if isinstance(contact, str):
            return contact_rows.require(conn, contact, lock=True)
        return contact_rows.find_or_create(conn, self.model, contact)

    def _find(self, conn: Connection, contact: Contact) -> Row | None:
        if isinstance(contact, str):
            return contact_rows.require(conn, contact)
        return contact_rows.find(conn, contact)
