"""Staff console dashboard: journey analytics for CX managers (agent and admin roles).

The page (/staff/dashboard) draws Chart.js charts from /staff/dashboard/data.json, which is
authenticated by the staff session (the API token never reaches the browser) and parses
its filters exactly like /api/analytics (a bad filter is a 422 with the message). The
journey map downloads as HTML and PNG. Chart.js is served from bot/console/web/node_modules
(installed by `npm ci`), never from a CDN.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask.blueprints import BlueprintSetupState
from sqlalchemy import select

from bot.console.api.analytics import filtered_context
from bot.console.dashboard.export import map_html, map_png, period
from bot.console.errors import ApiError
from bot.console.npm_assets import NODE_MODULES, script_response, warn_if_missing
from bot.console.staff.auth import login_required
from journey_state.analytics import dashboard as analytics
from journey_state.store import JourneyStore
from journey_state.store.db import READ_ONLY
from journey_state.store.errors import unavailable_as_error
from journey_state.store.tables import channel_identities

logger = logging.getLogger(__name__)

CHART_BUNDLE = NODE_MODULES / "chart.js" / "dist" / "chart.umd.js"
# Only our own origin; Chart.js styles its canvases through the CSSOM, which CSP allows.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

staff_dashboard = Blueprint("staff_dashboard", __name__, url_prefix="/staff/dashboard", template_folder="../templates")


@staff_dashboard.record_once
def _check_bundle(state: BlueprintSetupState) -> None:
    warn_if_missing(CHART_BUNDLE, "Chart.js")


def _compute() -> tuple[dict[str, Any], list[str]]:
    """The dashboard for the request's filters (ApiError 422 on a bad filter), and its options."""
    store, model, filters, journeys_dir = filtered_context()
    dash = analytics.compute(store.engine, model, filters, journeys_dir)
    return dash, _channels(store)


def _channels(store: JourneyStore) -> list[str]:
    """Channels any contact has used (for the channel filter's choices)."""
    with unavailable_as_error(), store.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        return sorted(c for (c,) in conn.execute(select(channel_identities.c.channel).distinct()))


def _models() -> list[str]:
    settings = current_app.extensions.get("journeybot_settings")
    if settings is None:
        return [current_app.extensions["journey_store"].model.id]
    return sorted(p.stem for p in settings.journeys_dir.glob("*.yml"))


def notices(dash: dict[str, Any], channels: list[str]) -> list[str]:
    """Plain-language notes on filter values that are valid but match no contact at all."""
    f, out = dash["filters"], []
    if f["channel"] and f["channel"] not in channels:
        out.append(f"No contact has ever used the channel '{f['channel']}' (known: {', '.join(channels) or 'none'}); the numbers below are empty.")
    personas = {s["persona"] for s in dash["segments"]}
    if f["persona"] and f["persona"] not in personas:
        known = ", ".join(sorted(p for p in personas if p)) or "none"
        out.append(f"No contact of model '{f['model']}' has the persona '{f['persona']}' (known: {known}); the numbers below are empty.")
    if dash["empty"] and not out:
        out.append("No journey data for this period and these filters. Widen the date range or remove a filter.")
    return out


@staff_dashboard.get("")
@login_required()
def page(user):
    default_model = current_app.extensions["journey_store"].model.id
    response = Response(render_template("staff/dashboard.html", user=user, models=_models(), default_model=default_model, urls=urls()))
    response.headers["Content-Security-Policy"] = CSP
    return response


@staff_dashboard.get("/data.json")
@login_required()
def data(user):
    dash, channels = _compute()
    return jsonify(
        {
            "dashboard": dash,
            "options": {"models": _models(), "channels": channels, "personas": sorted(s["persona"] for s in dash["segments"] if s["persona"])},
            "notices": notices(dash, channels),
        }
    )


def _export(render: Callable[[dict[str, Any]], str | bytes], mimetype: str, suffix: str) -> Response:
    try:
        dash, _ = _compute()
    except ApiError as exc:  # a download link: plain text reads better than JSON
        return Response(f"Cannot export the journey map: {exc.message}\n", status=exc.status, mimetype="text/plain")
    response = Response(render(dash), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{export_name(dash, suffix)}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def export_name(dash: dict[str, Any], suffix: str) -> str:
    f = dash["filters"]
    parts = ["journey-map", f["model"], f["persona"] or "all", f["channel"] or "", *period(f)]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(p for p in parts if p)) + suffix


@staff_dashboard.get("/journey-map.html")
@login_required()
def journey_map_html(user):
    return _export(map_html, "text/html", ".html")


@staff_dashboard.get("/journey-map.png")
@login_required()
def journey_map_png(user):
    return _export(map_png, "image/png", ".png")


@staff_dashboard.get("/chart.js")
def chart_bundle():
    return script_response(CHART_BUNDLE, "Chart.js")


def urls() -> dict[str, str]:
    """The URLs the page's script needs (data attributes, so the page has no inline script)."""
    return {
        "data": url_for("staff_dashboard.data"),
        "map_html": url_for("staff_dashboard.journey_map_html"),
        "map_png": url_for("staff_dashboard.journey_map_png"),
    }
