"""Referral codes of advocates and the attribution of referred contacts, inside the caller's transaction.

A referred contact is attributed once; both rewards go through the loyalty ledger
(journey_state/store/loyalty_points.py), keyed `referral:<code>:<referred uid>`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Row

from journey_state.engine import Signal, Source
from journey_state.model import JourneyModel
from journey_state.referrals import (
    AdvocateRules,
    ReferralSettings,
    generate_code,
    is_advocate,
    normalise_code,
)
from journey_state.store import contacts as contact_rows
from journey_state.store.contacts import now
from journey_state.store.feedback_records import latest_nps, latest_review_rating
from journey_state.store.loyalty_points import credit
from journey_state.store.signals import apply
from journey_state.store.tables import referral_attributions, referral_codes

CODE_ATTEMPTS = 20


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


def contact_is_advocate(conn: Connection, rules: AdvocateRules, model: JourneyModel, row: Row) -> bool:
    return is_advocate(rules, model.id, row.stage, latest_nps(conn, row.id), latest_review_rating(conn, row.id))


def current_code(conn: Connection, contact_id: int) -> str | None:
    value: str | None = conn.execute(
        select(referral_codes.c.code)
        .where(referral_codes.c.contact_id == contact_id)
        .order_by(referral_codes.c.created_at.desc(), referral_codes.c.id.desc())
        .limit(1)
    ).scalar()
    return value


def issue_code(
    conn: Connection, model: JourneyModel, settings: ReferralSettings, row: Row, rng: Any = None, again: bool = False, at: datetime | None = None
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
    assert referrer is not None  # a code is deleted with its owner (ON DELETE CASCADE)
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
