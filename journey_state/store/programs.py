"""Offers, feedback, referrals and loyalty points in the journey store.

Functions here take an open `Connection` (inside the caller's transaction) and a contact
row the caller has locked, so other store code can run them in its own transaction.
`ProgramsStore` wraps a `JourneyStore` and runs each write as one transaction with its
retries; every write is idempotent on replay:

- offer impressions: one per (offer, time); redemptions: one per offer and contact;
- feedback: one per `reference` (the signal id `feedback:<kind>:<reference>`);
- referral attribution: one per referred contact; rewards keyed `referral:<code>:<referred uid>`;
- order points: keyed `order:<order_id>`, their reversal `order:<order_id>:reversed`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Row

from journey_state.business_events import BusinessEvent
from journey_state.engine import Signal, Source
from journey_state.feedback import CSAT, CSAT_LOW_MAX, DETRACTOR_MAX, NPS, Score, feedback_signal, score
from journey_state.identifiers import ChannelRef, Identifier
from journey_state.loyalty import LoyaltySettings, load_loyalty, order_reference, points_for_order, reversal_reference
from journey_state.model import JourneyModel, load_model
from journey_state.offers import EVENT_KINDS, REDEEMED, SHOWN, Offer, OfferCatalog, OfferContext, OfferEvent, choose_offer, load_offers
from journey_state.referrals import AdvocateRules, ReferralSettings, generate_code, is_advocate, load_referrals, normalise_code
from journey_state.store import contacts as contact_rows
from journey_state.store.contacts import now
from journey_state.store.repository import JourneyStore
from journey_state.store.signals import SignalOutcome, already_applied, apply
from journey_state.store.tables import (
    business_events,
    feedback,
    handoffs,
    loyalty_ledger,
    offer_events,
    referral_attributions,
    referral_codes,
    touchpoints,
)

Contact = str | ChannelRef | Identifier  # a contact uid, or how the contact reached us
COMPLAINT_INTENTS = frozenset({"complaint"})
MAX_REFERENCE = 200
MAX_COMMENT = 2000
CODE_ATTEMPTS = 20
RECENT_REVIEWS = 20


class ReferralError(ValueError):
    """A referral that cannot be made; the message says why."""


class UnknownReferralCode(ReferralError):
    pass


class SelfReferral(ReferralError):
    pass


class AlreadyReferred(ReferralError):
    pass


class NotAnAdvocate(ReferralError):
    pass


@dataclass(frozen=True)
class OfferRecord:
    contact_uid: str
    offer_id: str
    kind: str  # shown | redeemed
    at: datetime
    duplicate: bool


@dataclass(frozen=True)
class FeedbackOutcome:
    contact_uid: str
    score: Score
    feedback_id: int | None  # None on a replay
    signal: SignalOutcome
    duplicate: bool


@dataclass(frozen=True)
class IssuedCode:
    contact_uid: str
    code: str
    new: bool


@dataclass(frozen=True)
class ReferralOutcome:
    referrer_uid: str
    referred_uid: str
    code: str
    referrer_points: int
    referred_points: int
    duplicate: bool


@dataclass(frozen=True)
class LedgerEntry:
    points: int
    reason: str
    reference: str
    at: datetime


@dataclass(frozen=True)
class LedgerOutcome:
    contact_uid: str
    points: int  # credited now (negative for a reversal); 0 when nothing was due or on a replay
    reference: str | None
    duplicate: bool
    balance: int


@dataclass(frozen=True)
class PointsSummary:
    contact_uid: str | None  # None: we do not know this contact yet
    balance: int
    recent: tuple[LedgerEntry, ...]


# -- offers -------------------------------------------------------------------------------


def offer_history(conn: Connection, contact_id: int) -> tuple[OfferEvent, ...]:
    rows = conn.execute(
        select(offer_events.c.offer_id, offer_events.c.kind, offer_events.c.at)
        .where(offer_events.c.contact_id == contact_id)
        .order_by(offer_events.c.at, offer_events.c.id)
    ).all()
    return tuple(OfferEvent(r.offer_id, r.kind, r.at) for r in rows)


def last_complaint_at(conn: Connection, contact_id: int) -> datetime | None:
    """The latest complaint: a complaint intent in chat, a detractor NPS or a low CSAT."""
    said = conn.execute(
        select(func.max(touchpoints.c.at)).where(touchpoints.c.contact_id == contact_id, touchpoints.c.intent.in_(COMPLAINT_INTENTS))
    ).scalar()
    rated = conn.execute(
        select(func.max(feedback.c.at)).where(
            feedback.c.contact_id == contact_id,
            ((feedback.c.kind == NPS) & (feedback.c.score <= DETRACTOR_MAX)) | ((feedback.c.kind == CSAT) & (feedback.c.score <= CSAT_LOW_MAX)),
        )
    ).scalar()
    times = [t for t in (said, rated) if t is not None]
    return max(times) if times else None


def offer_context(conn: Connection, row: Row, channel: str | None) -> OfferContext:
    return OfferContext(
        stage=row.stage,
        persona=row.persona,
        channel=channel,
        at_risk=bool(row.at_risk),
        last_complaint_at=last_complaint_at(conn, row.id),
    )


def record_offer_event(conn: Connection, row: Row, offer_id: str, kind: str, channel: str | None, at: datetime) -> OfferRecord:
    """An impression (once per offer and time) or a redemption (once per offer)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown offer event {kind!r} (use {', '.join(EVENT_KINDS)})")
    seen = select(offer_events.c.id).where(
        offer_events.c.contact_id == row.id, offer_events.c.offer_id == offer_id, offer_events.c.kind == kind
    )
    if kind == SHOWN:
        seen = seen.where(offer_events.c.at == at)
    if conn.execute(seen.limit(1)).first() is not None:
        return OfferRecord(row.uid, offer_id, kind, at, duplicate=True)
    conn.execute(
        insert(offer_events).values(contact_id=row.id, offer_id=offer_id, kind=kind, stage=row.stage, channel=channel, at=at)
    )
    return OfferRecord(row.uid, offer_id, kind, at, duplicate=False)


