"""The business catalog: plans, products and delivery areas (data/business/catalog.yml).

Loaded and validated like the other business files: every error names the file
and the key that is wrong, e.g. "catalog.yml: products[2].price: must not be negative".
The NLU entity extractor (bot/nlu/entities.py) builds its product patterns from
`Product.names`; `Catalog.find_by_alias` answers the same question for plain text.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import validator
from pydantic.fields import ModelField

from journey_state.config_files import KeyProblem, StrictModel, read_yaml, validate
from journey_state.errors import JourneyModelError

CATEGORIES = ("plan", "coffee", "equipment", "gift")
PLAN_PERIODS = ("month", "year")
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

    def __post_init__(self) -> None:
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


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types (no stub in the lock): SafeLoader is Any
    """A safe loader that rejects a key given twice in one mapping (PyYAML keeps the last silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
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
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _mapping(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, got {_kind(value)}")
    return value


def _mappings(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {_kind(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise KeyProblem([i], f"expected a mapping, got {_kind(item)}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("required text is missing or empty")
    return " ".join(value.split())


def _identifier(value: Any) -> str:
    text = _text(value)
    if not _ID.match(text):
        raise ValueError(f"{text!r} is not a valid id (lower case letters, digits and _)")
    return text


def _amount(value: Any) -> Decimal:
    if value is None:
        raise ValueError("required number is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {value!r}")
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise ValueError(f"must be a finite number, got {value!r}")
    if amount < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return amount


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise ValueError(f"must be a three-letter currency code like EUR, got {value!r}")
    return value


def _days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be a whole number of days (0 or more), got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _aliases(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {_kind(value)}")
    out = []
    for j, alias in enumerate(value):
        if not isinstance(alias, str) or not alias.strip():
            raise KeyProblem([j], f"must be non-empty text, got {alias!r}")
        if not any(ch.isalpha() for ch in alias):
            raise KeyProblem([j], f"{alias!r} needs at least one letter")
        out.append(" ".join(alias.split()))
    return tuple(out)


class ProductEntry(StrictModel):
    missing_as_none = ("id", "name", "category", "price", "currency", "description")

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    category: str
    price: Decimal
    currency: str
    description: str
    plan_period: str | None = None

    _id = validator("id", pre=True, allow_reuse=True)(_identifier)
    _aliases = validator("aliases", pre=True, allow_reuse=True)(_aliases)
    _price = validator("price", pre=True, allow_reuse=True)(_amount)
    _currency = validator("currency", pre=True, allow_reuse=True)(_currency)
    _description = validator("description", pre=True, allow_reuse=True)(_text)

    @validator("name", pre=True)
    def _name(cls, value: Any) -> str:
        name = _text(value)
        if not any(ch.isalpha() for ch in name):
            raise ValueError(f"{name!r} needs at least one letter")
        return name

    @validator("category", pre=True)
    def _category(cls, value: Any) -> Any:
        if value not in CATEGORIES:
            raise ValueError(f"unknown category {value!r} (use {', '.join(CATEGORIES)})")
        return value

    @validator("plan_period", pre=True, always=True)
    def _plan_period(cls, value: Any, values: dict[str, Any]) -> Any:
        category = values.get("category")
        if category == "plan" and value not in PLAN_PERIODS:
            raise ValueError(f"a plan needs a plan_period ({', '.join(PLAN_PERIODS)}), got {value!r}")
        if category is not None and category != "plan" and value is not None:
            raise ValueError(f"only plans have a plan_period, but this is a {category}")
        return value

    def product(self) -> Product:
        return Product(self.id, self.name, self.aliases, self.category, self.price, self.currency,
                       self.description, self.plan_period)


class AreaEntry(StrictModel):
    missing_as_none = ("id", "name", "delivered")

    id: str
    name: str
    delivered: bool
    fallback: bool = False
    countries: tuple[tuple[str, str], ...] = ()
    aliases: tuple[str, ...] = ()
    days_min: int | None = None
    days_max: int | None = None
    cost: Decimal | None = None
    currency: str | None = None
    note: str = ""

    _id = validator("id", pre=True, allow_reuse=True)(_identifier)
    _name = validator("name", pre=True, allow_reuse=True)(_text)
    _flags = validator("delivered", "fallback", pre=True, allow_reuse=True)(_flag)
    _aliases = validator("aliases", pre=True, allow_reuse=True)(_aliases)

    @validator("countries", pre=True, always=True)
    def _countries(cls, value: Any, values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        if values.get("fallback"):
            if value:
                raise ValueError("the fallback area covers every country not listed elsewhere; list none")
            return ()
        if value is None:
            raise ValueError("required: a mapping of country codes to names, e.g. {DE: Germany}")
        if not _mapping(value):
            raise ValueError("list at least one country")
        countries = []
        for code, country in value.items():
            if isinstance(code, bool):
                raise KeyProblem([str(code)], "YAML read this country code as true/false; quote it, e.g. 'NO'")
            if not isinstance(code, str) or not _COUNTRY.match(code):
                raise KeyProblem([str(code)], "must be an ISO 3166-1 alpha-2 code in capitals, e.g. DE")
            if not isinstance(country, str) or not country.strip():
                raise KeyProblem([str(code)], "needs the country's name")
            countries.append((code, " ".join(country.split())))
        return tuple(countries)

    @validator("days_min", "days_max", "cost", "currency", pre=True, always=True)
    def _delivery(cls, value: Any, values: dict[str, Any], field: ModelField) -> Any:
        if "delivered" not in values:  # already refused
            return value
        if not values["delivered"]:
            if value is not None:
                raise ValueError("this area is not delivered to (delivered: false); remove delivery times and cost")
            return None
        if field.name == "cost":
            return _amount(value)
        if field.name == "currency":
            return _currency(value)
        days = _days(value)
        if field.name == "days_max" and values.get("days_min") is not None and days < values["days_min"]:
            raise ValueError(f"{days} is less than days_min ({values['days_min']})")
        return days

    @validator("note", pre=True)
    def _note(cls, value: Any) -> str:
        return "" if value is None else _text(value)

    def area(self) -> DeliveryArea:
        return DeliveryArea(self.id, self.name, self.delivered, self.countries, self.aliases, self.days_min,
                            self.days_max, self.cost, self.currency, self.note, self.fallback)


class CatalogFile(StrictModel):
    """catalog.yml as written; `parse_catalog` checks ids and names across products and areas."""

    missing_as_none = ("products",)

    products: list[ProductEntry]
    delivery_areas: list[AreaEntry] = []

    @classmethod
    def unknown_key_at(cls, key: str) -> list[int | str]:
        return ["(top level)", key]

    @validator("products", pre=True)
    def _products(cls, value: Any) -> list[Any]:
        products = _mappings(value)
        if not products:
            raise ValueError("the catalog needs at least one product")
        return products

    @validator("delivery_areas", pre=True)
    def _areas(cls, value: Any) -> list[Any]:
        return _mappings(value or [])


def _fail(source: str, key: str, message: str) -> CatalogError:
    return CatalogError(f"{source}: {key}: {message}")


def parse_catalog(data: Any, source: str = "<memory>") -> Catalog:
    """Validate a parsed catalog document and build a Catalog."""
    raw = validate(CatalogFile, data, source, CatalogError, expected=f"expected a mapping, got {_kind(data)}")

    products: list[Product] = []
    claimed: dict[str, tuple[str, str]] = {}  # alias key -> (product id, where it was claimed)
    for i, entry in enumerate(raw.products):
        key = f"products[{i}]"
        product = entry.product()
        if any(p.id == product.id for p in products):
            raise _fail(source, f"{key}.id", f"duplicate product id {product.id!r}")
        names = [(product.name, f"{key}.name"), *((alias, f"{key}.aliases[{j}]") for j, alias in enumerate(product.aliases))]
        for text, where in names:
            normal = alias_key(text)
            if normal in claimed:
                owner, owner_where = claimed[normal]
                if owner == product.id:
                    raise _fail(source, where, f"{text!r} is listed twice for {product.id!r} (also {owner_where})")
                raise _fail(source, where, f"alias {text!r} is already claimed by product {owner!r} ({owner_where})")
            claimed[normal] = (product.id, where)
        products.append(product)

    areas: list[DeliveryArea] = []
    places: dict[str, tuple[str, str]] = {}  # code / name / alias key -> (area id, where)
    for i, area_entry in enumerate(raw.delivery_areas):
        key = f"delivery_areas[{i}]"
        area = area_entry.area()
        if any(a.id == area.id for a in areas):
            raise _fail(source, f"{key}.id", f"duplicate delivery area id {area.id!r}")
        if area.fallback and any(a.fallback for a in areas):
            raise _fail(source, f"{key}.fallback", "only one delivery area can be the fallback")
        entries = [(code, f"{key}.countries.{code}") for code, _ in area.countries]
        entries += [(country, f"{key}.countries.{code}") for code, country in area.countries]
        entries += [(alias, f"{key}.aliases[{j}]") for j, alias in enumerate(area.aliases)]
        own: set[str] = set()
        for text, where in entries:
            normal = alias_key(text)
            if normal in places and normal not in own:
                owner, owner_where = places[normal]
                raise _fail(source, where, f"{text!r} is already in delivery area {owner!r} ({owner_where})")
            places.setdefault(normal, (area.id, where))
            own.add(normal)
        areas.append(area)

    return Catalog(tuple(products), tuple(areas), source)


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate a catalog file (data/business/catalog.yml)."""
    path = Path(path)
    return parse_catalog(read_yaml(path, CatalogError, "catalog", _UniqueKeyLoader), str(path))
