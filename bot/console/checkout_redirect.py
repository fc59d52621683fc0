"""GET /c/<token>: the checkout link customers get in the chat, recorded as opened, then redirected to the shop.

The target is always built from commerce.yml (journey_state/checkout): the token selects a
link, never a URL, so this route cannot be used as an open redirect. Unknown, malformed and
expired tokens are one 404, so a probe learns nothing about which tokens exist.

Chat apps fetch links to draw a preview (Telegram, WhatsApp, Slack, ...), and a HEAD request
opens nothing; neither is recorded as the customer opening the link, both still get the redirect.
"""
from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, current_app, request

from bot.services import Services

logger = logging.getLogger(__name__)

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# User-agent marks of the link-preview fetchers of the channels journeybot serves (and the
# usual chat and social apps customers paste links into).
PREVIEW_AGENTS = ("telegrambot", "whatsapp", "facebookexternalhit", "facebot", "slackbot", "twitterbot",
                  "discordbot", "linkedinbot", "skypeuripreview", "applebot", "googlebot", "bingbot")
NOT_FOUND = "This checkout link is not valid or has expired. Ask in the chat and we'll send you a new one.\n"

checkout_redirect = Blueprint("checkout_redirect", __name__)


def _is_preview() -> bool:
    agent = (request.headers.get("User-Agent") or "").lower()
    return request.method == "HEAD" or any(mark in agent for mark in PREVIEW_AGENTS)


def _plain(text: str, status: int) -> Response:
    response = Response(text, status=status, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


@checkout_redirect.route("/c/<path:token>", methods=["GET"])
def open_checkout(token: str) -> Response:
    if not TOKEN.match(token):
        return _plain(NOT_FOUND, 404)
    links = current_app.extensions["services"].checkout if isinstance(current_app.extensions.get("services"), Services) else None
    if links is None:
        return _plain(NOT_FOUND, 404)
    target = links.target_of(token) if _is_preview() else links.open(token)
    if target is None:
        return _plain(NOT_FOUND, 404)
    response = Response(status=302)
    response.headers["Location"] = target
    # The token is the customer's: it must not travel on in a Referer or stay in a cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
