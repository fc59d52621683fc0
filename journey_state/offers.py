"""Offers: a validated catalog (data/business/offers.yml) and a pure, deterministic choice.

`choose_offer(catalog, context, history, now)` does no I/O: the store gathers the
contact's context (stage, persona, channel, at_risk, last complaint) and offer history
(impressions and redemptions) and passes them in. The rules, in order:

1. eligibility: the contact's stage is one of the offer's stages; persona and channel
   must be listed when the offer restricts them;
2. validity window: `valid_from` / `valid_until` are ISO dates, both inclusive, in UTC;
3. never an offer the contact already redeemed;
4. per-contact cap: at most `max_impressions` impressions of the offer;
5. cool-down: not again until `cooldown` has passed since its last impression;
6. never a `discount` while the contact is at risk, nor within
   `settings.no_discount_after_complaint` of their last complaint;
7. of what is left, the highest `priority` wins; ties go to the smallest offer id.
"""
from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import root_validator, validator

from journey_state.config_files import (
    KeyProblem,
    StrictModel,
    config_error,
    read_yaml,
    validate,
    whole_number,
)
from journey_state.model import duration
from journey_state.replies import load_facts

OFFERS_FILE = "offers.yml"
KINDS = ("discount", "perk", "upgrade")
SHOWN, REDEEMED = "shown", "redeemed"
EVENT_KINDS = (SHOWN, REDEEMED)
DEFAULT_COMPLAINT_WINDOW = timedelta(days=14)
MAX_OFFER_ID = 64  # offer_events.offer_id
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownOffer(ValueError):
    """An offer id that is not in the catalog."""


@dataclass(frozen=True)
class Offer:
    id: str
    title: str
    text: str  # placeholders already filled in from the business facts
    kind: str  # discount | perk | upgrade
    stages: frozenset[str]
    personas: frozenset[str] = frozenset()  # empty: any persona
    channels: frozenset[str] = frozenset()  # empty: any channel
    valid_from: date | None = None
    valid_until: date | None = None
    max_impressions: int | None = None  # None: no cap
    cooldown: timedelta | None = None
    priority: int = 0


@dataclass(frozen=True)
class OfferSettings:
    no_discount_after_complaint: timedelta = DEFAULT_COMPLAINT_WINDOW


@dataclass(frozen=True)
class OfferCatalog:
    offers: tuple[Offer, ...]  # sorted by (-priority, id): the order choose_offer tries them in
    settings: OfferSettings = OfferSettings()
    source: str = "<memory>"

    def get(self, offer_id: str) -> Offer:
        for offer in self.offers:
            if offer.id == offer_id:
                return offer
        raise UnknownOffer(f"unknown offer {offer_id!r} (offers: {', '.join(sorted(self.ids)) or 'none'})")

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(o.id for o in self.offers)


@dataclass(frozen=True)
class OfferContext:
    """What the choice may look at about the contact, right now."""

    stage: str
    persona: str | None = None
    channel: str | None = None
    at_risk: bool = False
    last_complaint_at: datetime | None = None


@dataclass(frozen=True)
class OfferEvent:
    """One past impression (`shown`) or redemption (`redeemed`) of an offer for the contact."""

    offer_id: str
    kind: str
    at: datetime


class Rejection(str, Enum):
    """Why an offer is not chosen (see `evaluate`)."""

    STAGE = "not for this stage"
    PERSONA = "not for this persona"
    CHANNEL = "not on this channel"
    NOT_YET_VALID = "not valid yet"
    EXPIRED = "expired"
    REDEEMED = "already redeemed"
    CAP = "shown as often as allowed"
    COOLDOWN = "cooling down since it was last shown"
    AT_RISK = "no discount while the contact is at risk"
    COMPLAINT = "no discount right after a complaint"


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(timezone.utc)


