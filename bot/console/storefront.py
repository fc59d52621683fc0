"""The demo storefront page at `/` with the chat widget (rasa-webchat over Rasa's socket.io channel).

The widget's bundle is served from bot/console/web/node_modules (installed by `npm ci`, which
`make run` and `make test` do), so the page loads nothing from a CDN.

With JOURNEYBOT_DEMO_CUSTOMER set (an email and/or phone, comma-separated) the page acts as if
that customer were signed in: it passes their identity to the widget, signed server-side with
JOURNEYBOT_IDENTITY_SECRET, the way a real shop would for its logged-in customer.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template
from flask.blueprints import BlueprintSetupState

from bot.console.npm_assets import NODE_MODULES, script_response, warn_if_missing
from bot.settings import Settings, load_console_settings
from journey_state.identifiers import InvalidIdentifier, identifier
from journey_state.identity_signing import identity_hash
from journey_state.replies import load_facts

logger = logging.getLogger(__name__)

WIDGET_BUNDLE = NODE_MODULES / "rasa-webchat" / "lib" / "index.js"
PUBLIC_RASA_URL_ENV = "JOURNEYBOT_PUBLIC_RASA_URL"
DEMO_CUSTOMER_ENV = "JOURNEYBOT_DEMO_CUSTOMER"
# Rasa's socket.io channel listens here unless credentials.yml sets `socketio_path`.
SOCKET_PATH = "/socket.io/"
# The bundle's CSS imports the Inter font from Google; a shop page should not call a CDN on
# every visit, so the import is dropped and the widget falls back to the system font.
CDN_IMPORTS = (b"@import url(https://fonts.googleapis.com/css?family=Inter:400,500,700&display=swap);",)

storefront = Blueprint(
    "storefront",
    __name__,
    template_folder="templates",
    static_folder="static/storefront",
    static_url_path="/storefront/static",
)


def public_rasa_url(settings: Settings, env: Mapping[str, str] | None = None) -> str:
    """The Rasa URL as the visitor's browser reaches it: JOURNEYBOT_PUBLIC_RASA_URL, else settings.rasa_url."""
    url = load_console_settings(env).public_rasa_url or settings.rasa_url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SystemExit(f"journeybot: {PUBLIC_RASA_URL_ENV}={url!r} must be an http(s):// URL, e.g. https://chat.example.com")
    return url.rstrip("/")


def demo_customer(settings: Settings, env: Mapping[str, str] | None = None) -> dict | None:
    """The widget's customData for the signed-in demo customer, or None when the mode is off."""
    raw = (load_console_settings(env).demo_customer or "").strip()
    if not raw:
        return None
    claims = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        kind = "email" if "@" in part else "phone"
        try:
            identifier(kind, part)
        except InvalidIdentifier as exc:
            raise SystemExit(f"journeybot: {DEMO_CUSTOMER_ENV}: {exc}") from None
        claims[kind] = part
    if not settings.identity_secret:
        raise SystemExit(f"journeybot: {DEMO_CUSTOMER_ENV} is set but JOURNEYBOT_IDENTITY_SECRET is not; "
                         "the demo customer's identity is signed with it")
    return {**claims, "user_hash": identity_hash(settings.identity_secret, **claims)}


@storefront.record_once
def _configure(state: BlueprintSetupState) -> None:
    # Resolved once at registration so a bad URL or business.yml stops the console at start-up.
    app = state.app
    settings: Settings = app.extensions["journeybot_settings"]
    app.extensions["storefront"] = {
        "socket_url": public_rasa_url(settings),
        "facts": load_facts(settings.business_dir / "business.yml"),
        "customer": demo_customer(settings),
    }
    warn_if_missing(WIDGET_BUNDLE, "chat widget")


@storefront.get("/")
def page():
    config = current_app.extensions["storefront"]
    facts = config["facts"]
    widget = {
        "socketUrl": config["socket_url"],
        "socketPath": SOCKET_PATH,
        "title": facts.get("business_name", "Chat"),
        "subtitle": "Ask us about plans, prices and deliveries",
        "inputTextFieldHint": "Type your question…",
    }
    customer = config["customer"]
    if customer:
        widget["customData"] = customer
    signed_in = customer and (customer.get("email") or customer.get("phone"))
    response = Response(render_template("storefront.html", facts=facts, widget=widget, signed_in=signed_in))
    # Only our own origin for code; the socket goes to Rasa. Inline styles: the widget injects a <style>.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; "
        f"connect-src 'self' {_ws_origins(config['socket_url'])}; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def _ws_origins(url: str) -> str:
    parts = urlsplit(url)
    ws = "wss" if parts.scheme == "https" else "ws"
    return f"{parts.scheme}://{parts.netloc} {ws}://{parts.netloc}"


@storefront.get("/storefront/webchat.js")
def widget_bundle():
    return script_response(WIDGET_BUNDLE, "chat widget", _without_cdn_imports)


def _without_cdn_imports(body: bytes) -> bytes:
    for cdn_import in CDN_IMPORTS:
        body = body.replace(cdn_import, b"")
    return body
