"""The business catalog (journey_state/catalog.py, data/business/catalog.yml)."""
from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from journey_state.catalog import CATEGORIES, Catalog, CatalogError, alias_key, load_catalog, parse_catalog
from journey_state.errors import JourneyModelError
from journey_state.replies import load_facts

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT / "data" / "business" / "catalog.yml"

MINI = {
    "products": [
        {
            "id": "basic",
            "name": "Basic",
            "aliases": ["basic plan"],
            "category": "plan",
            "price": 12,
            "currency": "EUR",
            "plan_period": "month",
            "description": "One bag a month.",
        },
        {
            "id": "grinder",
            "name": "Burr Grinder",
            "aliases": ["grinder", "coffee mill"],
            "category": "equipment",
            "price": 59.9,
            "currency": "EUR",
            "description": "A hand grinder.",
        },
    ],
    "delivery_areas": [
        {"id": "de", "name": "Germany", "delivered": True, "countries": {"DE": "Germany"},
         "days_min": 1, "days_max": 2, "cost": 0, "currency": "EUR"},
        {"id": "eu", "name": "EU", "delivered": True, "countries": {"FR": "France", "AT": "Austria"},
         "aliases": ["la france"], "days_min": 3, "days_max": 5, "cost": 4.9, "currency": "EUR"},
        {"id": "world", "name": "Rest of the world", "delivered": False, "fallback": True},
    ],
}


