"""The shared configuration loader and the one entry that loads all business configuration."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import validator

from journey_state.business_config import load_business_config
from journey_state.config_files import (
    BusinessConfigError,
    KeyProblem,
    StrictModel,
    key_path,
    read_yaml,
    validate,
)
from journey_state.errors import JourneyModelError
from journey_state.model import all_stage_ids, load_named_model

PROJECT = Path(__file__).resolve().parents[2]
BUSINESS = PROJECT / "data" / "business"
JOURNEYS = PROJECT / "data" / "journeys"


class Item(StrictModel):
    size: int = 1

    @validator("size", pre=True)
    def _size(cls, value):
        if not isinstance(value, int) or value > 10:
            raise ValueError("ensure this value is less than or equal to 10")
        return value


class Doc(StrictModel):
    items: list[Item] = []
    tags: list[str] = []

    @validator("tags", pre=True)
    def _tags(cls, value):
        for i, tag in enumerate(value):
            if not tag:
                raise KeyProblem([i], "must not be empty")
        return value


@pytest.mark.parametrize(
    "loc, path",
    [(("offers", 2, "discount"), "offers[2].discount"), (("a", "__root__", "b"), "a.b"), ((), "(top level)"), ((0,), "[0]")],
)
def test_key_path_reads_like_the_files(loc, path):
    assert key_path(loc) == path


@pytest.mark.parametrize(
    "data, message",
    [
        ({"items": [{}, {}, {"size": 11}]}, "doc.yml: items[2].size: ensure this value is less than or equal to 10"),
        ({"items": [{"colour": "red"}]}, "doc.yml: items[0].colour: unknown key (use size)"),
        ({"tags": ["a", ""]}, "doc.yml: tags[1]: must not be empty"),
        ({"tags": "a"}, "doc.yml: tags: expected a list"),
        ({"items": ["x"]}, "doc.yml: items[0]: expected a mapping"),
        ({"extra": 1}, "doc.yml: extra: unknown key (use items, tags)"),
        (["not", "a", "mapping"], "doc.yml: (top level): expected a mapping"),
    ],
)
def test_validate_names_the_file_and_the_key_path(data, message):
    with pytest.raises(BusinessConfigError) as info:
        validate(Doc, data, "doc.yml")
    assert str(info.value) == message


def test_validate_prefixes_the_section_and_raises_the_given_error():
    class SectionError(JourneyModelError):
        pass

    with pytest.raises(SectionError, match=r"^x\.yml: loyalty\.items\[0\]\.size: "):
        validate(Doc, {"items": [{"size": 99}]}, "x.yml", SectionError, at=["loyalty"])


@pytest.mark.parametrize(
    "raw, message",
    [(b"a: [1", "malformed YAML (line"), (b"a: caf\xe9", "not UTF-8 text"), (b"a: " + b"[" * 5000, "nested too deeply to be a configuration file")],
)
def test_read_yaml_refuses_hostile_files_naming_them(tmp_path, raw, message):
    path = tmp_path / "x.yml"
    path.write_bytes(raw)
    with pytest.raises(BusinessConfigError) as info:
        read_yaml(path)
    assert str(info.value).startswith(f"{path}: {message}")


# -- load_business_config: every file, loaded once, errors naming file and key ---------------


def test_the_shipped_configuration_loads_completely():
    config = load_business_config(BUSINESS, JOURNEYS)
    assert set(config.models) == {"b2b", "b2c"}
    assert config.stage_ids == all_stage_ids(JOURNEYS)
    assert config.models["b2c"] == load_named_model(JOURNEYS, "b2c")
    assert config.replies.has("fallback") and config.offers.ids and config.catalog is not None
    assert config.commerce.backend == "demo" and config.loyalty.currency == "EUR"
    names = {path.name for path in config.files}
    assert names >= {"b2b.yml", "b2c.yml", "business.yml", "replies.yml", "offers.yml", "programs.yml",
                     "handoff.yml", "events.yml", "commerce.yml", "catalog.yml"}


BROKEN = [
    ("business.yml", "facts:\n  business_name: [1]\n", "facts.business_name: must be text or a number"),
    ("replies.yml", "replies:\n  fallback: {default: hi}\n  technical_problem: {default: oops, variants: [{channel: web, text: x, buttonz: []}]}\n",
     "replies.technical_problem.variants[0].buttonz: unknown key"),
    ("offers.yml", None, "offers[2].max_impressions: must be at least 1, got 0"),
    ("programs.yml", None, "referrals.rewards.referrer_points: expected a whole number, got 'lots'"),
    ("handoff.yml", "wait: {history: 10, minutes: 3}\n", "wait.minutes: unknown key (allowed: history, default_minutes, update_every_minutes)"),
    ("events.yml", "max_amount: lots\n", "max_amount: value is not a valid float"),
    ("commerce.yml", "backend: shopify\nshopify: {shop_domain: a.myshopify.com, retries: 7}\n", "shopify.retries: must be a whole number from 0 to 5, got 7"),
    ("catalog.yml", "products: []\n", "products: the catalog needs at least one product"),
]


def _break(business: Path, name: str, text: str | None) -> None:
    path = business / name
    if name == "offers.yml":
        text = path.read_text(encoding="utf-8")
        third = [i for i, line in enumerate(text.splitlines()) if "max_impressions:" in line][2]
        lines = text.splitlines()
        lines[third] = lines[third].split("max_impressions:")[0] + "max_impressions: 0"
        text = "\n".join(lines) + "\n"
    elif name == "programs.yml":
        text = path.read_text(encoding="utf-8").replace("referrer_points: 300", "referrer_points: lots")
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("name, text, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_file_is_named_with_its_key(tmp_path, name, text, message):
    business = tmp_path / "business"
    shutil.copytree(BUSINESS, business)
    _break(business, name, text)
    with pytest.raises(JourneyModelError) as info:
        load_business_config(business, JOURNEYS)
    assert str(info.value) == f"{business / name}: {message}"


def test_a_broken_journey_model_is_named_with_its_key(tmp_path):
    journeys = tmp_path / "journeys"
    shutil.copytree(JOURNEYS, journeys)
    path = journeys / "b2b.yml"
    path.write_text(path.read_text(encoding="utf-8") + "colour: blue\n", encoding="utf-8")
    with pytest.raises(JourneyModelError, match=f"^{path}: colour: unknown key$"):
        load_business_config(BUSINESS, journeys)


class Plan(StrictModel):
    required_keys = {"name": "required: the plan's name", "price": "required: a price"}
    name: str = ""
    price: int = 0


def test_a_missing_required_key_is_named_with_its_message_unknown_keys_first():
    with pytest.raises(BusinessConfigError, match=r"^plans\.yml: name: required: the plan's name$"):
        validate(Plan, {"price": 3}, "plans.yml")
    with pytest.raises(BusinessConfigError, match=r"^plans\.yml: name: required: the plan's name$"):
        validate(Plan, {}, "plans.yml")  # in the order given
    with pytest.raises(BusinessConfigError, match=r"^plans\.yml: colour: unknown key"):
        validate(Plan, {"colour": "red"}, "plans.yml")
    assert validate(Plan, {"name": "basic", "price": 3}, "plans.yml") == Plan(name="basic", price=3)


@pytest.mark.parametrize(("module", "model", "data", "expected"), [
    ("journey_state.referrals", "RewardsSection", {"referrer_points": 1}, "referred_points: required: loyalty points, 0 or more"),
    ("journey_state.loyalty", "EarnSection", {}, "on_events: required: the business event types that earn points"),
    ("journey_state.handoff", "AnyIntentSection", {}, "min_score: is required (the emotion score, 0-1, that counts as strong)"),
])
def test_each_section_names_its_missing_required_key(module, model, data, expected):
    import importlib

    with pytest.raises(BusinessConfigError) as refused:
        validate(getattr(importlib.import_module(module), model), data, "f.yml")
    assert str(refused.value) == f"f.yml: {expected}"


@pytest.mark.parametrize(("escape", "problem"), [("\\udc80", "contains an unpaired UTF-16 surrogate"),
                                                  ("\\0", "contains a control character")])
def test_text_that_cannot_be_stored_or_sent_is_refused_naming_file_and_key(tmp_path, escape, problem):
    """YAML escapes make lone surrogates and NUL; a follow-up holding one would fail every hand back."""
    path = tmp_path / "handoff.yml"
    path.write_text(f'follow_ups:\n  default: "back {escape} with the bot"\n  list: ["ok", "bad {escape}"]\n')
    with pytest.raises(BusinessConfigError) as refused:
        read_yaml(path)
    assert str(refused.value) == f"{path}: follow_ups.default: {problem}"
    path.write_text(f'follow_ups:\n  list: ["ok", "bad {escape}"]\n')
    with pytest.raises(BusinessConfigError, match=r"follow_ups\.list\[1\]: "):
        read_yaml(path)
