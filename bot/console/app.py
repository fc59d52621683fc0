"""Flask application factory for the console/API process."""
from __future__ import annotations

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider

from bot.console.api.analytics import analytics_api
from bot.console.api.views import api
from bot.console.checkout_redirect import checkout_redirect
from bot.console.dashboard.views import staff_dashboard
from bot.console.errors import register_error_handlers
from bot.console.shopify_webhook import shopify_webhook
from bot.console.staff.review import init_review
from bot.console.staff.views import init_staff_console
from bot.console.storefront import storefront
from bot.services import build
from bot.settings import Settings, load_console_settings
from journey_state.bidi import strip_bidi
from journey_state.store import JourneyStore

MAX_BODY_BYTES = 64 * 1024
# For every response that does not bring its own policy (the storefront adds Rasa's socket
# to connect-src, the dashboard its own); console pages need nothing from another origin.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PRIVATE_PREFIXES = ("/staff", "/api")


def create_app(settings: Settings, store: JourneyStore | None = None) -> Flask:
    if not settings.api_token:
        raise SystemExit("journeybot: JOURNEYBOT_API_TOKEN is not set; the API refuses to start without one")
    console = load_console_settings()
    services = build(settings, store=store)
    app = Flask("journeybot.console")
    # Every {{ value }} of every template passes here before autoescaping, so no page can
    # forget it: customer text (transcripts, queue, context card, notes) loses bidi controls.
    app.jinja_options = {**app.jinja_options, "finalize": _finalize}
    app.config.update(
        JOURNEYBOT_API_TOKEN=settings.api_token,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JSON_SORT_KEYS=False,
    )
    assert isinstance(app.json, DefaultJSONProvider)  # Flask's own provider unless json_provider_class is set
    app.json.sort_keys = False
    app.extensions["services"] = services
    app.extensions["journey_store"] = services.store
    app.extensions["event_limits"] = services.event_limits
    app.extensions["programs"] = services.programs
    app.extensions["handoffs"] = services.handoffs
    app.extensions["journeybot_settings"] = settings
    app.extensions["console_settings"] = console
    app.register_blueprint(api)
    app.register_blueprint(analytics_api)
    app.register_blueprint(storefront)
    app.register_blueprint(checkout_redirect)
    app.register_blueprint(shopify_webhook)
    init_staff_console(app, settings, console)
    app.register_blueprint(staff_dashboard)
    init_review(app, settings)
    register_error_handlers(app)
    app.after_request(security_headers)
    return app


def _finalize(value):
    return strip_bidi(value) if isinstance(value, str) else value


def security_headers(response: Response) -> Response:
    """The one place every console response (pages, API, static files, errors) gets its security headers."""
    csp = response.headers.get("Content-Security-Policy")
    if not csp:
        response.headers["Content-Security-Policy"] = DEFAULT_CSP
    elif "frame-ancestors" not in csp:
        response.headers["Content-Security-Policy"] = f"{csp.rstrip('; ')}; frame-ancestors 'none'"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Staff URLs name contacts and handoffs; a checkout redirect asks for no-referrer itself.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(PRIVATE_PREFIXES) and not _cacheable(response):
        # Pages and JSON with customer data must not stay in a shared computer's browser cache
        # (or a proxy's) after the agent logs out.
        response.headers["Cache-Control"] = "no-store"
        response.headers.pop("Expires", None)
    return response


def _cacheable(response: Response) -> bool:
    """Static files and bundles that declared themselves public hold no customer data."""
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static") or bool(response.cache_control.public)