def present_offer(conn: Connection, catalog: OfferCatalog, row: Row, channel: str | None, at: datetime) -> Offer | None:
    """Choose an offer and record its impression. A replay at the same `at` returns the same offer."""
    replay = conn.execute(
        select(offer_events.c.offer_id).where(
            offer_events.c.contact_id == row.id, offer_events.c.kind == SHOWN, offer_events.c.at == at
        ).order_by(offer_events.c.id)
    ).scalar()
    if replay is not None and replay in catalog.ids:
        return catalog.get(replay)
    offer = choose_offer(catalog, offer_context(conn, row, channel), offer_history(conn, row.id), at)
    if offer is not None:
        record_offer_event(conn, row, offer.id, SHOWN, channel, at)
    return offer


# -- feedback -----------------------------------------------------------------------------


def record_feedback(
    conn: Connection,
    model: JourneyModel,
    row: Row,
    answer: Score,
    reference: str,
    at: datetime,
    comment: str | None = None,
    channel: str | None = None,
    handoff_id: int | None = None,
    source: Source = Source.CONVERSATION,
) -> FeedbackOutcome:
    """Store a validated answer and apply its signal (nps_promoter, csat_low, ...) to the contact."""
    signal = feedback_signal(answer, f"feedback:{answer.kind}:{reference}", at, source, comment or "")
    if already_applied(conn, row.id, signal.id):
        return FeedbackOutcome(row.uid, answer, None, SignalOutcome(row.uid, contact_rows.state_of(row), (), True), True)
    if handoff_id is not None and conn.execute(select(handoffs.c.id).where(handoffs.c.id == handoff_id)).first() is None:
        raise ValueError(f"no handoff with id {handoff_id}")
    feedback_id = conn.execute(
        insert(feedback).values(
            contact_id=row.id,
            kind=answer.kind,
            score=answer.value,
            comment=(comment or "").strip()[:MAX_COMMENT] or None,
            stage=row.stage,  # the stage they were in when they answered
            channel=channel,
            handoff_id=handoff_id,
            at=at,
        )
    ).inserted_primary_key[0]
    return FeedbackOutcome(row.uid, answer, feedback_id, apply(conn, model, row, signal), False)


