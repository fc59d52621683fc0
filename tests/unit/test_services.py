"""bot/services.py, the composition root: one build for every process, one cache for the long-running ones."""
from __future__ import annotations

import pytest

from bot import services
from bot.settings import load_settings
from journey_state.commerce.demo_shop import DemoShopBackend
from journey_state.errors import JourneyError
from journey_state.store.db import shared_engine


@pytest.fixture
def settings(migrated_url, tmp_path):
    return load_settings({"JOURNEYBOT_DATABASE_URL": migrated_url, "JOURNEYBOT_VAR_DIR": str(tmp_path)})


def test_every_service_works_over_one_journey_store(settings):
    built = services.build(settings)
    try:
        store = built.store
        assert built.engine is store.engine and built.model is store.model and built.model.id == "b2c"
        assert built.conversation.store is store and built.programs.store is store
        assert built.handoffs.store is store and built.proofs.store is store
        assert built.conversation.replies is built.replies
        # The handoff store carries handoff.yml's triggers (create-user once got an empty config).
        assert built.handoffs.config.triggers
        assert isinstance(built.orders.backend, DemoShopBackend)
        assert built.settings is settings
    finally:
        built.close()


def test_a_given_store_is_used_as_it_is(settings, b2b_model):
    from journey_state.store import JourneyStore, make_engine

    store = JourneyStore(make_engine(settings.database_url), b2b_model)
    try:
        built = services.build(settings, store=store)
        assert built.store is store and built.model is b2b_model
    finally:
        store.engine.dispose()


def test_a_broken_business_file_stops_the_build(settings, tmp_path):
    business = tmp_path / "business"
    business.mkdir()
    (business / "replies.yml").write_text("answers: [unclosed\n")
    with pytest.raises(JourneyError):
        services.build(settings.copy(update={"business_dir": business}))


def test_shared_builds_once_per_database_and_reset_forgets(migrated_url, tmp_path, monkeypatch):
    from journey_state.store import migrate

    other = f"sqlite:///{tmp_path / 'other.db'}"
    migrate.upgrade(other)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", migrated_url)
    services.reset()
    try:
        first = services.shared()
        assert services.shared() is first and services.shared(migrated_url) is first
        assert first.engine is shared_engine(migrated_url)  # the channels' own state shares the pool
        elsewhere = services.shared(other)
        assert elsewhere is not first and elsewhere.settings.database_url == other
        services.reset()
        assert services.shared() is not first
    finally:
        services.reset()
