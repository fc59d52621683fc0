"""Flask application factory for the console/API process."""
from __future__ import annotations

from flask import Flask

from bot.console.analytics_api import analytics_api
from bot.console.api import api
from bot.console.dashboard import staff_dashboard
from bot.console.errors import register_error_handlers
from bot.console.storefront import storefront
from bot.console.staff import init_staff_console
from bot.settings import Settings
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine
from journey_state.store.programs import ProgramsStore

MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings, store: JourneyStore | None = None) -> Flask:
    if not settings.api_token:
        raise SystemExit("journeybot: JOURNEYBOT_API_TOKEN is not set; the API refuses to start without one")
    if store is None:
        model = load_named_model(settings.journeys_dir, settings.journey_model)
        store = JourneyStore(make_engine(settings.database_url), model)
    app = Flask("journeybot.console")
    app.config.update(
        JOURNEYBOT_API_TOKEN=settings.api_token,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False
    app.extensions["journey_store"] = store
    app.extensions["programs"] = ProgramsStore.load(store, settings.business_dir, settings.journeys_dir)
    app.extensions["journeybot_settings"] = settings
    app.register_blueprint(api)
    app.register_blueprint(analytics_api)
    app.register_blueprint(storefront)
    init_staff_console(app, settings)
    app.register_blueprint(staff_dashboard)
    register_error_handlers(app)
    return app
