"""Order support (track, cancel, refund) through a commerce backend: the demo shop or Shopify."""
from journey_state.commerce.base import (
    ORDER_STATUSES,
    REFUND_STATUSES,
    ActionNotAllowed,
    BackendMisconfigured,
    BackendUnavailable,
    CommerceBackend,
    CommerceError,
    InvalidOrderNumber,
    LineItem,
    Order,
    OrderNotFound,
    Refund,
    normalise_order_number,
)

__all__ = [
    "ORDER_STATUSES",
    "REFUND_STATUSES",
    "ActionNotAllowed",
    "BackendMisconfigured",
    "BackendUnavailable",
    "CommerceBackend",
    "CommerceError",
    "InvalidOrderNumber",
    "LineItem",
    "Order",
    "OrderNotFound",
    "Refund",
    "normalise_order_number",
]