def rejection(offer: Offer, settings: OfferSettings, context: OfferContext, history: Sequence[OfferEvent], now: datetime) -> Rejection | None:
    """Why `offer` cannot be made now, or None if it can. `history` holds this offer's events only."""
    now = _utc(now, "now")
    if context.stage not in offer.stages:
        return Rejection.STAGE
    if offer.personas and context.persona not in offer.personas:
        return Rejection.PERSONA
    if offer.channels and context.channel not in offer.channels:
        return Rejection.CHANNEL
    today = now.date()
    if offer.valid_from is not None and today < offer.valid_from:
        return Rejection.NOT_YET_VALID
    if offer.valid_until is not None and today > offer.valid_until:
        return Rejection.EXPIRED
    if any(e.kind == REDEEMED for e in history):
        return Rejection.REDEEMED
    shown = [_utc(e.at, "offer event time") for e in history if e.kind == SHOWN]
    if offer.max_impressions is not None and len(shown) >= offer.max_impressions:
        return Rejection.CAP
    if offer.cooldown is not None and shown and now < max(shown) + offer.cooldown:
        return Rejection.COOLDOWN
    if offer.kind == "discount":
        if context.at_risk:
            return Rejection.AT_RISK
        # A complaint time in the future (clock skew) counts as "just now".
        if context.last_complaint_at is not None and \
                now < _utc(context.last_complaint_at, "last_complaint_at") + settings.no_discount_after_complaint:
            return Rejection.COMPLAINT
    return None


def evaluate(catalog: OfferCatalog, context: OfferContext, history: Iterable[OfferEvent], now: datetime) -> dict[str, Rejection | None]:
    """Every offer id with the reason it is rejected (None: eligible), in the order they are tried."""
    by_offer: dict[str, list[OfferEvent]] = {}
    for event in history:
        by_offer.setdefault(event.offer_id, []).append(event)
    return {
        offer.id: rejection(offer, catalog.settings, context, by_offer.get(offer.id, ()), now)
        for offer in _ordered(catalog.offers)
    }


def choose_offer(catalog: OfferCatalog, context: OfferContext, history: Iterable[OfferEvent], now: datetime) -> Offer | None:
    """The offer to make now, or None. Pure and deterministic: same inputs, same offer."""
    for offer_id, why in evaluate(catalog, context, history, now).items():
        if why is None:
            return catalog.get(offer_id)
    return None


def _ordered(offers: Iterable[Offer]) -> tuple[Offer, ...]:
    return tuple(sorted(offers, key=lambda o: (-o.priority, o.id)))


# -- configuration ---------------------------------------------------------------------


