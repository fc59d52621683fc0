"""Order support (track, cancel, refund) through the configured commerce backend.

Tracking needs only the order number, like a shop's tracking page. Cancelling or
refunding also needs the email address the order was placed with, so a stranger who
knows an order number cannot act on it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from journey_state.commerce import (
    ActionNotAllowed,
    BackendMisconfigured,
    BackendUnavailable,
    CommerceBackend,
    CommerceError,
    InvalidOrderNumber,
    Order,
    OrderNotFound,
    normalise_order_number,
)
from journey_state.commerce.base import FindsOrdersByEmail
from journey_state.replies import Reply, ReplyBook

logger = logging.getLogger(__name__)

REQUESTS = ("track_order", "cancel_order", "change_order", "get_refund", "track_refund")
NEEDS_OWNER = frozenset({"cancel_order", "get_refund"})


@dataclass(frozen=True)
class OrderAnswer:
    answer_id: str
    reply: Reply
    order: Order | None = None


def needs_owner_email(request: str | None) -> bool:
    return request in NEEDS_OWNER


def _values(order: Order) -> dict[str, str]:
    items = ", ".join(f"{i.quantity} × {i.title}" for i in order.items) or "your items"
    return {
        "order_number": order.number,
        "order_items": items,
        "order_total": f"{order.total} {order.currency}",
        "carrier": order.carrier or "our carrier",
        "tracking_url": order.tracking_url or "the tracking link in your shipping email",
        "eta": order.estimated_delivery.strftime("%A %d %B") if order.estimated_delivery else "in the next few days",
    }


class OrderSupport:
    """Answers an order request for a stage and channel; never raises for backend problems."""

    def __init__(self, backend: CommerceBackend, replies: ReplyBook, order_prefix: str = "AUR"):
        self.backend = backend
        self.replies = replies
        self.order_prefix = order_prefix

    def _answer(self, answer_id: str, stage: str | None, channel: str | None, order: Order | None = None, **values: str) -> OrderAnswer:
        fill = {**(_values(order) if order else {}), **values}
        return OrderAnswer(answer_id, self.replies.choose(answer_id, stage, channel, fill), order)

    def handle(
        self, request: str, raw_number: str, stage: str | None, channel: str | None, owner_email: str | None = None
    ) -> OrderAnswer:
        if request not in REQUESTS:
            raise ValueError(f"unknown order request {request!r}")
        try:
            number = normalise_order_number(raw_number, prefix=self.order_prefix)
        except InvalidOrderNumber:
            return self._answer("order_number_invalid", stage, channel, given=str(raw_number)[:40])
        try:
            return self._handle(request, number, stage, channel, owner_email)
        except OrderNotFound:
            return self._answer("order_not_found", stage, channel, order_number=number)
        except ActionNotAllowed as exc:
            return self._answer(f"{request}_not_allowed", stage, channel, order_number=number, reason=exc.reason)
        except (BackendUnavailable, BackendMisconfigured) as exc:
            logger.error("commerce backend failed for %s %s: %s", request, number, exc)
            return self._answer("shop_unavailable", stage, channel, order_number=number)
        except CommerceError as exc:
            logger.error("commerce error for %s %s: %s", request, number, exc)
            return self._answer("shop_unavailable", stage, channel, order_number=number)

    def orders_for(self, email: str | None, limit: int = 4) -> list[Order]:
        """A verified email's recent orders, for a customer who does not know the number; [] if unknown.

        Never raises: not finding the orders only means the customer is offered a person.
        """
        if not email or not isinstance(self.backend, FindsOrdersByEmail):
            return []
        try:
            return self.backend.orders_for_email(email, limit)
        except CommerceError as exc:
            logger.warning("could not list orders by email: %s", exc)
            return []

    def _handle(self, request: str, number: str, stage: str | None, channel: str | None, owner_email: str | None) -> OrderAnswer:
        order = self.backend.get_order(number)
        if request == "track_order":
            return self._answer(f"order_status_{order.status}", stage, channel, order)
        if request == "change_order":
            return self._answer("change_order", stage, channel, order)
        if request == "track_refund":
            answer = "refund_completed" if order.status == "refunded" else "refund_none"
            return self._answer(answer, stage, channel, order)
        if not owner_email or not order.customer_email or owner_email.strip().lower() != order.customer_email.lower():
            return self._answer("order_email_mismatch", stage, channel, order)
        if request == "cancel_order":
            return self._answer("order_cancelled", stage, channel, self.backend.cancel_order(number, "customer request via chat"))
        refund = self.backend.request_refund(number, "customer request via chat")
        return self._answer("refund_requested", stage, channel, order, refund_amount=f"{refund.amount} {refund.currency}")
