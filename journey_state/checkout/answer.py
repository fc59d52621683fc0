"""What the chat answers to a purchase request or to "where's the link?": a link, a choice of plans, or a person.

The reply texts are in replies.yml; this module only decides which one and fills in the
link. A product the chat cannot sell (no checkout link configured) or a sale at or above
`checkout.person_from_amount` goes to a person, who can close it; everything else gets a
link at once, so a customer who said "I'd like to order Premium" is never asked to wait.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from journey_state.catalog import Catalog
from journey_state.checkout.links import CheckoutLink, CheckoutLinks
from journey_state.identifiers import ChannelRef

PLACE_ORDER = "place_order"
ASK_LINK = "ask_checkout_link"
CHECKOUT_INTENTS = frozenset({PLACE_ORDER, ASK_LINK})
REDIRECT_PATH = "/c/"

# Answer ids in replies.yml.
CHOOSE_PLAN = "place_order"  # no product named: the plans as buttons
LINK = "checkout_link"
LINK_AGAIN = "checkout_link_again"
NO_LINK_YET = "checkout_link_missing"
PERSON = "checkout_person"
CHECKOUT_ANSWERS = (LINK, LINK_AGAIN, NO_LINK_YET, PERSON)


@dataclass(frozen=True)
class CheckoutAnswer:
    answer_id: str
    values: dict[str, Any] = field(default_factory=dict)
    hand_off: bool = False  # a person should close this sale
    link: CheckoutLink | None = None


def _when(at: datetime) -> str:
    return f"{at.day} {at:%B %Y, %H:%M} UTC"


class CheckoutFlow:
    """Decides the checkout step for a turn; `redirect_base` is the console as customers reach it."""

    def __init__(self, links: CheckoutLinks, catalog: Catalog | None, redirect_base: str) -> None:
        self.links = links
        self.catalog = catalog
        self.redirect_base = redirect_base.rstrip("/")

    def url(self, link: CheckoutLink) -> str:
        """The tracking link the customer gets (the console redirects it to the shop)."""
        return f"{self.redirect_base}{REDIRECT_PATH}{link.token}"

    def answer(self, who: ChannelRef, intent: str | None, products: Sequence[str], at: datetime) -> CheckoutAnswer | None:
        """The checkout answer for a turn, or None when the intent is not about buying."""
        if intent not in CHECKOUT_INTENTS:
            return None
        product = next((p for p in products if self._known(p)), None)
        if intent == ASK_LINK and product is None:
            current = self.links.resend(who, at)
            if current is not None and current.product in self.links.settings.links:
                return self._link_answer(LINK_AGAIN, current)
            return CheckoutAnswer(NO_LINK_YET)
        if product is None:
            return CheckoutAnswer(CHOOSE_PLAN)
        if self._needs_person(product):
            return CheckoutAnswer(PERSON, self._product_values(product), hand_off=True)
        link = self.links.issue(who, who.channel, product, at)
        return self._link_answer(LINK if link.sent_count == 1 else LINK_AGAIN, link)

    def _known(self, product: str) -> bool:
        return self.catalog.has_product(product) if self.catalog is not None else product in self.links.settings.links

    def _needs_person(self, product: str) -> bool:
        if product not in self.links.settings.links:
            return True
        limit = self.links.settings.person_from_amount
        return limit is not None and self.catalog is not None and self.catalog.product(product).price >= limit

    def _product_values(self, product: str) -> dict[str, Any]:
        if self.catalog is None:
            return {"product": product, "price": ""}
        item = self.catalog.product(product)
        return {"product": item.name, "price": item.price_text}

    def _link_answer(self, answer_id: str, link: CheckoutLink) -> CheckoutAnswer:
        hours = self.links.settings.expire_after.total_seconds() / 3600
        values = {
            **self._product_values(link.product),
            "checkout_url": self.url(link),
            "valid_hours": f"{hours:g}",
            "expires": _when(link.expires_at),
        }
        return CheckoutAnswer(answer_id, values, link=link)
