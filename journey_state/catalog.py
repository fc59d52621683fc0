"""The business catalog: plans, products and delivery areas (data/business/catalog.yml).

Loaded and validated like the other business files: every error names the file
and the key that is wrong, e.g. "catalog.yml: products[2].price: must not be negative".
The NLU entity extractor (bot/nlu/entities.py) builds its product patterns from
`Product.names`; `Catalog.find_by_alias` answers the same question for plain text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from journey_state.config_files import read_yaml
from journey_state.errors import JourneyModelError

CATEGORIES = ("plan", "coffee", "equipment", "gift")
PLAN_PERIODS = ("month", "year")
PRODUCT_KEYS = ("id", "name", "aliases", "category", "price", "currency", "description", "plan_period")
AREA_KEYS = (
    "id", "name", "delivered", "fallback", "countries", "aliases",
    "days_min", "days_max", "cost", "currency", "note",
)
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_EDGE_PUNCTUATION = " \t\r\n.,;:!?\"'`()[]{}"
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}


class CatalogError(JourneyModelError):
    """The catalog file is malformed or invalid; the message names file and key."""


def alias_key(text: str) -> str:
    """The form used to compare names and aliases: case-folded, single spaces, no edge punctuation."""
    return " ".join(text.casefold().split()).strip(_EDGE_PUNCTUATION)


def format_price(amount: Decimal, currency: str) -> str:
    """'€12', '€11.50', 'CHF 9.90'."""
    number = f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount:.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{currency} {number}"


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    aliases: tuple[str, ...]
    category: str
    price: Decimal
    currency: str
    description: str
    plan_period: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The name followed by every alias: all the ways customers refer to this product."""
        return (self.name, *self.aliases)

    @property
    def is_plan(self) -> bool:
        return self.category == "plan"

    @property
    def price_text(self) -> str:
        """'€29 a month' for plans, '€59' otherwise."""
        text = format_price(self.price, self.currency)
        return f"{text} a {self.plan_period}" if self.plan_period else text


@dataclass(frozen=True)
class DeliveryArea:
    id: str
    name: str
    delivered: bool
    countries: tuple[tuple[str, str], ...] = ()  # (ISO 3166-1 alpha-2 code, English name)
    aliases: tuple[str, ...] = ()
    days_min: int | None = None
    days_max: int | None = None
    cost: Decimal | None = None
    currency: str | None = None
    note: str = ""
    fallback: bool = False

    @property
    def country_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.countries)

    @property
    def cost_text(self) -> str | None:
        """'free', '€4.90', or None when this area is not delivered to."""
        if not self.delivered or self.cost is None or self.currency is None:
            return None
        return "free" if self.cost == 0 else format_price(self.cost, self.currency)


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    delivery_areas: tuple[DeliveryArea, ...] = ()
    source: str = field(default="<memory>", compare=False)
    _by_id: dict[str, Product] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_alias: dict[str, Product] = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_place: dict[str, DeliveryArea] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        for product in self.products:
            self._by_id[product.id] = product
            for name in product.names:
                self._by_alias.setdefault(alias_key(name), product)
        for area in self.delivery_areas:
            for code, country in area.countries:
                self._by_place.setdefault(code.casefold(), area)
                self._by_place.setdefault(alias_key(country), area)
            for alias in (area.name, *area.aliases):
                self._by_place.setdefault(alias_key(alias), area)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def product(self, product_id: str) -> Product:
        """The product with this id; KeyError if there is none."""
        try:
            return self._by_id[product_id]
        except KeyError:
            raise KeyError(f"no product {product_id!r} in {self.source}") from None

    def has_product(self, product_id: str) -> bool:
        return product_id in self._by_id

    @property
    def product_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.products)

    @property
    def plans(self) -> tuple[Product, ...]:
        return tuple(p for p in self.products if p.is_plan)

    def find_by_alias(self, text: str) -> Product | None:
        """The product whose name or alias is exactly `text` (ignoring case, spacing, edge punctuation)."""
        if not isinstance(text, str):
            return None
        return self._by_alias.get(alias_key(text))

    def delivery_area(self, area_id: str) -> DeliveryArea:
        for area in self.delivery_areas:
            if area.id == area_id:
                return area
        raise KeyError(f"no delivery area {area_id!r} in {self.source}")

    def delivery_area_for(self, place: str) -> DeliveryArea | None:
        """The area covering a country code, country name or area alias ('DE', 'france', 'England').

        Places not listed anywhere fall into the fallback area (rest of the world),
        or None when the catalog has no fallback area.
        """
        key = alias_key(place) if isinstance(place, str) else ""
        area = self._by_place.get(key) if key else None
        if area is not None:
            return area
        return next((a for a in self.delivery_areas if a.fallback), None)