def latest_nps(conn: Connection, contact_id: int) -> int | None:
    return conn.execute(
        select(feedback.c.score)
        .where(feedback.c.contact_id == contact_id, feedback.c.kind == NPS)
        .order_by(feedback.c.at.desc(), feedback.c.id.desc())
        .limit(1)
    ).scalar()


def latest_review_rating(conn: Connection, contact_id: int) -> int | None:
    """The rating of the contact's latest review_posted event that has one."""
    payloads = conn.execute(
        select(business_events.c.payload)
        .where(business_events.c.contact_id == contact_id, business_events.c.type == "review_posted")
        .order_by(business_events.c.occurred_at.desc(), business_events.c.id.desc())
        .limit(RECENT_REVIEWS)
    ).scalars()
    for payload in payloads:
        rating = payload.get("rating") if isinstance(payload, dict) else None
        if isinstance(rating, int) and not isinstance(rating, bool):
            return rating
    return None


def contact_is_advocate(conn: Connection, rules: AdvocateRules, model: JourneyModel, row: Row) -> bool:
    return is_advocate(rules, model.id, row.stage, latest_nps(conn, row.id), latest_review_rating(conn, row.id))


# -- referrals ----------------------------------------------------------------------------


def current_code(conn: Connection, contact_id: int) -> str | None:
    return conn.execute(
        select(referral_codes.c.code)
        .where(referral_codes.c.contact_id == contact_id)
        .order_by(referral_codes.c.created_at.desc(), referral_codes.c.id.desc())
        .limit(1)
    ).scalar()


def issue_code(
    conn: Connection, model: JourneyModel, settings: ReferralSettings, row: Row, rng=None, again: bool = False, at: datetime | None = None
) -> IssuedCode:
    """The advocate's code; a new one only if they have none or `again` (older codes stay valid)."""
    if not contact_is_advocate(conn, settings.advocates, model, row):
        rules = settings.advocates
        raise NotAnAdvocate(
            f"contact {row.uid} is not an advocate yet: referral codes are for contacts with NPS {rules.min_nps}+, "
            f"a review rated {rules.min_review_rating}+, or in stage {rules.stages.get(model.id, '(none)')!r}"
        )
    existing = current_code(conn, row.id)
    if existing is not None and not again:
        return IssuedCode(row.uid, existing, new=False)
    for _ in range(CODE_ATTEMPTS):
        code = generate_code(rng, settings.code)
        if conn.execute(select(referral_codes.c.id).where(referral_codes.c.code == code)).first() is None:
            conn.execute(insert(referral_codes).values(contact_id=row.id, code=code, created_at=at or now()))
            return IssuedCode(row.uid, code, new=True)
    raise RuntimeError(f"no free referral code after {CODE_ATTEMPTS} attempts; make referrals.code.length longer")


def credit(conn: Connection, contact_id: int, points: int, reason: str, reference: str, at: datetime) -> bool:
    """Add a ledger entry once per (contact, reference); False if it was already there."""
    exists = conn.execute(
        select(loyalty_ledger.c.id).where(loyalty_ledger.c.contact_id == contact_id, loyalty_ledger.c.reference == reference)
    ).first()
    if exists is not None:
        return False
    conn.execute(insert(loyalty_ledger).values(contact_id=contact_id, points=points, reason=reason, reference=reference, at=at))
    return True


