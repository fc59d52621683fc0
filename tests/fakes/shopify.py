"""A local fake of Shopify's Admin REST API (orders, refunds, cancel) serving Shopify's JSON shapes.

Runs a ThreadingHTTPServer on 127.0.0.1 (free port) in a thread; records every request;
`queue()` scripts responses (errors, Retry-After, slow replies) ahead of the normal behaviour.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_VERSION = "2024-10"
TOKEN = "shpat_fake0a1b2c3d4e5f60718293a4b5c6d7e8f"
SHOP = "aurora-coffee-club.myshopify.com"
INVALID_TOKEN = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
NOT_FOUND = {"errors": "Not Found"}
T0 = datetime(2026, 4, 2, 10, 15, tzinfo=timezone.utc)


def iso(value: datetime) -> str:
    """Shopify's timestamp format: local time with offset, e.g. 2026-04-02T12:15:00+02:00."""
    return value.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="seconds")


def money(value: Decimal | str, currency: str) -> dict[str, Any]:
    amount = f"{Decimal(value):.2f}"
    return {"shop_money": {"amount": amount, "currency_code": currency}, "presentment_money": {"amount": amount, "currency_code": currency}}


def line_item(item_id: int, title: str, quantity: int, price: str, currency: str = "EUR", fulfilled: bool = False) -> dict[str, Any]:
    return {
        "id": item_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{item_id}",
        "title": title,
        "name": title,
        "variant_title": None,
        "sku": f"AUR-{item_id % 1000:03d}",
        "variant_id": item_id + 500,
        "product_id": item_id + 900,
        "quantity": quantity,
        "current_quantity": quantity,
        "fulfillable_quantity": 0 if fulfilled else quantity,
        "fulfillment_status": "fulfilled" if fulfilled else None,
        "requires_shipping": True,
        "taxable": True,
        "gift_card": False,
        "price": price,
        "price_set": money(price, currency),
        "total_discount": "0.00",
        "tax_lines": [],
        "discount_allocations": [],
    }


def fulfillment(fulfillment_id: int, order: dict[str, Any], shipment_status: str | None, *, status: str = "success",
                tracking_company: str | None = "DHL Express", tracking_number: str | None = "JJD000390007982341",
                created_at: datetime = T0 + timedelta(days=1), updated_at: datetime | None = None) -> dict[str, Any]:
    url = f"https://www.dhl.com/en/express/tracking.html?AWB={tracking_number}" if tracking_number else None
    return {
        "id": fulfillment_id,
        "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fulfillment_id}",
        "order_id": order["id"],
        "name": f"{order['name']}.{len(order['fulfillments']) + 1}",
        "status": status,
        "service": "manual",
        "location_id": 24826418,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at or created_at),
        "shipment_status": shipment_status,
        "tracking_company": tracking_company,
        "tracking_number": tracking_number,
        "tracking_numbers": [tracking_number] if tracking_number else [],
        "tracking_url": url,
        "tracking_urls": [url] if url else [],
        "receipt": {},
        "line_items": order["line_items"],
    }


def order(order_id: int, number: int, *, financial_status: str = "paid", fulfillment_status: str | None = None,
          cancelled_at: datetime | None = None, created_at: datetime = T0, email: str = "ann@example.com",
          currency: str = "EUR", items: tuple[tuple[str, int, str], ...] = (("Premium subscription – monthly box", 1, "29.00"),
                                                                           ("Ethiopia Yirgacheffe, 250 g", 2, "9.50"))) -> dict[str, Any]:
    lines = [line_item(order_id * 10 + i, t, q, p, currency, fulfilled=fulfillment_status == "fulfilled") for i, (t, q, p) in enumerate(items, 1)]
    subtotal = sum((Decimal(p) * q for _, q, p in items), Decimal("0"))
    shipping = Decimal("4.90")
    total = subtotal + shipping
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "number": number - 1000,
        "email": email,
        "contact_email": email,
        "phone": None,
        "created_at": iso(created_at),
        "updated_at": iso(created_at),
        "processed_at": iso(created_at),
        "closed_at": None,
        "cancelled_at": iso(cancelled_at) if cancelled_at else None,
        "cancel_reason": "customer" if cancelled_at else None,
        "confirmed": True,
        "test": False,
        "currency": currency,
        "presentment_currency": currency,
        "subtotal_price": f"{subtotal:.2f}",
        "total_price": f"{total:.2f}",
        "total_tax": "0.00",
        "total_discounts": "0.00",
        "total_price_set": money(total, currency),
        "financial_status": financial_status,
        "fulfillment_status": fulfillment_status,
        "gateway": "shopify_payments",
        "payment_gateway_names": ["shopify_payments"],
        "tags": "",
        "note": None,
        "line_items": lines,
        "shipping_lines": [{"id": order_id * 10, "title": "DHL Paket", "code": "DHL Paket", "price": f"{shipping:.2f}",
                            "price_set": money(shipping, currency), "source": "shopify"}],
        "fulfillments": [],
        "refunds": [],
        "customer": {"id": 207119551, "email": email, "first_name": "Ann", "last_name": "Example", "currency": currency},
    }


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    method: str | None = None
    path: str | None = None  # matched against the end of the request path