def _names(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of {what}s")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _ID.match(item):
            raise KeyProblem([i], f"{item!r} is not a valid {what} (lower case letters, digits and _)")
    return tuple(value)


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        raise ValueError("expected a date like 2026-12-31, not a timestamp")
    if isinstance(value, date):  # YAML parses unquoted 2026-12-31 as a date
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not an ISO date like 2026-12-31")


def _required_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("required text is missing or empty")
    return value.strip()


class OfferEntry(StrictModel):
    """One item of offers.yml's `offers` list, before its stages and placeholders are checked."""

    id: str = ""
    title: str = ""
    text: str = ""
    kind: str = ""
    stages: tuple[str, ...] = ()
    personas: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None
    max_impressions: int | None = None
    cooldown: timedelta | None = None
    priority: int = 0

    @classmethod
    def unknown_key_message(cls, key: str, allowed: Sequence[str]) -> str:
        return f"unknown key (use {', '.join(sorted(allowed))})"

    required_keys: ClassVar[Mapping[str, str]] = {
        "kind": f"must be one of {', '.join(KINDS)}, got None",
        "priority": "required: a whole number, higher wins",
    }

    @validator("id", pre=True, always=True)
    def _id(cls, value: Any) -> str:
        offer_id = _required_text(value)
        if not _ID.match(offer_id) or len(offer_id) > MAX_OFFER_ID:
            raise ValueError(f"{offer_id!r} is not a valid id (lower case letters, digits and _, at most {MAX_OFFER_ID})")
        return offer_id

    @validator("kind", pre=True)
    def _kind(cls, value: Any) -> Any:
        if value not in KINDS:
            raise ValueError(f"must be one of {', '.join(KINDS)}, got {value!r}")
        return value

    @validator("valid_from", "valid_until", pre=True)
    def _dates(cls, value: Any) -> date | None:
        return _date(value)

    @validator("valid_until")
    def _until_after_from(cls, value: date | None, values: dict[str, Any]) -> date | None:
        valid_from = values.get("valid_from")
        if valid_from and value and value < valid_from:
            raise ValueError(f"{value} is before valid_from {valid_from}")
        return value

    @validator("title", "text", pre=True, always=True)
    def _texts(cls, value: Any) -> str:
        return _required_text(value)

    @validator("stages", pre=True, always=True)
    def _stages(cls, value: Any) -> tuple[str, ...]:
        return _names(value, "stage")

    @validator("personas", pre=True)
    def _personas(cls, value: Any) -> tuple[str, ...]:
        return () if value is None else _names(value, "persona")

    @validator("channels", pre=True)
    def _channels(cls, value: Any) -> tuple[str, ...]:
        return () if value is None else _names(value, "channel")

    @validator("max_impressions", pre=True)
    def _cap(cls, value: Any) -> int | None:
        return None if value is None else whole_number(value, 1)

    @validator("cooldown", pre=True)
    def _cooldown(cls, value: Any) -> timedelta | None:
        return None if value is None else duration(value)

    @validator("priority", pre=True)
    def _priority(cls, value: Any) -> int:
        return whole_number(value, minimum=None)


class OfferSettingsSection(StrictModel):
    no_discount_after_complaint: timedelta = DEFAULT_COMPLAINT_WINDOW

    @validator("no_discount_after_complaint", pre=True)
    def _window(cls, value: Any) -> timedelta:
        return duration(value)


class OffersFile(StrictModel):
    """offers.yml as written; `parse_offers` checks what needs the journey models and facts."""

    settings: OfferSettingsSection = OfferSettingsSection()
    offers: list[OfferEntry] = []

    @validator("settings", pre=True)
    def _settings(cls, value: Any) -> Any:
        return value or {}

    @validator("offers", pre=True, always=True)
    def _offers(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("expected a list of offers")
        return value

    @root_validator(skip_on_failure=True)
    def _unique_ids(cls, values: dict[str, Any]) -> dict[str, Any]:
        seen: set[str] = set()
        for i, offer in enumerate(values["offers"]):
            if offer.id in seen:
                raise KeyProblem(["offers", i, "id"], f"duplicate offer id {offer.id!r}")
            seen.add(offer.id)
        return values


def _fill(text: str, facts: Mapping[str, str], source: str, key: str) -> str:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise config_error(source, key, f"bad placeholder: {exc}") from None
    for name in fields:
        if name not in facts:
            known = ", ".join(sorted(facts)) or "none"
            raise config_error(source, key, f"unknown placeholder {{{name}}} (business facts: {known})")
    return text.format_map(facts)


def _offer(entry: OfferEntry, source: str, key: str, known: Sequence[str], facts: Mapping[str, str]) -> Offer:
    title = _fill(entry.title, facts, source, f"{key}.title")
    text = _fill(entry.text, facts, source, f"{key}.text")
    for j, stage in enumerate(entry.stages):
        if stage not in known:
            raise config_error(source, f"{key}.stages[{j}]", f"unknown stage {stage!r} (stages: {', '.join(known)})")
    return Offer(
        id=entry.id,
        title=title,
        text=text,
        kind=entry.kind,
        stages=frozenset(entry.stages),
        personas=frozenset(entry.personas),
        channels=frozenset(entry.channels),
        valid_from=entry.valid_from,
        valid_until=entry.valid_until,
        max_impressions=entry.max_impressions,
        cooldown=entry.cooldown,
        priority=entry.priority,
    )


def parse_offers(data: Any, source: str, known_stages: Iterable[str], facts: Mapping[str, str]) -> OfferCatalog:
    """Validate a parsed offers.yml; every error names the file and the key."""
    known = sorted(set(known_stages))
    raw = validate(OffersFile, data, source, expected="expected a mapping with settings and offers")
    offers = [_offer(entry, source, f"offers[{i}]", known, facts) for i, entry in enumerate(raw.offers)]
    return OfferCatalog(_ordered(offers), OfferSettings(raw.settings.no_discount_after_complaint), source)


def load_offers(business_dir: str | Path, known_stages: Iterable[str]) -> OfferCatalog:
    """Load data/business/offers.yml; placeholders are filled from business.yml's facts."""
    business_dir = Path(business_dir)
    facts = load_facts(business_dir / "business.yml")
    path = business_dir / OFFERS_FILE
    return parse_offers(read_yaml(path), str(path), known_stages, facts)
