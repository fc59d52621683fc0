"""The composition root: the one place that turns Settings into the journey services.

The CLI builds them per command, the console and the action server once at start, and the
Rasa server's channels once per database they are configured with (`shared`). Everything is
built eagerly, so a broken business file stops the process at start, not on a customer's turn.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.settings import Settings, load_settings
from journey_state.business_config import load_business_config
from journey_state.checkout.answer import CheckoutFlow
from journey_state.checkout.links import CheckoutLinks
from journey_state.commerce.config import build_backend
from journey_state.conversation import Conversation
from journey_state.delivery import DeliveryDesk
from journey_state.event_limits import EventLimits
from journey_state.identity_proof import ProofRecorder
from journey_state.model import JourneyModel, load_named_model
from journey_state.order_support import OrderSupport
from journey_state.places import shipped_gazetteer
from journey_state.replies import ReplyBook
from journey_state.store import JourneyStore, make_engine
from journey_state.store.db import shared_engine
from journey_state.store.handoffs import HandoffStore
from journey_state.store.programs import ProgramsStore
from journey_state.store.reviews import ReviewStore
from journey_state.understanding import UnderstandingRules


@dataclass(frozen=True)
class Services:
    settings: Settings
    model: JourneyModel
    store: JourneyStore
    replies: ReplyBook
    programs: ProgramsStore
    handoffs: HandoffStore
    orders: OrderSupport
    conversation: Conversation
    understanding: UnderstandingRules
    event_limits: EventLimits
    proofs: ProofRecorder
    reviews: ReviewStore
    checkout: CheckoutLinks
    delivery: DeliveryDesk | None = None  # None without a catalog.yml

    def warm_up(self) -> None:
        """Load now what a first customer turn would otherwise wait for (the places gazetteer)."""
        if self.delivery is not None:
            self.delivery.warm()

    @property
    def engine(self) -> Engine:
        return self.store.engine

    def close(self) -> None:
        """Close the database pool (a CLI command is done with it)."""
        self.store.engine.dispose()


def build(settings: Settings, *, engine: Engine | None = None, store: JourneyStore | None = None) -> Services:
    """Every service over one journey store: `store` if given (tests), else one on `engine` or a new engine."""
    if store is None:
        model = load_named_model(settings.journeys_dir, settings.journey_model)
        store = JourneyStore(engine if engine is not None else make_engine(settings.database_url), model)
    try:
        # One read of every business file, validated as `journeybot check` validates it.
        config = load_business_config(settings.business_dir, settings.journeys_dir)
        programs = ProgramsStore(store, config.offers, config.loyalty, config.referrals)
        # Which variable holds the shop's token is named in commerce.yml, so it is read here,
        # at the edge, and never inside journey_state.
        backend = build_backend(config.commerce, store.engine, os.environ)
        delivery = DeliveryDesk(config.catalog, shipped_gazetteer) if config.catalog is not None else None
        checkout = CheckoutLinks(store, config.commerce.checkout)
        return Services(
            settings=settings,
            model=store.model,
            store=store,
            replies=config.replies,
            programs=programs,
            handoffs=HandoffStore(store, config.handoff),
            orders=OrderSupport(backend, config.replies, config.commerce.order_prefix),
            conversation=Conversation(
                store, config.replies, programs, config.understanding, config.catalog, delivery,
                checkout=CheckoutFlow(checkout, config.catalog, settings.checkout_base_url),
            ),
            understanding=config.understanding,
            event_limits=config.event_limits,
            proofs=ProofRecorder(store),
            reviews=ReviewStore(store),
            checkout=checkout,
            delivery=delivery,
        )
    except BaseException:
        if engine is None:
            store.engine.dispose()
        raise


# The long-running processes' services, by database URL: the action server has one; the Rasa
# server's channels each name theirs (credentials.yml) and share its engine with their own state.
_lock = threading.Lock()
_shared: dict[str, Services] = {}


def shared(database_url: str | None = None) -> Services:
    """This process's services for `database_url` (default: JOURNEYBOT_DATABASE_URL), built on first call."""
    settings = load_settings()
    url = database_url or settings.database_url
    with _lock:
        services = _shared.get(url)
        if services is None:
            services = _shared[url] = build(settings.copy(update={"database_url": url}), engine=shared_engine(url))
        return services


def reset() -> None:
    """Forget the built services and close their pools (tests switch databases and settings)."""
    with _lock:
        for services in _shared.values():
            services.close()
        _shared.clear()