def write(tmp_path: Path, data, name: str = "catalog.yml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    return path


def changed(change) -> dict:
    data = copy.deepcopy(MINI)
    change(data)
    return data


def catalog_error(tmp_path: Path, data) -> tuple[Path, str]:
    path = write(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    return path, str(info.value)


# --- the shipped catalog ---------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(SHIPPED)


def test_shipped_catalog_loads_with_both_plans_and_about_ten_products(shipped):
    assert shipped.source == str(SHIPPED)
    assert [p.id for p in shipped.plans] == ["basic", "premium"]
    assert shipped.product("basic").price == Decimal("12")
    assert shipped.product("premium").price == Decimal("29")
    assert {p.plan_period for p in shipped.plans} == {"month"}
    others = [p for p in shipped.products if not p.is_plan]
    assert 8 <= len(others) <= 14
    assert {p.category for p in others} == {"coffee", "equipment", "gift"}
    for product in shipped.products:
        assert product.category in CATEGORIES
        assert product.currency == "EUR"
        assert product.description.endswith(".")
        assert product.aliases, f"{product.id} has no aliases"


def test_shipped_plan_prices_match_the_business_facts(shipped):
    facts = load_facts(PROJECT / "data" / "business" / "business.yml")
    assert shipped.product("basic").price_text == facts["basic_price"]
    assert shipped.product("premium").price_text == facts["premium_price"]


def test_shipped_aliases_find_their_products(shipped):
    assert shipped.find_by_alias("The Premium One") == shipped.product("premium")
    assert shipped.find_by_alias("  premium   SUBSCRIPTION? ") == shipped.product("premium")
    assert shipped.find_by_alias("Pour-Over Kit").id == "pour_over_kit"
    assert shipped.find_by_alias("yirgachefe").id == "ethiopia_yirgacheffe"
    assert shipped.find_by_alias("gift cards").id == "gift_card"
    assert shipped.find_by_alias("caffeinated jet fuel") is None
    assert shipped.find_by_alias("") is None
    assert shipped.find_by_alias(None) is None  # type: ignore[arg-type]


def test_shipped_aliases_are_unique_and_avoid_bare_delivery_countries(shipped):
    owners: dict[str, str] = {}
    for product in shipped.products:
        for name in product.names:
            assert owners.setdefault(alias_key(name), product.id) == product.id
    countries = {alias_key(name) for area in shipped.delivery_areas for _, name in area.countries}
    countries |= {"kenya", "colombia", "ethiopia", "guatemala", "brazil", "peru"}
    assert not countries & set(owners), "a bare country name as product alias clashes with delivery questions"


def test_shipped_delivery_areas_answer_do_you_deliver_to(shipped):
    germany = shipped.delivery_area_for("Germany")
    assert (germany.id, germany.delivered, germany.days_min, germany.days_max, germany.cost_text) == (
        "germany", True, 1, 2, "free")
    france = shipped.delivery_area_for("FR")
    assert (france.id, france.days_min, france.days_max, france.cost_text) == ("eu", 3, 5, "€4.90")
    assert shipped.delivery_area_for("england").id == "uk"
    assert shipped.delivery_area_for("Schweiz").id == "switzerland"
    nowhere = shipped.delivery_area_for("Brazil")
    assert nowhere.id == "rest_of_world" and not nowhere.delivered and nowhere.cost_text is None
    assert shipped.delivery_area("uk").delivered


def test_product_lookup_by_unknown_id_raises_key_error(shipped):
    with pytest.raises(KeyError, match="espresso_machine"):
        shipped.product("espresso_machine")
    assert not shipped.has_product("espresso_machine")
    assert shipped.has_product("premium")


# --- loading a small catalog ------------------------------------------------------------


def test_small_catalog_round_trip(tmp_path):
    catalog = load_catalog(write(tmp_path, MINI))
    grinder = catalog.product("grinder")
    assert grinder.names == ("Burr Grinder", "grinder", "coffee mill")
    assert grinder.price == Decimal("59.9") and grinder.price_text == "€59.90"
    assert grinder.plan_period is None
    assert catalog.product("basic").price_text == "€12 a month"
    assert catalog.product_ids == ("basic", "grinder")
    assert [p.id for p in catalog] == ["basic", "grinder"]
    assert catalog.delivery_area_for("la France").id == "eu"
    assert catalog.delivery_area_for("at").id == "eu"
    assert catalog.delivery_area_for("Atlantis").id == "world"


def test_delivery_areas_are_optional(tmp_path):
    catalog = load_catalog(write(tmp_path, changed(lambda d: d.pop("delivery_areas"))))
    assert catalog.delivery_areas == ()
    assert catalog.delivery_area_for("Germany") is None


def test_catalog_is_immutable_and_hashable(tmp_path):
    catalog = load_catalog(write(tmp_path, MINI))
    with pytest.raises(AttributeError):
        catalog.products = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        catalog.product("basic").price = Decimal(1)  # type: ignore[misc]
    assert hash(catalog) == hash(parse_catalog(copy.deepcopy(MINI)))


# --- validation: every error names the file and the key ---------------------------------


def _product(i: int, **values):
    def change(data):
        data["products"][i].update(values)
    return change


def _drop(i: int, key: str):
    def change(data):
        data["products"][i].pop(key)
    return change


def _area(i: int, **values):
    def change(data):
        data["delivery_areas"][i].update(values)
    return change


INVALID = [
    pytest.param(_product(1, id="basic"), "products[1].id", "duplicate product id 'basic'", id="duplicate-id"),
    pytest.param(_product(1, id="Burr Grinder"), "products[1].id", "not a valid id", id="bad-id"),
    pytest.param(_product(1, aliases=["grinder", "Basic Plan"]), "products[1].aliases[1]",
                 "alias 'Basic Plan' is already claimed by product 'basic' (products[0].aliases[0])",
                 id="alias-claimed-by-two-products"),
    pytest.param(_product(1, aliases=["basic"]), "products[1].aliases[0]",
                 "already claimed by product 'basic' (products[0].name)", id="alias-is-another-products-name"),
    pytest.param(_product(1, name="Basic plan"), "products[1].name", "already claimed by product 'basic'",
                 id="name-is-another-products-alias"),
    pytest.param(_product(1, aliases=["grinder", "GRINDER"]), "products[1].aliases[1]", "listed twice",
                 id="alias-twice-in-one-product"),
    pytest.param(_product(1, aliases="grinder"), "products[1].aliases", "expected a list", id="aliases-not-a-list"),
    pytest.param(_product(1, aliases=[42]), "products[1].aliases[0]", "must be non-empty text", id="alias-number"),
    pytest.param(_product(1, aliases=["?!"]), "products[1].aliases[0]", "needs at least one letter",
                 id="alias-punctuation"),
    pytest.param(_drop(1, "name"), "products[1].name", "required text is missing", id="missing-name"),
    pytest.param(_product(1, name="   "), "products[1].name", "required text is missing", id="blank-name"),
    pytest.param(_product(1, price=-5), "products[1].price", "must not be negative", id="negative-price"),
    pytest.param(_product(1, price="59 EUR"), "products[1].price", "must be a number", id="text-price"),
    pytest.param(_product(1, price=True), "products[1].price", "must be a number", id="bool-price"),
    pytest.param(_product(1, price=float("nan")), "products[1].price", "finite", id="nan-price"),
    pytest.param(_drop(1, "price"), "products[1].price", "missing", id="missing-price"),
    pytest.param(_product(1, category="hardware"), "products[1].category",
                 "unknown category 'hardware' (use plan, coffee, equipment, gift)", id="unknown-category"),
    pytest.param(_product(1, currency="€"), "products[1].currency", "three-letter currency code", id="bad-currency"),
    pytest.param(_drop(1, "description"), "products[1].description", "required text", id="missing-description"),
    pytest.param(_drop(0, "plan_period"), "products[0].plan_period", "a plan needs a plan_period",
                 id="plan-without-period"),
    pytest.param(_product(0, plan_period="fortnight"), "products[0].plan_period", "a plan needs a plan_period",
                 id="bad-plan-period"),
    pytest.param(_product(1, plan_period="month"), "products[1].plan_period", "only plans have a plan_period",
                 id="period-on-equipment"),
    pytest.param(_product(1, colour="black"), "products[1].colour", "unknown key", id="unknown-product-key"),
    pytest.param(lambda d: d["products"].append("espresso"), "products[2]", "expected a mapping",
                 id="product-not-a-mapping"),
    pytest.param(lambda d: d.update(products=[]), "products", "at least one product", id="no-products"),
    pytest.param(lambda d: d.pop("products"), "products", "expected a list, got nothing", id="missing-products"),
    pytest.param(lambda d: d.update(shipping=[]), "(top level).shipping", "unknown key", id="unknown-top-key"),
    pytest.param(_area(1, countries={"DE": "Germany"}), "delivery_areas[1].countries.DE",
                 "already in delivery area 'de'", id="country-in-two-areas"),
    pytest.param(_area(1, countries={False: "Norway"}), "delivery_areas[1].countries.False", "quote it",
                 id="yaml-reads-NO-as-false"),
    pytest.param(_area(1, countries={"fra": "France"}), "delivery_areas[1].countries.fra", "ISO 3166-1 alpha-2",
                 id="bad-country-code"),
    pytest.param(_area(1, countries=None), "delivery_areas[1].countries", "required", id="missing-countries"),
    pytest.param(_area(1, days_min=5, days_max=3), "delivery_areas[1].days_max", "less than days_min",
                 id="days-backwards"),
    pytest.param(_area(1, days_min="3"), "delivery_areas[1].days_min", "whole number of days", id="days-text"),
    pytest.param(_area(1, cost=-1), "delivery_areas[1].cost", "must not be negative", id="negative-cost"),
    pytest.param(_area(2, cost=0), "delivery_areas[2].cost", "not delivered to", id="cost-on-undelivered-area"),
    pytest.param(_area(2, countries={"US": "United States"}), "delivery_areas[2].countries",
                 "the fallback area covers every country", id="fallback-with-countries"),
    pytest.param(_area(1, delivered="yes please"), "delivery_areas[1].delivered", "true or false",
                 id="delivered-not-bool"),
    pytest.param(_area(1, id="de"), "delivery_areas[1].id", "duplicate delivery area id", id="duplicate-area"),
    pytest.param(lambda d: d["delivery_areas"].append(
        {"id": "moon", "name": "Moon", "delivered": False, "fallback": True}),
        "delivery_areas[3].fallback", "only one delivery area can be the fallback", id="two-fallbacks"),
]


@pytest.mark.parametrize("change, key, message", INVALID)
def test_invalid_catalog_names_file_and_key(tmp_path, change, key, message):
    path, error = catalog_error(tmp_path, changed(change))
    assert error.startswith(f"{path}: {key}: "), error
    assert message in error


def test_catalog_error_is_a_journey_model_error(tmp_path):
    path, _ = catalog_error(tmp_path, changed(_product(1, price=-1)))
    with pytest.raises(JourneyModelError):
        load_catalog(path)
    with pytest.raises(CatalogError, match=r"^<memory>: products\[1\]\.price: "):
        parse_catalog(changed(_product(1, price=-1)))


def test_top_level_must_be_a_mapping(tmp_path):
    path, error = catalog_error(tmp_path, "- just\n- a list\n")
    assert error == f"{path}: (top level): expected a mapping, got list"
    path, error = catalog_error(tmp_path, "")
    assert error == f"{path}: (top level): expected a mapping, got nothing"


def test_malformed_yaml_reports_line_and_column(tmp_path):
    text = "products:\n  - id: basic\n    name: [Basic\n    category: plan\n"
    path, error = catalog_error(tmp_path, text)
    assert error.startswith(f"{path}: malformed YAML (line "), error
    line, column = map(int, re.search(r"\(line (\d+), column (\d+)\)", error).groups())
    assert line >= 3 and column >= 1


def test_duplicate_yaml_key_is_reported_with_its_line(tmp_path):
    text = (
        "products:\n"
        "  - id: basic\n"
        "    name: Basic\n"
        "    price: 12\n"
        "    price: 13\n"
    )
    path, error = catalog_error(tmp_path, text)
    assert error.startswith(f"{path}: malformed YAML (line 5, column 5): found duplicate key 'price'"), error


def test_missing_file_is_reported(tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(CatalogError, match=re.escape(f"{missing}: cannot read catalog")):
        load_catalog(missing)


def test_non_utf8_file_is_reported(tmp_path):
    path = tmp_path / "catalog.yml"
    path.write_bytes("products: [caf\u00e9]".encode("latin-1"))
    with pytest.raises(CatalogError, match=re.escape(f"{path}: not UTF-8")):
        load_catalog(path)
