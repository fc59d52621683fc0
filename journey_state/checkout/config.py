"""The `checkout:` section of commerce.yml: where each product is paid for.

Only URLs built from these templates are ever redirected to, so the tracking redirect on
the console cannot be turned into an open redirect: a token names a product, never a URL.
"""
from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import validator

from journey_state.config_files import StrictModel

TOKEN_FIELD = "token"
_PRODUCT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_HOURS = 24 * 90


def template_problem(template: Any) -> str | None:
    """Why `template` is not an absolute http(s) URL with at most a {token} placeholder."""
    if not isinstance(template, str) or not template.strip():
        return f"expected a URL like https://shop.example/checkout?plan=premium&ref={{token}}, got {template!r}"
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return f"bad placeholder: {exc}"
    if any(name != TOKEN_FIELD for name in names) or len(names) > 1:
        return f"the only placeholder allowed is {{token}}, once (write a literal brace as {{{{ or }}}}), got {template!r}"
    parts = urlsplit(template.replace("{token}", "t"))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"expected an absolute http(s) URL, got {template!r}"
    if any(ch.isspace() for ch in template):
        return f"a URL cannot contain white space, got {template!r}"
    return None


class CheckoutFile(StrictModel):
    """commerce.yml `checkout:` as written."""

    links: dict[str, str] = {}
    expire_after_hours: float = 24
    person_from_amount: float | None = None

    @validator("links", pre=True)
    def _links(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping from a catalog product id to its checkout URL template")
        for product, template in value.items():
            if not isinstance(product, str) or not _PRODUCT_ID.match(product):
                raise ValueError(f"{product!r} is not a product id like premium (lower-case letters, digits, _ and -)")
            problem = template_problem(template)
            if problem:
                raise ValueError(f"{product}: {problem}")
        return dict(value)

    @validator("expire_after_hours", pre=True)
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_HOURS:
            raise ValueError(f"must be a number of hours above 0 and at most {MAX_HOURS}, got {value!r}")
        return value

    @validator("person_from_amount", pre=True)
    def _amount(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(f"must be a positive price (a product costing this much or more goes to a person), got {value!r}")
        return value


@dataclass(frozen=True)
class CheckoutSettings:
    """Checkout URL templates by product id, and how long a sent link may stay unpaid."""

    links: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    expire_after: timedelta = timedelta(hours=24)
    # A sale this large (the catalog price) is worth a person rather than a link; None: never.
    person_from_amount: Decimal | None = None

    @classmethod
    def from_file(cls, parsed: CheckoutFile | None) -> CheckoutSettings:
        if parsed is None:
            return cls()
        amount = None if parsed.person_from_amount is None else Decimal(str(parsed.person_from_amount))
        return cls(MappingProxyType(dict(parsed.links)), timedelta(hours=parsed.expire_after_hours), amount)

    @property
    def products(self) -> tuple[str, ...]:
        return tuple(self.links)

    def target(self, product: str, token: str) -> str | None:
        """The configured checkout URL for `product` carrying `token` as the shop's reference; None if unconfigured."""
        template = self.links.get(product)
        if template is None:
            return None
        return template.format(token=quote(token, safe=""))
