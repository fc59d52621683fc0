"""Order support (track, cancel, refund) through a commerce backend: the demo shop or Shopify."""
# The store's tables load first: journey_state/store/tables.py may import commerce.tables at its end
# so that OWN_TABLES (and Alembic) include the demo-shop tables.
import journey_state.store.tables  # noqa: F401  isort: skip

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