# --- loading and validation -------------------------------------------------------------


def _fail(source: str, key: str, message: str) -> CatalogError:
    return CatalogError(f"{source}: {key}: {message}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects a key given twice in one mapping (PyYAML keeps the last silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key; the default constructor reports it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


class _Validator:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str) -> CatalogError:
        return _fail(self.source, key, message)

    def mapping(self, value: Any, key: str) -> Mapping[Any, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        return value

    def sequence(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {_kind(value)}")
        return value

    def known_keys(self, data: Mapping[Any, Any], allowed: tuple[str, ...], key: str) -> None:
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key (use {', '.join(allowed)})")

    def text(self, data: Mapping[Any, Any], name: str, key: str, required: bool = True) -> str:
        value = data.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key}.{name}", "required text is missing or empty")
        return " ".join(value.split())

    def identifier(self, data: Mapping[Any, Any], name: str, key: str) -> str:
        value = self.text(data, name, key)
        if not _ID.match(value):
            raise self.fail(f"{key}.{name}", f"{value!r} is not a valid id (lower case letters, digits and _)")
        return value

    def amount(self, data: Mapping[Any, Any], name: str, key: str) -> Decimal:
        value = data.get(name)
        if value is None:
            raise self.fail(f"{key}.{name}", "required number is missing")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{key}.{name}", f"must be a number, got {value!r}")
        amount = Decimal(str(value))
        if not amount.is_finite():
            raise self.fail(f"{key}.{name}", f"must be a finite number, got {value!r}")
        if amount < 0:
            raise self.fail(f"{key}.{name}", f"must not be negative, got {value!r}")
        return amount

    def currency(self, data: Mapping[Any, Any], name: str, key: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not _CURRENCY.match(value):
            raise self.fail(f"{key}.{name}", f"must be a three-letter currency code like EUR, got {value!r}")
        return value

    def days(self, data: Mapping[Any, Any], name: str, key: str) -> int:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"{key}.{name}", f"must be a whole number of days (0 or more), got {value!r}")
        return value

    def flag(self, data: Mapping[Any, Any], name: str, key: str, default: bool | None = None) -> bool:
        value = data.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key}.{name}", f"must be true or false, got {value!r}")
        return value

    def aliases(self, data: Mapping[Any, Any], key: str) -> list[tuple[str, str]]:
        """(alias, key in the file) pairs."""
        raw = data.get("aliases")
        if raw is None:
            return []
        out = []
        for j, alias in enumerate(self.sequence(raw, f"{key}.aliases")):
            where = f"{key}.aliases[{j}]"
            if not isinstance(alias, str) or not alias.strip():
                raise self.fail(where, f"must be non-empty text, got {alias!r}")
            if not any(ch.isalpha() for ch in alias):
                raise self.fail(where, f"{alias!r} needs at least one letter")
            out.append((" ".join(alias.split()), where))
        return out


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _parse_product(v: _Validator, raw: Any, key: str) -> tuple[Product, list[tuple[str, str]]]:
    raw = v.mapping(raw, key)
    v.known_keys(raw, PRODUCT_KEYS, key)
    product_id = v.identifier(raw, "id", key)
    name = v.text(raw, "name", key)
    if not any(ch.isalpha() for ch in name):
        raise v.fail(f"{key}.name", f"{name!r} needs at least one letter")
    category = raw.get("category")
    if category not in CATEGORIES:
        raise v.fail(f"{key}.category", f"unknown category {category!r} (use {', '.join(CATEGORIES)})")
    price = v.amount(raw, "price", key)
    currency = v.currency(raw, "currency", key)
    description = v.text(raw, "description", key)
    period = raw.get("plan_period")
    if category == "plan":
        if period not in PLAN_PERIODS:
            raise v.fail(f"{key}.plan_period", f"a plan needs a plan_period ({', '.join(PLAN_PERIODS)}), got {period!r}")
    elif period is not None:
        raise v.fail(f"{key}.plan_period", f"only plans have a plan_period, but this is a {category}")
    names = [(name, f"{key}.name"), *v.aliases(raw, key)]
    product = Product(
        id=product_id,
        name=name,
        aliases=tuple(alias for alias, _ in names[1:]),
        category=category,
        price=price,
        currency=currency,
        description=description,
        plan_period=period,
    )
    return product, names


