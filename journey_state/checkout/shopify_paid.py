"""Shopify's orders/paid webhook as an `order_paid` business event, closing the checkout link it came from.

Shopify signs each webhook with the shop's webhook secret: X-Shopify-Hmac-Sha256 is the
base64 HMAC-SHA256 of the raw body. The checkout link's token reaches the order the way
Shopify carries a reference from a cart permalink or storefront URL: a note attribute
named `checkout_ref` (or `ref`), else the `ref` query parameter of the order's landing_site.
The event goes through the same parsing and bounds as POST /api/events, so a webhook can
never store what the API would refuse.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from journey_state.business_events import BusinessEvent, EventValidationError, parse_event
from journey_state.event_limits import EventLimits
from journey_state.secret_compare import same_secret

TOPIC = "orders/paid"
REF_ATTRIBUTES = ("checkout_ref", "ref")


def signature(secret: str, body: bytes) -> str:
    """The X-Shopify-Hmac-Sha256 value Shopify sends for `body`."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def signed_by_shopify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the shop's signature of the raw body (constant time; never raises)."""
    return bool(secret) and same_secret(header, signature(secret, body))


def checkout_ref(order: Mapping[str, Any]) -> str | None:
    """The checkout link token the order carries, if any."""
    attributes = order.get("note_attributes")
    if isinstance(attributes, list):
        for item in attributes:
            if isinstance(item, Mapping) and item.get("name") in REF_ATTRIBUTES and isinstance(item.get("value"), str):
                return item["value"].strip() or None
    landing = order.get("landing_site")
    if isinstance(landing, str):
        try:
            refs = parse_qs(urlsplit(landing).query).get("ref")
        except ValueError:
            return None
        return refs[0] if refs else None
    return None


def paid_event(order: Any, limits: EventLimits, now: datetime | None = None) -> BusinessEvent | None:
    """The order_paid event of a Shopify order; None for an order with no email or phone to name its customer.

    Raises EventValidationError (fields named as in Shopify's JSON) for a body that is not an order.
    """
    if not isinstance(order, Mapping):
        raise EventValidationError({"(body)": "must be a Shopify order object"})
    order_id = order.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, (int, str)) or not str(order_id).strip():
        raise EventValidationError({"id": "must be the Shopify order id"})
    email, phone = order.get("email") or order.get("contact_email"), order.get("phone")
    if email:
        contact: dict[str, Any] = {"email": email}
    elif phone:
        contact = {"phone": phone}
    else:
        return None
    payload: dict[str, Any] = {"order_id": str(order.get("name") or order_id)}
    total: Any = order.get("total_price")  # Shopify sends money as strings: "29.00"
    try:
        payload["amount"] = float(total)
    except (TypeError, ValueError):
        raise EventValidationError({"total_price": "must be the order's total, e.g. \"29.00\""}) from None
    if isinstance(order.get("currency"), str):
        payload["currency"] = order["currency"]
    ref = checkout_ref(order)
    if ref:
        payload["checkout_ref"] = ref
    body = {"idempotency_key": f"shopify:order:{order_id}:paid", "type": "order_paid", "contact": contact, "payload": payload}
    return parse_event(body, now, limits)
