"""All business configuration, loaded and validated in one go at process start.

`load_business_config` reads every file of data/business/ that the journey domain uses, plus
every journey model, so that a mistake is refused by `journeybot check` and at start-up instead
of on the first customer turn that needs the file. Channel files (whatsapp.yml) are loaded by
their channel, which sits above this package.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from journey_state.catalog import Catalog, load_catalog
from journey_state.commerce.config import CommerceConfig, check_checkout_products, load_commerce_config
from journey_state.event_limits import EVENTS_FILE, EventLimits, load_event_limits
from journey_state.handoff import HandoffConfig, load_handoff_config
from journey_state.loyalty import PROGRAMS_FILE, LoyaltySettings, load_loyalty
from journey_state.model import JourneyModel, journey_files, load_model
from journey_state.offers import OfferCatalog, load_offers
from journey_state.referrals import ReferralSettings, load_referrals
from journey_state.replies import ReplyBook, load_facts, load_replies
from journey_state.understanding import UNDERSTANDING_FILE, UnderstandingRules, load_understanding

BUSINESS_FILE = "business.yml"
REPLIES_FILE = "replies.yml"
OFFERS_FILE = "offers.yml"
HANDOFF_FILE = "handoff.yml"
COMMERCE_FILE = "commerce.yml"
CATALOG_FILE = "catalog.yml"


@dataclass(frozen=True)
class BusinessConfig:
    """Every validated business file, and the paths that were read (for `journeybot check`)."""

    models: Mapping[str, JourneyModel]
    facts: Mapping[str, str]
    replies: ReplyBook
    offers: OfferCatalog
    loyalty: LoyaltySettings
    referrals: ReferralSettings
    handoff: HandoffConfig
    commerce: CommerceConfig
    event_limits: EventLimits
    catalog: Catalog | None
    files: tuple[Path, ...]
    understanding: UnderstandingRules

    @property
    def stage_ids(self) -> frozenset[str]:
        """Stage ids of every journey model (replies, offers and hand-offs may name any of them)."""
        return frozenset(stage for model in self.models.values() for stage in model.stage_ids)


def load_business_config(business_dir: str | Path, journeys_dir: str | Path) -> BusinessConfig:
    """Load and validate every business file; the first error raised names its file and key."""
    business_dir, journeys_dir = Path(business_dir), Path(journeys_dir)
    model_files = journey_files(journeys_dir)
    models = {model.id: model for model in (load_model(path) for path in model_files)}
    stages = frozenset(stage for model in models.values() for stage in model.stage_ids)
    catalog_path = business_dir / CATALOG_FILE
    optional = [business_dir / name for name in (EVENTS_FILE, COMMERCE_FILE, CATALOG_FILE, UNDERSTANDING_FILE)]
    files = (
        *model_files,
        *(business_dir / name for name in (BUSINESS_FILE, REPLIES_FILE, OFFERS_FILE, PROGRAMS_FILE, HANDOFF_FILE)),
        *(path for path in optional if path.exists()),
    )
    commerce = load_commerce_config(business_dir / COMMERCE_FILE)
    catalog = load_catalog(catalog_path) if catalog_path.exists() else None
    check_checkout_products(commerce, catalog)
    return BusinessConfig(
        models=models,
        facts=load_facts(business_dir / BUSINESS_FILE),
        replies=load_replies(business_dir, stages),
        offers=load_offers(business_dir, stages),
        loyalty=load_loyalty(business_dir),
        referrals=load_referrals(business_dir, models.values()),
        handoff=load_handoff_config(business_dir / HANDOFF_FILE, stages),
        commerce=commerce,
        event_limits=load_event_limits(business_dir),
        catalog=catalog,
        files=files,
        understanding=load_understanding(business_dir),
    )
