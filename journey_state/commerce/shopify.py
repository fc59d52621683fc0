"""Shopify Admin REST API: the HTTP client (ShopifyAdminClient) and the CommerceBackend over it (ShopifyBackend)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests

from journey_state.commerce.base import (
    CANCELLABLE,
    DEFAULT_PREFIX,
    ActionNotAllowed,
    BackendMisconfigured,
    BackendUnavailable,
    CommerceError,
    LineItem,
    Order,
    OrderNotFound,
    Refund,
    normalise_order_number,
    order_digits,
)
from journey_state.retrying import call_with_retries

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2024-10"
DEFAULT_TIMEOUT = (3.05, 10)  # (connect, read) seconds
MAX_RETRY_AFTER = 30.0  # a longer Retry-After is not waited for
REFUND_WINDOW = timedelta(days=30)
_MAX_ERROR_TEXT = 300


class ShopifyAdminClient:
    """One shop's Admin REST API. GETs are retried with backoff (connection errors, timeouts, 429, 5xx); POSTs never."""

    def __init__(
        self,
        shop_domain: str,
        access_token: str,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = 2,
        session: requests.Session | None = None,
        *,
        backoff: float = 0.5,
        max_retry_after: float = MAX_RETRY_AFTER,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not shop_domain:
            raise BackendMisconfigured("Shopify shop_domain is empty")
        if not access_token:
            raise BackendMisconfigured("Shopify access token is empty")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.shop_domain = shop_domain
        self.api_version = api_version
        self.base_url = (base_url or f"https://{shop_domain}/admin/api/{api_version}").rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._token = access_token
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._backoff = backoff
        self._max_retry_after = max_retry_after
        self._sleep = sleep

    def __repr__(self) -> str:  # never shows the token
        return f"ShopifyAdminClient({self.shop_domain!r}, api_version={self.api_version!r})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> ShopifyAdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints -------------------------------------------------------------

    def find_order(self, name: str) -> dict[str, Any] | None:
        """The order whose name is exactly `name` (e.g. '#1001'), any status; None if there is none."""
        data = self._request("GET", "/orders.json", params={"name": name, "status": "any"})
        orders = _field(data, "orders", list, "/orders.json")
        return next((o for o in orders if isinstance(o, dict) and o.get("name") == name), None)

    def get_order(self, order_id: int) -> dict[str, Any]:
        path = f"/orders/{int(order_id)}.json"
        return _field(self._request("GET", path, missing=str(order_id)), "order", dict, path)

    def list_refunds(self, order_id: int) -> list[dict[str, Any]]:
        path = f"/orders/{int(order_id)}/refunds.json"
        return _field(self._request("GET", path, missing=str(order_id)), "refunds", list, path)

    def cancel_order(self, order_id: int, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """POST cancel.json; returns the cancelled order when Shopify includes it."""
        data = self._request("POST", f"/orders/{int(order_id)}/cancel.json", json=dict(body), missing=str(order_id))
        order = data.get("order") if isinstance(data, dict) else None
        return order if isinstance(order, dict) else None

    def calculate_refund(self, order_id: int, refund: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/orders/{int(order_id)}/refunds/calculate.json"
        return _field(self._request("POST", path, json={"refund": dict(refund)}, missing=str(order_id)), "refund", dict, path)

    def create_refund(self, order_id: int, refund: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/orders/{int(order_id)}/refunds.json"
        return _field(self._request("POST", path, json={"refund": dict(refund)}, missing=str(order_id)), "refund", dict, path)

    # -- transport -------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, json: Any = None, missing: str | None = None
    ) -> Any:
        """Send one request (GETs retried); `missing` names the resource a 404 means is not there."""
        attempts = 1 + (self.retries if method == "GET" else 0)
        headers = {"X-Shopify-Access-Token": self._token, "Accept": "application/json"}

        def once() -> Any:
            try:
                response = self._session.request(
                    method, self.base_url + path, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except requests.Timeout:
                raise _Transient("timed out") from None
            except requests.ConnectionError:
                raise _Transient("connection failed") from None
            except requests.RequestException as exc:
                raise self._unavailable(method, path, f"request failed ({type(exc).__name__})") from None
            status = response.status_code
            if status < 300:
                return self._json(response, method, path)
            if status != 429 and status < 500:
                raise self._client_error(response, method, path, missing)
            raise _Transient(f"HTTP {status}", _retry_after(response.headers.get("Retry-After")))

        def delay(exc: Exception, failures: int) -> float | None:
            if not isinstance(exc, _Transient):
                return None
            exc.attempts = failures
            if failures == attempts:
                return None
            wait = exc.wait if exc.wait is not None else self._backoff * 2 ** (failures - 1)
            if wait > self._max_retry_after:
                exc.problem += f" (asked to retry after {wait:.0f}s)"
                return None
            log.warning("Shopify %s %s: %s; retry %d of %d in %.2fs", method, path, exc.problem, failures, self.retries, wait)
            return wait

        try:
            return call_with_retries(once, delay, self._sleep)
        except _Transient as failed:
            problem = failed.problem
            if method != "GET":
                problem += "; the change may or may not have been applied"
            made = failed.attempts
            raise self._unavailable(method, path, f"{problem} after {made} attempt{'s' if made > 1 else ''}") from None

    def _unavailable(self, method: str, path: str, problem: str) -> BackendUnavailable:
        message = self._scrub(f"Shopify {method} {path}: {problem}")
        log.error("%s", message)
        return BackendUnavailable(message)

    def _client_error(self, response: requests.Response, method: str, path: str, missing: str | None) -> CommerceError:
        status = response.status_code
        text = self._scrub(_error_text(response))
        where = f"Shopify {method} {path}"
        if status == 404 and missing is not None:
            return OrderNotFound(missing)
        if status == 422:
            return ActionNotAllowed(missing or "", text)
        if status in (401, 403):
            need = "check the Admin API access token" if status == 401 else "the app needs the read_orders and write_orders scopes"
            message = f"{where}: HTTP {status} {text}; {need}"
        elif status == 404:
            message = f"{where}: HTTP 404; check shop_domain {self.shop_domain!r} and api_version {self.api_version!r}"
        elif status in (402, 423):  # shop frozen (unpaid) or locked
            return self._unavailable(method, path, f"HTTP {status} {text}")
        else:
            message = f"{where}: unexpected HTTP {status} {text}"
        log.error("%s", message)
        return BackendMisconfigured(message)

    def _json(self, response: requests.Response, method: str, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._unavailable(method, path, f"HTTP {response.status_code} with a body that is not JSON") from None

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[token]") if self._token else text


class _Transient(Exception):
    """A failure worth another try (timeout, refused connection, 429, 5xx); `wait` from Retry-After."""

    def __init__(self, problem: str, wait: float | None = None):
        super().__init__(problem)
        self.problem, self.wait, self.attempts = problem, wait, 1


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (Shopify sends e.g. '2.0'; HTTP dates are allowed too)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def _error_text(response: requests.Response) -> str:
    """Shopify's error message: {"errors": "..."}, {"errors": {"base": [...], "field": [...]}} or {"error": "..."}."""
    try:
        data = response.json()
    except ValueError:
        return (response.reason or "").strip()[:_MAX_ERROR_TEXT]
    errors = data.get("errors", data.get("error")) if isinstance(data, dict) else data
    if isinstance(errors, dict):
        parts = []
        for key, messages in errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                parts.append(str(message) if key == "base" else f"{key} {message}")
        text = "; ".join(parts)
    elif isinstance(errors, list):
        text = "; ".join(str(e) for e in errors)
    else:
        text = str(errors) if errors is not None else (response.reason or "")
    return text.strip()[:_MAX_ERROR_TEXT]


_T = TypeVar("_T")


def _field(data: Any, key: str, kind: type[_T], path: str) -> _T:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind):
        message = f"Shopify {path}: response has no {key!r} {kind.__name__}"
        log.error("%s", message)
        raise BackendUnavailable(message)
    return value


# -- mapping Shopify's order JSON to Order ------------------------------------------

_IN_TRANSIT = frozenset({"confirmed", "in_transit", "out_for_delivery", "attempted_delivery", "ready_for_pickup"})
_PAID = frozenset({"paid", "partially_paid", "partially_refunded"})


def order_status(order: Mapping[str, Any]) -> str:
    """Order.status from Shopify's cancelled_at, financial_status, fulfillment_status and fulfillments' shipment_status."""
    financial = order.get("financial_status")
    fulfillment = order.get("fulfillment_status")
    if order.get("cancelled_at") or financial == "voided":
        return "cancelled"
    if financial == "refunded":
        return "refunded"
    if fulfillment in ("fulfilled", "partial"):
        shipments = {f.get("shipment_status") for f in _fulfillments(order)}
        if fulfillment == "fulfilled" and shipments == {"delivered"}:
            return "delivered"
        if shipments & (_IN_TRANSIT | {"delivered"}):
            return "in_transit"
        return "fulfilled"
    return "paid" if financial in _PAID else "placed"


def _fulfillments(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Fulfillments that were not cancelled or failed, oldest first."""
    items = order.get("fulfillments") or []
    return [f for f in items if isinstance(f, Mapping) and f.get("status") not in ("cancelled", "error", "failure")]


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def order_from_shopify(order: Mapping[str, Any], number: str) -> Order:
    """An Order from Shopify's order JSON; `number` is the canonical order number."""
    try:
        tracked = [f for f in _fulfillments(order) if f.get("tracking_number") or f.get("tracking_url") or f.get("tracking_urls")]
        latest = tracked[-1] if tracked else {}
        urls = latest.get("tracking_urls") or []
        placed_at = _when(order["created_at"])
        if placed_at is None:
            raise ValueError("created_at is empty")
        return Order(
            number=number,
            status=order_status(order),
            items=tuple(
                LineItem(str(li["title"]), int(li["quantity"]), Decimal(str(li["price"])))
                for li in order.get("line_items") or []
            ),
            total=Decimal(str(order["total_price"])),
            currency=str(order["currency"]),
            placed_at=placed_at,
            tracking_url=latest.get("tracking_url") or (urls[0] if urls else None),
            carrier=latest.get("tracking_company"),
            customer_email=order.get("email") or order.get("contact_email"),
            tracking_number=latest.get("tracking_number"),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        message = f"Shopify order {order.get('name')!r} has an unexpected shape ({type(exc).__name__}: {exc})"
        log.error("%s", message)
        raise BackendUnavailable(message) from None


def refund_from_shopify(refund: Mapping[str, Any], number: str, currency: str) -> Refund:
    """A Refund from Shopify's refund JSON: its refund transactions decide status and amount."""
    transactions = [t for t in refund.get("transactions") or [] if isinstance(t, Mapping) and t.get("kind") == "refund"]
    statuses = {t.get("status") for t in transactions}
    if "success" in statuses:
        status = "completed"
    elif statuses and statuses <= {"failure", "error"}:
        status = "rejected"
    else:
        status = "pending"
    counted = [t for t in transactions if t.get("status") not in ("failure", "error")] or transactions
    try:
        amount = sum((Decimal(str(t.get("amount") or "0")) for t in counted), Decimal("0.00"))
    except InvalidOperation:
        raise BackendUnavailable(f"Shopify refund for {number} has an unexpected amount") from None
    currency = next((t["currency"] for t in counted if t.get("currency")), currency)
    return Refund(order_number=number, status=status, amount=amount, currency=currency)


# -- the backend -------------------------------------------------------------------------


class ShopifyBackend:
    """CommerceBackend over a Shopify shop, with the shop's rules: cancel before fulfilment, refund within 30 days."""

    def __init__(self, client: ShopifyAdminClient, *, prefix: str = DEFAULT_PREFIX, name_format: str = "#{digits}",
                 refund_window: timedelta = REFUND_WINDOW, clock: Callable[[], datetime] | None = None):
        self.client = client
        self._prefix = prefix
        self._name_format = name_format
        self._window = refund_window
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    def __repr__(self) -> str:
        return f"ShopifyBackend({self.client!r})"

    def get_order(self, order_number: str) -> Order:
        number, raw = self._find(order_number)
        return order_from_shopify(raw, number)

    def cancel_order(self, order_number: str, reason: str) -> Order:
        number, raw = self._find(order_number)
        order = order_from_shopify(raw, number)
        if order.status == "cancelled":
            return order
        if order.status not in CANCELLABLE:
            raise ActionNotAllowed(number, _why_not_cancellable(order, self._window))
        body: dict[str, Any] = {"reason": "customer", "email": True}
        if raw.get("financial_status") in _PAID:  # refund the payment as part of the cancellation
            body.update(amount=str(raw["total_price"]), currency=str(raw["currency"]))
        try:
            cancelled = self.client.cancel_order(raw["id"], body)
        except (ActionNotAllowed, OrderNotFound) as exc:
            raise _renumbered(exc, number) from None
        log.info("Shopify: cancelled %s (customer's reason: %d characters)", number, len(reason or ""))
        return order_from_shopify(cancelled or self.client.get_order(raw["id"]), number)

    def request_refund(self, order_number: str, reason: str) -> Refund:
        number, raw = self._find(order_number)
        currency = str(raw.get("currency") or "")
        try:
            existing = self.client.list_refunds(raw["id"])
            if existing:
                return refund_from_shopify(existing[-1], number, currency)
            self._check_refundable(number, raw)
            lines = [
                {"line_item_id": li["id"], "quantity": li["quantity"], "restock_type": "no_restock"}
                for li in raw.get("line_items") or []
            ]
            calculated = self.client.calculate_refund(raw["id"], {"shipping": {"full_refund": True}, "refund_line_items": lines})
            transactions = [
                {"parent_id": t["parent_id"], "amount": t["amount"], "kind": "refund", "gateway": t["gateway"]}
                for t in calculated.get("transactions") or []
                if Decimal(str(t.get("amount") or "0")) > 0
            ]
            if not transactions:
                raise ActionNotAllowed(number, f"Order {number} has nothing left to refund.")
            created = self.client.create_refund(raw["id"], {
                "currency": calculated.get("currency") or currency,
                "notify": True,
                "note": (reason or "")[:255],
                "shipping": {"full_refund": True},
                "refund_line_items": [
                    {"line_item_id": li["line_item_id"], "quantity": li["quantity"], "restock_type": li.get("restock_type", "no_restock")}
                    for li in calculated.get("refund_line_items") or lines
                ],
                "transactions": transactions,
            })
        except (ActionNotAllowed, OrderNotFound) as exc:
            raise _renumbered(exc, number) from None
        except (KeyError, TypeError, InvalidOperation) as exc:
            message = f"Shopify refund calculation for {number} has an unexpected shape ({type(exc).__name__})"
            log.error("%s", message)
            raise BackendUnavailable(message) from None
        log.info("Shopify: refund requested for %s", number)
        return refund_from_shopify(created, number, currency)

    def _find(self, order_number: str) -> tuple[str, dict[str, Any]]:
        number = normalise_order_number(order_number, self._prefix)
        raw = self.client.find_order(self._name_format.format(digits=order_digits(number, self._prefix)))
        if raw is None:
            raise OrderNotFound(number)
        if not isinstance(raw.get("id"), int):
            raise BackendUnavailable(f"Shopify order {number} has no numeric id")
        return number, raw

    def _check_refundable(self, number: str, raw: Mapping[str, Any]) -> None:
        status = order_status(raw)
        days = self._window.days
        if status in CANCELLABLE:
            raise ActionNotAllowed(number, f"Order {number} hasn't shipped yet; cancel it instead and any payment is refunded in full.")
        if status == "cancelled":
            raise ActionNotAllowed(number, f"Order {number} was cancelled, so there is nothing to refund.")
        if status == "in_transit":
            raise ActionNotAllowed(number, f"Order {number} is still on its way; you can ask for a refund once it has been delivered.")
        # Shopify has no delivery date; the last fulfillment update (e.g. to 'delivered') stands in for it.
        shipped = [_when(f.get("updated_at") or f.get("created_at")) for f in _fulfillments(raw)]
        since = max((s for s in shipped if s), default=None)
        if since is not None and self._clock() - since > self._window:
            raise ActionNotAllowed(
                number,
                f"Order {number} arrived more than {days} days ago ({since.day} {since:%B %Y}), so it is outside the refund window.",
            )


def _why_not_cancellable(order: Order, window: timedelta) -> str:
    if order.status == "refunded":
        return f"Order {order.number} has already been refunded."
    if order.status == "delivered":
        return (f"Order {order.number} has been delivered, so it can't be cancelled any more; "
                f"you can ask for a refund within {window.days} days of delivery instead.")
    return (f"Order {order.number} has already shipped, so it can't be cancelled any more. "
            f"Once it arrives you can ask for a refund within {window.days} days.")


def _renumbered(exc: CommerceError, number: str) -> CommerceError:
    """The client's error, naming the order by its number instead of Shopify's id."""
    if isinstance(exc, OrderNotFound):
        return OrderNotFound(number)
    assert isinstance(exc, ActionNotAllowed)
    return ActionNotAllowed(number, exc.reason)