class FakeShopify:
    """In-memory shop: `orders` by id and their `refunds`; every request lands in `requests`."""

    def __init__(self, token: str = TOKEN, api_version: str = API_VERSION):
        self.token = token
        self.api_version = api_version
        self.orders: dict[int, dict[str, Any]] = {}
        self.refunds: dict[int, list[dict[str, Any]]] = {}
        self.requests: list[Recorded] = []
        self.refund_transaction_status = "success"
        self._script: list[Scripted] = []
        self._lock = threading.Lock()
        self._ids = iter(range(900_000, 10**9))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakeShopify:
        fake = self

        class Handler(_Handler):
            shop = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-shopify", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/admin/api/{self.api_version}"

    # -- set-up ------------------------------------------------------------------

    def add_order(self, order_id: int, number: int, *, shipments: tuple[str | None, ...] = (), **kwargs) -> dict[str, Any]:
        """An order; each entry of `shipments` adds a fulfillment with that shipment_status."""
        data = order(order_id, number, **kwargs)
        for i, shipment_status in enumerate(shipments, 1):
            data["fulfillments"].append(fulfillment(order_id * 100 + i, data, shipment_status))
        with self._lock:
            self.orders[order_id] = data
            self.refunds.setdefault(order_id, [])
        return data

    def queue(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None, delay: float = 0.0,
              method: str | None = None, path: str | None = None, times: int = 1) -> None:
        """Answer the next `times` matching requests with this response instead of the normal one."""
        with self._lock:
            self._script.extend(Scripted(status, body, dict(headers or {}), delay, method, path) for _ in range(times))

    def made(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method) and (path is None or r.path.endswith(path))]

    # -- request handling (called from server threads) ------------------------------

    def _take_script(self, method: str, path: str) -> Scripted | None:
        with self._lock:
            for i, s in enumerate(self._script):
                if (s.method is None or s.method == method) and (s.path is None or path.endswith(s.path)):
                    return self._script.pop(i)
        return None

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str], float]:
        with self._lock:
            self.requests.append(Recorded(method, path, query, headers, body))
        scripted = self._take_script(method, path)
        if scripted is not None:
            return scripted.status, scripted.body, scripted.headers, scripted.delay
        if headers.get("x-shopify-access-token") != self.token:
            return 401, INVALID_TOKEN, {}, 0.0
        prefix = f"/admin/api/{self.api_version}"
        if not path.startswith(prefix):
            return 404, NOT_FOUND, {}, 0.0
        with self._lock:
            status, payload = self._route(method, path[len(prefix):], query, body)
        return status, payload, {}, 0.0

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/orders.json":
            name = (query.get("name") or [None])[0]
            wanted = query.get("status", ["open"])[0]
            found = [o for o in self.orders.values() if (name is None or o["name"] == name)
                     and (wanted == "any" or (wanted == "open" and not o["cancelled_at"] and not o["closed_at"]))]
            return 200, {"orders": found}
        match = re.fullmatch(r"/orders/(\d+)(\.json|/refunds\.json|/cancel\.json|/refunds/calculate\.json)", path)
        if match is None or int(match.group(1)) not in self.orders:
            return 404, NOT_FOUND
        data, action = self.orders[int(match.group(1))], (method, match.group(2))
        if action == ("GET", ".json"):
            return 200, {"order": data}
        if action == ("GET", "/refunds.json"):
            return 200, {"refunds": self.refunds[data["id"]]}
        if action == ("POST", "/cancel.json"):
            return self._cancel(data, body or {})
        if action == ("POST", "/refunds/calculate.json"):
            return self._calculate(data, (body or {}).get("refund") or {})
        if action == ("POST", "/refunds.json"):
            return self._create_refund(data, (body or {}).get("refund") or {})
        return 404, NOT_FOUND

    def _cancel(self, data: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        if data["cancelled_at"]:
            return 422, {"errors": {"base": ["Order has already been cancelled"]}}
        if data["fulfillment_status"] in ("fulfilled", "partial"):
            return 422, {"errors": {"base": ["Cannot cancel an order that has been fulfilled or partially fulfilled"]}}
        now = iso(datetime.now(timezone.utc))
        data.update(cancelled_at=now, cancel_reason=body.get("reason", "other"), closed_at=now, updated_at=now)
        if data["financial_status"] in ("authorized", "pending"):
            data["financial_status"] = "voided"
        elif body.get("amount"):
            self._add_refund(data, [{"amount": body["amount"], "gateway": "shopify_payments"}], "order cancelled", [])
        return 200, {"order": data}

    def _sale_id(self, data: dict[str, Any]) -> int:
        return data["id"] * 10 + 1

    def _refunded(self, data: dict[str, Any]) -> Decimal:
        return sum((Decimal(t["amount"]) for r in self.refunds[data["id"]] for t in r["transactions"] if t["status"] != "failure"), Decimal("0"))

    def _calculate(self, data: dict[str, Any], refund: dict[str, Any]) -> tuple[int, Any]:
        currency = data["currency"]
        by_id = {li["id"]: li for li in data["line_items"]}
        lines, amount = [], Decimal("0")
        for requested in refund.get("refund_line_items") or []:
            li = by_id.get(requested.get("line_item_id"))
            if li is None:
                return 422, {"errors": {"refund_line_items": ["is invalid"]}}
            subtotal = Decimal(li["price"]) * int(requested["quantity"])
            amount += subtotal
            lines.append({"quantity": int(requested["quantity"]), "line_item_id": li["id"], "location_id": None,
                          "restock_type": requested.get("restock_type", "no_restock"), "price": li["price"],
                          "subtotal": f"{subtotal:.2f}", "total_tax": "0.00", "discounted_price": li["price"],
                          "discounted_total_price": f"{subtotal:.2f}", "total_cart_discount_amount": "0.00"})
        shipping = Decimal(data["shipping_lines"][0]["price"]) if (refund.get("shipping") or {}).get("full_refund") else Decimal("0")
        maximum = Decimal(data["total_price"]) - self._refunded(data)
        if data["financial_status"] in ("pending", "authorized", "voided"):
            maximum = Decimal("0")
        amount = min(amount + shipping, maximum)
        transactions = [] if amount <= 0 else [{
            "order_id": data["id"], "kind": "suggested_refund", "gateway": "shopify_payments", "parent_id": self._sale_id(data),
            "amount": f"{amount:.2f}", "currency": currency, "maximum_refundable": f"{maximum:.2f}",
        }]
        return 200, {"refund": {
            "duties": [], "total_duties_set": money("0", currency), "additional_fees": [],
            "total_additional_fees_set": money("0", currency), "return": None,
            "shipping": {"amount": f"{shipping:.2f}", "tax": "0.00", "maximum_refundable": data["shipping_lines"][0]["price"]},
            "refund_line_items": lines, "transactions": transactions, "currency": currency,
        }}

    def _create_refund(self, data: dict[str, Any], refund: dict[str, Any]) -> tuple[int, Any]:
        transactions = refund.get("transactions") or []
        if any(t.get("kind") != "refund" for t in transactions):
            return 422, {"errors": {"transactions": ["kind must be refund"]}}
        total = sum((Decimal(str(t["amount"])) for t in transactions), Decimal("0"))
        if total > Decimal(data["total_price"]) - self._refunded(data):
            return 422, {"errors": {"base": ["Refund amount exceeds the amount available for refund"]}}
        created = self._add_refund(data, transactions, refund.get("note"), refund.get("refund_line_items") or [])
        return 201, {"refund": created}

    def _add_refund(self, data: dict[str, Any], transactions: list[dict[str, Any]], note: str | None,
                    lines: list[dict[str, Any]]) -> dict[str, Any]:
        now = iso(datetime.now(timezone.utc))
        refund_id = next(self._ids)
        by_id = {li["id"]: li for li in data["line_items"]}
        created = {
            "id": refund_id,
            "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
            "order_id": data["id"],
            "created_at": now,
            "processed_at": now,
            "note": note,
            "user_id": None,
            "restock": False,
            "duties": [],
            "order_adjustments": [],
            "refund_shipping_lines": [],
            "refund_line_items": [
                {"id": next(self._ids), "line_item_id": li["line_item_id"], "quantity": li["quantity"], "location_id": None,
                 "restock_type": li.get("restock_type", "no_restock"), "subtotal": float(Decimal(by_id[li["line_item_id"]]["price"]) * li["quantity"]),
                 "total_tax": 0.0, "line_item": by_id[li["line_item_id"]]}
                for li in lines
            ],
            "transactions": [
                {"id": next(self._ids), "admin_graphql_api_id": "gid://shopify/OrderTransaction/0", "order_id": data["id"],
                 "kind": "refund", "gateway": t.get("gateway", "shopify_payments"), "status": self.refund_transaction_status,
                 "message": "Refund processed", "created_at": now, "test": False, "authorization": None,
                 "currency": data["currency"], "parent_id": t.get("parent_id", self._sale_id(data)), "amount": f"{Decimal(str(t['amount'])):.2f}",
                 "location_id": None, "user_id": None, "device_id": None, "receipt": {}, "error_code": None, "source_name": "external"}
                for t in transactions
            ],
        }
        self.refunds[data["id"]].append(created)
        data["refunds"].append(created)
        refunded = self._refunded(data)
        data["financial_status"] = "refunded" if refunded >= Decimal(data["total_price"]) else "partially_refunded"
        return created


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that timed out and hung up is expected
        pass


class _Handler(BaseHTTPRequestHandler):
    shop: FakeShopify

    def log_message(self, format, *args):  # quiet test output
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, extra, delay = self.shop.handle(method, url.path, parse_qs(url.query), headers, body)
        if delay:
            time.sleep(delay)
        data = b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
