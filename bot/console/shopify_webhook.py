"""POST /webhooks/shopify/orders-paid: a paid Shopify order recorded as the customer's order_paid event.

Only Shopify can call it: the body must carry X-Shopify-Hmac-Sha256 made with
JOURNEYBOT_SHOPIFY_WEBHOOK_SECRET (the signing secret Shopify shows for the shop's webhooks). Without
the secret configured every call is refused (403), so an unconfigured console accepts
nothing. A retried delivery is applied once (the order id is the idempotency key); an order
that carries a checkout link's reference closes that link as paid (journey_state/checkout).
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, jsonify, request

from bot.console.errors import ApiError
from journey_state.business_events import EventValidationError
from journey_state.checkout.shopify_paid import TOPIC, paid_event, signed_by_shopify
from journey_state.event_ingestion import EventIngestion
from journey_state.store import EventConflict

logger = logging.getLogger(__name__)

shopify_webhook = Blueprint("shopify_webhook", __name__)


@shopify_webhook.post("/webhooks/shopify/orders-paid")
def orders_paid() -> Response | tuple[Response, int]:
    secret = current_app.extensions["console_settings"].shopify_webhook_secret
    body = request.get_data(cache=True)
    if not secret:
        raise ApiError(403, "not_configured", "Shopify webhooks are off: JOURNEYBOT_SHOPIFY_WEBHOOK_SECRET is not set")
    if not signed_by_shopify(secret, body, request.headers.get("X-Shopify-Hmac-Sha256")):
        raise ApiError(401, "bad_signature", "X-Shopify-Hmac-Sha256 is missing or does not sign this body")
    if request.headers.get("X-Shopify-Topic", TOPIC) != TOPIC:
        raise ApiError(422, "wrong_topic", f"this endpoint takes {TOPIC} webhooks")
    try:
        order = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "the body is not JSON") from None
    services = current_app.extensions["services"]
    try:
        event = paid_event(order, services.event_limits)
    except EventValidationError as exc:
        raise ApiError(422, "invalid_order", str(exc), {"fields": exc.problems}) from None
    if event is None:
        logger.warning("Shopify order without email or phone: not recorded")
        return jsonify({"recorded": False, "reason": "the order names no email or phone"})
    try:
        result = EventIngestion(services.store, services.programs.loyalty).record(event)
    except EventConflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc)) from None
    return jsonify({"recorded": True, "duplicate": result.duplicate, "contact_id": result.event.outcome.contact_uid}), (
        200 if result.duplicate else 201)
