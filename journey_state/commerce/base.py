"""The commerce-backend interface: orders, refunds, typed errors, order numbers."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

ORDER_STATUSES = ("placed", "paid", "fulfilled", "in_transit", "delivered", "cancelled", "refunded")
REFUND_STATUSES = ("pending", "approved", "rejected", "completed")
CANCELLABLE = frozenset({"placed", "paid"})
DEFAULT_PREFIX = "AUR"

_ORDER_NUMBER = re.compile(r"^(?:#\s*)?(?:(?P<prefix>[A-Za-z]{2,5})\s*[-\s#]?\s*)?(?P<digits>\d{3,12})$")


class CommerceError(Exception):
    """Base class for commerce-backend errors."""


class InvalidOrderNumber(CommerceError, ValueError):
    """Text that is not an order number, e.g. 'tomorrow'."""


class OrderNotFound(CommerceError):
    """No order has this number."""

    def __init__(self, order_number: str):
        super().__init__(f"no order {order_number}")
        self.order_number = order_number


class ActionNotAllowed(CommerceError):
    """The order's state forbids the action; `reason` is a sentence a customer can read."""

    def __init__(self, order_number: str, reason: str):
        super().__init__(f"{order_number}: {reason}")
        self.order_number = order_number
        self.reason = reason


class BackendUnavailable(CommerceError):
    """The backend cannot be reached or failed (timeout, connection error, 5xx, rate limit)."""


class BackendMisconfigured(CommerceError):
    """The backend rejects our credentials or configuration (401/403, wrong shop or API version)."""


@dataclass(frozen=True)
class LineItem:
    title: str
    quantity: int
    price: Decimal  # unit price


@dataclass(frozen=True)
class Order:
    """An order as the customer sees it; `number` is the canonical form, e.g. 'AUR-10042'."""

    number: str
    status: str
    items: tuple[LineItem, ...]
    total: Decimal
    currency: str
    placed_at: datetime
    tracking_url: str | None = None
    carrier: str | None = None
    estimated_delivery: date | None = None
    customer_email: str | None = None
    tracking_number: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ORDER_STATUSES:
            raise ValueError(f"unknown order status {self.status!r} (use {', '.join(ORDER_STATUSES)})")
        if self.placed_at.tzinfo is None:
            raise ValueError("placed_at must be timezone-aware")


@dataclass(frozen=True)
class Refund:
    order_number: str
    status: str
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if self.status not in REFUND_STATUSES:
            raise ValueError(f"unknown refund status {self.status!r} (use {', '.join(REFUND_STATUSES)})")


@runtime_checkable
class CommerceBackend(Protocol):
    """Order support operations. Every failure is raised as a CommerceError subclass."""

    def get_order(self, order_number: str) -> Order: ...

    def cancel_order(self, order_number: str, reason: str) -> Order: ...

    def request_refund(self, order_number: str, reason: str) -> Refund: ...


def _parse(text: str, prefix: str) -> str:
    raw = text.strip().rstrip(".,!?;:").strip() if isinstance(text, str) else ""
    match = _ORDER_NUMBER.match(raw)
    typed = match.group("prefix") if match else None
    if match is None or (typed is not None and typed.upper() != prefix.upper()):
        raise InvalidOrderNumber(f"{text!r} is not an order number (expected e.g. {prefix.upper()}-10042)")
    return match.group("digits")


def normalise_order_number(text: str, prefix: str = DEFAULT_PREFIX) -> str:
    """'AUR-10042', 'aur 10042', '#10042' and '10042' all become 'AUR-10042'; raises InvalidOrderNumber.

    Another shop's letter prefix (e.g. 'XYZ-10042') is rejected.
    """
    return f"{prefix.upper()}-{_parse(text, prefix)}"


def order_digits(order_number: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The digits of an order number: 'AUR-10042' -> '10042'."""
    return _parse(order_number, prefix)


@runtime_checkable
class FindsOrdersByEmail(Protocol):
    """A backend that can list a customer's recent orders by email (the demo shop can).

    Separate from CommerceBackend: a backend without it still supports order help; the bot
    then offers a person to a customer who does not know their order number.
    """

    def orders_for_email(self, email: str, limit: int) -> list[Order]: ...

