"""Journey analytics API: GET /api/analytics/{dashboard,funnel,journey-map}.

Query parameters: from, to (YYYY-MM-DD or ISO time, UTC; a bare `to` date includes that
day), channel, model, persona. A bad filter is a 422 whose message names the parameter;
an unknown channel or persona gives empty metrics.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request

from bot.console.api.auth import require_token
from bot.console.api.contract import template_of
from bot.console.api.views import contract
from bot.console.errors import ApiError
from journey_state.analytics import checkout, dashboard, funnel, parse_filters
from journey_state.analytics.filters import AnalyticsFilterError, Filters
from journey_state.model import JourneyModel, load_named_model
from journey_state.store import JourneyStore
from journey_state.store.db import READ_ONLY

analytics_api = Blueprint("analytics_api", __name__, url_prefix="/api/analytics")
PARAMS = ("from", "to", "channel", "model", "persona")


def _checked_context() -> tuple[JourneyStore, JourneyModel, Filters, Path | None]:
    """filtered_context, then the OpenAPI document's rules for the query (the API's contract; the staff dashboard has none)."""
    found = filtered_context()
    rule = request.url_rule
    problems = contract().query_problems(template_of(rule.rule), "get", request.args) if rule else {}
    if problems:
        param, message = next(iter(problems.items()))
        raise ApiError(422, "invalid_filter", f"{param}: {message}", {"param": param})
    return found


def filtered_context() -> tuple[JourneyStore, JourneyModel, Filters, Path | None]:
    """The store, journey model, filters and journeys folder of this request (the staff dashboard's too)."""
    store: JourneyStore = current_app.extensions["journey_store"]
    settings = current_app.extensions.get("journeybot_settings")
    journeys_dir: Path | None = settings.journeys_dir if settings else None
    models = sorted(p.stem for p in journeys_dir.glob("*.yml")) if journeys_dir else [store.model.id]
    try:
        filters = parse_filters({k: request.args.get(k) for k in PARAMS}, models, store.model.id)
    except AnalyticsFilterError as exc:
        raise ApiError(422, "invalid_filter", str(exc), {"param": exc.param}) from None
    # Without a journeys folder the only model parse_filters accepts is the store's.
    model = store.model if filters.model == store.model.id or journeys_dir is None else load_named_model(journeys_dir, filters.model)
    return store, model, filters, journeys_dir


@analytics_api.get("/dashboard")
@require_token
def get_dashboard() -> Response:
    store, model, filters, journeys_dir = _checked_context()
    return jsonify(dashboard.compute(store.engine, model, filters, journeys_dir))


@analytics_api.get("/funnel")
@require_token
def get_funnel() -> Response:
    store, model, filters, journeys_dir = _checked_context()
    dashboard.refresh_facts(store.engine, model, journeys_dir)
    with store.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        # The checkout links of the period: between deciding to buy and a paid order.
        return jsonify({"filters": filters.as_dict(), **funnel.compute(conn, model, filters), "checkout": checkout.compute(conn, filters)})


@analytics_api.get("/journey-map")
@require_token
def get_journey_map() -> Response:
    store, model, filters, journeys_dir = _checked_context()
    dash = dashboard.compute(store.engine, model, filters, journeys_dir)
    return jsonify({"filters": dash["filters"], "segments": dash["segments"], **dash["journey_map"]})