def _parse_area(v: _Validator, raw: Any, key: str) -> DeliveryArea:
    raw = v.mapping(raw, key)
    v.known_keys(raw, AREA_KEYS, key)
    area_id = v.identifier(raw, "id", key)
    name = v.text(raw, "name", key)
    delivered = v.flag(raw, "delivered", key)
    fallback = v.flag(raw, "fallback", key, default=False)
    countries: list[tuple[str, str]] = []
    raw_countries = raw.get("countries")
    if fallback:
        if raw_countries:
            raise v.fail(f"{key}.countries", "the fallback area covers every country not listed elsewhere; list none")
    else:
        if raw_countries is None:
            raise v.fail(f"{key}.countries", "required: a mapping of country codes to names, e.g. {DE: Germany}")
        raw_countries = v.mapping(raw_countries, f"{key}.countries")
        if not raw_countries:
            raise v.fail(f"{key}.countries", "list at least one country")
        for code, country in raw_countries.items():
            if isinstance(code, bool):
                raise v.fail(f"{key}.countries.{code}", "YAML read this country code as true/false; quote it, e.g. 'NO'")
            if not isinstance(code, str) or not _COUNTRY.match(code):
                raise v.fail(f"{key}.countries.{code}", "must be an ISO 3166-1 alpha-2 code in capitals, e.g. DE")
            if not isinstance(country, str) or not country.strip():
                raise v.fail(f"{key}.countries.{code}", "needs the country's name")
            countries.append((code, " ".join(country.split())))
    aliases = [alias for alias, _ in v.aliases(raw, key)]
    note = v.text(raw, "note", key, required=False)
    timing = {"days_min", "days_max", "cost", "currency"}
    if delivered:
        days_min = v.days(raw, "days_min", key)
        days_max = v.days(raw, "days_max", key)
        if days_max < days_min:
            raise v.fail(f"{key}.days_max", f"{days_max} is less than days_min ({days_min})")
        return DeliveryArea(
            area_id, name, True, tuple(countries), tuple(aliases), days_min, days_max,
            v.amount(raw, "cost", key), v.currency(raw, "currency", key), note, fallback,
        )
    present = sorted(timing & set(raw))
    if present:
        raise v.fail(f"{key}.{present[0]}", "this area is not delivered to (delivered: false); remove delivery times and cost")
    return DeliveryArea(area_id, name, False, tuple(countries), tuple(aliases), note=note, fallback=fallback)


def parse_catalog(data: Any, source: str = "<memory>") -> Catalog:
    """Validate a parsed catalog document and build a Catalog."""
    v = _Validator(source)
    data = v.mapping(data, "(top level)")
    v.known_keys(data, ("products", "delivery_areas"), "(top level)")
    raw_products = v.sequence(data.get("products"), "products")
    if not raw_products:
        raise v.fail("products", "the catalog needs at least one product")

    products: list[Product] = []
    claimed: dict[str, tuple[str, str]] = {}  # alias key -> (product id, where it was claimed)
    for i, raw in enumerate(raw_products):
        key = f"products[{i}]"
        product, names = _parse_product(v, raw, key)
        if any(p.id == product.id for p in products):
            raise v.fail(f"{key}.id", f"duplicate product id {product.id!r}")
        for text, where in names:
            normal = alias_key(text)
            if normal in claimed:
                owner, owner_where = claimed[normal]
                if owner == product.id:
                    raise v.fail(where, f"{text!r} is listed twice for {product.id!r} (also {owner_where})")
                raise v.fail(where, f"alias {text!r} is already claimed by product {owner!r} ({owner_where})")
            claimed[normal] = (product.id, where)
        products.append(product)

    areas: list[DeliveryArea] = []
    places: dict[str, tuple[str, str]] = {}  # code / name / alias key -> (area id, where)
    for i, raw in enumerate(v.sequence(data.get("delivery_areas") or [], "delivery_areas")):
        key = f"delivery_areas[{i}]"
        area = _parse_area(v, raw, key)
        if any(a.id == area.id for a in areas):
            raise v.fail(f"{key}.id", f"duplicate delivery area id {area.id!r}")
        if area.fallback and any(a.fallback for a in areas):
            raise v.fail(f"{key}.fallback", "only one delivery area can be the fallback")
        entries = [(code, f"{key}.countries.{code}") for code, _ in area.countries]
        entries += [(country, f"{key}.countries.{code}") for code, country in area.countries]
        entries += [(alias, f"{key}.aliases[{j}]") for j, alias in enumerate(area.aliases)]
        own: set[str] = set()
        for text, where in entries:
            normal = alias_key(text)
            if normal in places and normal not in own:
                owner, owner_where = places[normal]
                raise v.fail(where, f"{text!r} is already in delivery area {owner!r} ({owner_where})")
            places.setdefault(normal, (area.id, where))
            own.add(normal)
        areas.append(area)

    return Catalog(tuple(products), tuple(areas), source)


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate a catalog file (data/business/catalog.yml)."""
    path = Path(path)
    return parse_catalog(read_yaml(path, CatalogError, "catalog", _UniqueKeyLoader), str(path))
