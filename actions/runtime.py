"""The journey services for the action server, built once on first use (never at import)."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.settings import load_settings
from journey_state.commerce.config import build_backend, load_commerce_config
from journey_state.conversation import Conversation
from journey_state.model import all_stage_ids, load_named_model
from journey_state.order_support import OrderSupport
from journey_state.replies import ReplyBook, load_replies
from journey_state.store import JourneyStore, make_engine
from journey_state.store.programs import ProgramsStore


@dataclass(frozen=True)
class Services:
    conversation: Conversation
    programs: ProgramsStore
    orders: OrderSupport
    replies: ReplyBook

    @property
    def store(self) -> JourneyStore:
        return self.conversation.store


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    global _services
    with _lock:
        if _services is None:
            settings = load_settings()
            model = load_named_model(settings.journeys_dir, settings.journey_model)
            engine = make_engine(settings.database_url)
            store = JourneyStore(engine, model)
            replies = load_replies(settings.business_dir, all_stage_ids(settings.journeys_dir))
            programs = ProgramsStore.load(store, settings.business_dir, settings.journeys_dir)
            commerce = load_commerce_config(settings.business_dir / "commerce.yml")
            orders = OrderSupport(build_backend(commerce, engine), replies, commerce.order_prefix)
            _services = Services(Conversation(store, replies, programs), programs, orders, replies)
        return _services


def reset() -> None:
    """Forget the built services (tests switch databases and settings)."""
    global _services
    with _lock:
        _services = None