def attribute(conn: Connection, model: JourneyModel, settings: ReferralSettings, row: Row, raw_code: str, at: datetime) -> ReferralOutcome:
    """Attribute the (locked) contact in `row` to the owner of `raw_code` and credit both rewards.

    The same code again is a replay; a different code after an attribution, an unknown
    code, or the referrer's own code raise a ReferralError. The referrer also gets a
    `referral_signup` event signal (journey models move them towards advocacy on it).
    """
    code = normalise_code(raw_code, settings.code)
    owner = conn.execute(select(referral_codes.c.id, referral_codes.c.contact_id).where(referral_codes.c.code == code)).first()
    if owner is None:
        raise UnknownReferralCode(f"unknown referral code {code!r}")
    if owner.contact_id == row.id:
        raise SelfReferral(f"{code} is contact {row.uid}'s own referral code; nobody can refer themselves")
    prior = conn.execute(
        select(referral_attributions.c.code_id, referral_codes.c.code)
        .join(referral_codes, referral_codes.c.id == referral_attributions.c.code_id)
        .where(referral_attributions.c.referred_contact_id == row.id)
    ).first()
    if prior is not None and prior.code_id != owner.id:
        raise AlreadyReferred(f"contact {row.uid} was already referred with code {prior.code}; a contact is referred only once")
    referrer = contact_rows.by_id(conn, owner.contact_id, lock=True)
    reference = f"referral:{code}:{row.uid}"
    if prior is None:
        conn.execute(insert(referral_attributions).values(code_id=owner.id, referred_contact_id=row.id, at=at))
    given_referrer = settings.referrer_points > 0 and credit(conn, referrer.id, settings.referrer_points, "referral_referrer", reference, at)
    given_referred = settings.referred_points > 0 and credit(conn, row.id, settings.referred_points, "referral_welcome", reference, at)
    apply(conn, model, referrer, Signal(reference, Source.EVENT, at, event="referral_signup", excerpt=f"referred a new contact with code {code}"))
    return ReferralOutcome(
        referrer_uid=referrer.uid,
        referred_uid=row.uid,
        code=code,
        referrer_points=settings.referrer_points if given_referrer else 0,
        referred_points=settings.referred_points if given_referred else 0,
        duplicate=prior is not None,
    )


# -- loyalty ------------------------------------------------------------------------------


def balance(conn: Connection, contact_id: int) -> int:
    return int(conn.execute(select(func.coalesce(func.sum(loyalty_ledger.c.points), 0)).where(loyalty_ledger.c.contact_id == contact_id)).scalar())


def recent_entries(conn: Connection, contact_id: int, limit: int = 5) -> tuple[LedgerEntry, ...]:
    rows = conn.execute(
        select(loyalty_ledger.c.points, loyalty_ledger.c.reason, loyalty_ledger.c.reference, loyalty_ledger.c.at)
        .where(loyalty_ledger.c.contact_id == contact_id)
        .order_by(loyalty_ledger.c.at.desc(), loyalty_ledger.c.id.desc())
        .limit(limit)
    ).all()
    return tuple(LedgerEntry(r.points, r.reason, r.reference, r.at) for r in rows)


def _ledger_points(conn: Connection, contact_id: int, reference: str) -> int | None:
    return conn.execute(
        select(loyalty_ledger.c.points).where(loyalty_ledger.c.contact_id == contact_id, loyalty_ledger.c.reference == reference)
    ).scalar()


def credit_for_event(conn: Connection, settings: LoyaltySettings, row: Row, event: BusinessEvent) -> LedgerOutcome:
    """Points for a purchase event, or the reversal of an order's points on a refund; idempotent."""
    earned_ref, reversed_ref = order_reference(event), reversal_reference(event)
    if event.type in settings.earn_on:
        points = points_for_order(settings, event.type, event.payload)
        if points <= 0:
            return LedgerOutcome(row.uid, 0, None, False, balance(conn, row.id))
        if _ledger_points(conn, row.id, reversed_ref) is not None:  # refunded before we heard it was paid
            return LedgerOutcome(row.uid, 0, earned_ref, True, balance(conn, row.id))
        added = credit(conn, row.id, points, event.type, earned_ref, event.occurred_at)
        return LedgerOutcome(row.uid, points if added else 0, earned_ref, not added, balance(conn, row.id))
    if event.type in settings.reverse_on:
        earned = _ledger_points(conn, row.id, earned_ref) or 0
        # A zero entry still marks the order as reversed, so a late payment event earns nothing.
        added = credit(conn, row.id, -earned, event.type, reversed_ref, event.occurred_at)
        return LedgerOutcome(row.uid, -earned if added else 0, reversed_ref, not added, balance(conn, row.id))
    return LedgerOutcome(row.uid, 0, None, False, balance(conn, row.id))


# -- facade -------------------------------------------------------------------------------


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
    def load(cls, store: JourneyStore, business_dir: str | Path, journeys_dir: str | Path) -> "ProgramsStore":
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
