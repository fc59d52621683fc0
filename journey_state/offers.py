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
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from journey_state.errors import JourneyModelError
from journey_state.model import parse_duration
from journey_state.config_files import BusinessConfigError, config_error, read_yaml
from journey_state.replies import load_facts

OFFERS_FILE = "offers.yml"
KINDS = ("discount", "perk", "upgrade")
SHOWN, REDEEMED = "shown", "redeemed"
EVENT_KINDS = (SHOWN, REDEEMED)
DEFAULT_COMPLAINT_WINDOW = timedelta(days=14)
MAX_OFFER_ID = 64  # offer_events.offer_id
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_OFFER_KEYS = {
    "id", "title", "text", "kind", "stages", "personas", "channels",
    "valid_from", "valid_until", "max_impressions", "cooldown", "priority",
}


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
        if context.last_complaint_at is not None:
            # A complaint time in the future (clock skew) counts as "just now".
            if now < _utc(context.last_complaint_at, "last_complaint_at") + settings.no_discount_after_complaint:
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


def _names(raw: Any, source: str, key: str, known: Sequence[str] | None = None, what: str = "name") -> frozenset[str]:
    if not isinstance(raw, list) or not raw:
        raise config_error(source, key, f"expected a non-empty list of {what}s")
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not _ID.match(item):
            raise config_error(source, f"{key}[{i}]", f"{item!r} is not a valid {what} (lower case letters, digits and _)")
        if known is not None and item not in known:
            raise config_error(source, f"{key}[{i}]", f"unknown stage {item!r} (stages: {', '.join(known)})")
    return frozenset(raw)


def _date(raw: Any, source: str, key: str) -> date | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        raise config_error(source, key, "expected a date like 2026-12-31, not a timestamp")
    if isinstance(raw, date):  # YAML parses unquoted 2026-12-31 as a date
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise config_error(source, key, f"{raw!r} is not an ISO date like 2026-12-31")


def _duration(raw: Any, source: str, key: str) -> timedelta:
    try:
        return parse_duration(raw, f"{source}: {key}")
    except JourneyModelError as exc:
        raise BusinessConfigError(str(exc)) from None


def _int(raw: Any, source: str, key: str, minimum: int | None = None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise config_error(source, key, f"expected a whole number, got {raw!r}")
    if minimum is not None and raw < minimum:
        raise config_error(source, key, f"must be at least {minimum}, got {raw}")
    return raw


def _text(raw: Mapping[str, Any], name: str, source: str, key: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise config_error(source, f"{key}.{name}", "required text is missing or empty")
    return value.strip()


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


def _parse_offer(raw: Any, source: str, key: str, known: Sequence[str], facts: Mapping[str, str]) -> Offer:
    if not isinstance(raw, Mapping):
        raise config_error(source, key, "expected a mapping")
    unknown = set(raw) - _OFFER_KEYS
    if unknown:
        raise config_error(source, f"{key}.{sorted(unknown)[0]}", f"unknown key (use {', '.join(sorted(_OFFER_KEYS))})")
    offer_id = _text(raw, "id", source, key)
    if not _ID.match(offer_id) or len(offer_id) > MAX_OFFER_ID:
        raise config_error(source, f"{key}.id", f"{offer_id!r} is not a valid id (lower case letters, digits and _, at most {MAX_OFFER_ID})")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise config_error(source, f"{key}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if "priority" not in raw:
        raise config_error(source, f"{key}.priority", "required: a whole number, higher wins")
    valid_from = _date(raw.get("valid_from"), source, f"{key}.valid_from")
    valid_until = _date(raw.get("valid_until"), source, f"{key}.valid_until")
    if valid_from and valid_until and valid_until < valid_from:
        raise config_error(source, f"{key}.valid_until", f"{valid_until} is before valid_from {valid_from}")
    cap = raw.get("max_impressions")
    cooldown = raw.get("cooldown")
    return Offer(
        id=offer_id,
        title=_fill(_text(raw, "title", source, key), facts, source, f"{key}.title"),
        text=_fill(_text(raw, "text", source, key), facts, source, f"{key}.text"),
        kind=kind,
        stages=_names(raw.get("stages"), source, f"{key}.stages", known, "stage"),
        personas=_names(raw["personas"], source, f"{key}.personas", what="persona") if raw.get("personas") is not None else frozenset(),
        channels=_names(raw["channels"], source, f"{key}.channels", what="channel") if raw.get("channels") is not None else frozenset(),
        valid_from=valid_from,
        valid_until=valid_until,
        max_impressions=None if cap is None else _int(cap, source, f"{key}.max_impressions", 1),
        cooldown=None if cooldown is None else _duration(cooldown, source, f"{key}.cooldown"),
        priority=_int(raw.get("priority"), source, f"{key}.priority"),
    )


def parse_offers(data: Any, source: str, known_stages: Iterable[str], facts: Mapping[str, str]) -> OfferCatalog:
    """Validate a parsed offers.yml; every error names the file and the key."""
    known = sorted(set(known_stages))
    if not isinstance(data, Mapping):
        raise config_error(source, "(top level)", "expected a mapping with settings and offers")
    unknown = set(data) - {"settings", "offers"}
    if unknown:
        raise config_error(source, sorted(unknown)[0], "unknown key (use settings, offers)")
    raw_settings = data.get("settings") or {}
    if not isinstance(raw_settings, Mapping):
        raise config_error(source, "settings", "expected a mapping")
    unknown = set(raw_settings) - {"no_discount_after_complaint"}
    if unknown:
        raise config_error(source, f"settings.{sorted(unknown)[0]}", "unknown key (use no_discount_after_complaint)")
    settings = OfferSettings(
        _duration(raw_settings["no_discount_after_complaint"], source, "settings.no_discount_after_complaint")
        if "no_discount_after_complaint" in raw_settings
        else DEFAULT_COMPLAINT_WINDOW
    )
    raw_offers = data.get("offers")
    if not isinstance(raw_offers, list):
        raise config_error(source, "offers", "expected a list of offers")
    offers: list[Offer] = []
    for i, raw in enumerate(raw_offers):
        offer = _parse_offer(raw, source, f"offers[{i}]", known, facts)
        if any(o.id == offer.id for o in offers):
            raise config_error(source, f"offers[{i}].id", f"duplicate offer id {offer.id!r}")
        offers.append(offer)
    return OfferCatalog(_ordered(offers), settings, source)


def load_offers(business_dir: str | Path, known_stages: Iterable[str]) -> OfferCatalog:
    """Load data/business/offers.yml; placeholders are filled from business.yml's facts."""
    business_dir = Path(business_dir)
    facts = load_facts(business_dir / "business.yml")
    path = business_dir / OFFERS_FILE
    return parse_offers(read_yaml(path), str(path), known_stages, facts)
