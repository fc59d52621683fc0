"""Referral and loyalty settings and pure helpers (journey_state/referrals.py, journey_state/loyalty.py)."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from journey_state.business_events import BusinessEvent
from journey_state.identifiers import ChannelRef
from journey_state.loyalty import (
    MAX_POINTS_PER_CREDIT,
    LoyaltySettings,
    load_loyalty,
    order_reference,
    parse_loyalty,
    points_for_order,
    reversal_reference,
)
from journey_state.model import load_named_model
from journey_state.referrals import (
    ALPHABET,
    AdvocateRules,
    CodeFormat,
    InvalidReferralCode,
    example_code,
    generate_code,
    is_advocate,
    load_referrals,
    normalise_code,
    parse_referrals,
)
from journey_state.replies import BusinessConfigError

PROJECT = Path(__file__).resolve().parents[2]
BUSINESS_DIR = PROJECT / "data" / "business"
JOURNEYS_DIR = PROJECT / "data" / "journeys"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
RULES = AdvocateRules(min_nps=9, min_review_rating=4, stages={"b2c": "advocacy", "b2b": "loyalty"})


@pytest.fixture(scope="module")
def models():
    return [load_named_model(JOURNEYS_DIR, "b2c"), load_named_model(JOURNEYS_DIR, "b2b")]


# -- advocates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id, stage, nps, rating, expected",
    [
        ("b2c", "retention", 9, None, True),
        ("b2c", "retention", 10, None, True),
        ("b2c", "retention", 8, None, False),
        ("b2c", "retention", None, 4, True),
        ("b2c", "retention", None, 5, True),
        ("b2c", "retention", None, 3, False),
        ("b2c", "advocacy", None, None, True),
        ("b2c", "advocacy", 0, 1, True),  # the stage alone is enough
        ("b2c", "awareness", None, None, False),
        ("b2b", "loyalty", None, None, True),
        ("b2b", "advocacy", None, None, False),  # advocacy is not a b2b stage
        ("b2b", "experience", 9, None, True),
        ("other", "advocacy", None, None, False),
    ],
)
def test_is_advocate(model_id, stage, nps, rating, expected):
    assert is_advocate(RULES, model_id, stage, nps, rating) is expected


# -- codes ------------------------------------------------------------------------------------------


def test_alphabet_has_no_look_alikes():
    assert not set("0O1I") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 32


def test_generate_code_format_and_reproducibility():
    fmt = CodeFormat("AURORA", 6)
    code = generate_code(random.Random(7), fmt)
    assert code == generate_code(random.Random(7), fmt)
    prefix, body = code.split("-")
    assert prefix == "AURORA" and len(body) == 6 and set(body) <= set(ALPHABET)
    assert generate_code(random.Random(7), CodeFormat("", 8)).isalnum()


def test_generate_code_uses_a_secure_source_by_default():
    codes = {generate_code() for _ in range(2000)}
    assert len(codes) == 2000  # 32**6 possibilities: collisions here would mean a broken source


@given(seed=st.integers(0, 2**32), length=st.integers(4, 12))
def test_generated_codes_never_contain_look_alikes_and_normalise_to_themselves(seed, length):
    fmt = CodeFormat("AC", length)
    code = generate_code(random.Random(seed), fmt)
    assert not set("0O1I") & set(code.split("-")[1])
    assert normalise_code(code, fmt) == code
    assert normalise_code(code.lower().replace("-", " "), fmt) == code
    assert normalise_code(code.split("-")[1], fmt) == code


@pytest.mark.parametrize("raw", ["AURORA-7KXM2Q", "aurora-7kxm2q", " Aurora 7KXM2Q ", "AURORA7KXM2Q", "7kxm2q", "7KX-M2Q"])
def test_normalise_code_accepts_what_people_type(raw):
    assert normalise_code(raw) == "AURORA-7KXM2Q"


@pytest.mark.parametrize("raw", ["", "AURORA", "AURORA-7KXM2", "AURORA-7KXM2QQ", "AURORA-0KXM2Q", "AURORA-IKXM2Q", "hello there", None, 123])
def test_normalise_code_rejects_non_codes_with_an_example(raw):
    with pytest.raises(InvalidReferralCode) as err:
        normalise_code(raw)
    if isinstance(raw, str):
        assert "codes look like AURORA-7KXM2Q" in str(err.value)
    assert example_code(CodeFormat("", 4)) == "7KXM"


def test_code_format_is_checked():
    with pytest.raises(ValueError):
        CodeFormat("aurora", 6)
    with pytest.raises(ValueError):
        CodeFormat("AURORA", 3)


# -- loyalty points ------------------------------------------------------------------------------------

SETTINGS = LoyaltySettings("EUR", frozenset({"order_paid", "subscription_renewed"}), 1.0, 10, frozenset({"order_refunded"}))


@pytest.mark.parametrize(
    "event_type, payload, points",
    [
        ("order_paid", {"amount": 29, "currency": "EUR"}, 39),
        ("order_paid", {"amount": 29.99, "currency": "eur"}, 39),  # whole euros only
        ("order_paid", {"amount": 12}, 22),  # no currency: the configured one
        ("subscription_renewed", {"amount": 290.0}, 300),
        ("order_paid", {}, 10),  # no amount: only the flat bonus
        ("order_paid", {"amount": -5}, 10),
        ("order_paid", {"amount": True}, 10),
        ("order_paid", {"amount": float("nan")}, 10),
        ("order_paid", {"amount": 29, "currency": "USD"}, 0),
        ("order_placed", {"amount": 29}, 0),  # not a purchase yet
        ("order_refunded", {"amount": 29}, 0),
        ("order_paid", {"amount": 1e300}, MAX_POINTS_PER_CREDIT),
    ],
)
def test_points_for_order(event_type, payload, points):
    assert points_for_order(SETTINGS, event_type, payload) == points


def test_points_rate_rounds_down():
    settings = LoyaltySettings("EUR", frozenset({"order_paid"}), 1.5, 0)
    assert points_for_order(settings, "order_paid", {"amount": 13}) == 19


def event(event_type="order_paid", key="evt-1", **payload) -> BusinessEvent:
    return BusinessEvent(key, event_type, ChannelRef("rest", "alice"), T0, payload)


def test_order_references():
    assert order_reference(event(order_id="A-1")) == "order:A-1"
    assert reversal_reference(event("order_refunded", order_id="A-1")) == "order:A-1:reversed"
    assert order_reference(event(key="renewal-9")) == "order:event:renewal-9"
    assert len(order_reference(event(order_id="x" * 500))) <= 200
    assert len(reversal_reference(event(order_id="x" * 500))) <= 200


# -- configuration ---------------------------------------------------------------------------------------


def test_shipped_programs_load(models):
    loyalty = load_loyalty(BUSINESS_DIR)
    assert loyalty.currency == "EUR" and "order_paid" in loyalty.earn_on and loyalty.points_per_order == 10
    referrals = load_referrals(BUSINESS_DIR, models)
    assert referrals.code == CodeFormat("AURORA", 6)
    assert referrals.referrer_points > 0 and referrals.referred_points > 0
    assert referrals.advocates == AdvocateRules(9, 4, {"b2c": "advocacy", "b2b": "loyalty"})


def programs_doc() -> dict:
    return yaml.safe_load((BUSINESS_DIR / "programs.yml").read_text(encoding="utf-8"))


def with_change(section: str, path: str, value):
    doc = programs_doc()
    node = doc[section]
    *parents, last = path.split(".")
    for name in parents:
        node = node[name]
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return doc[section]


@pytest.mark.parametrize(
    "change, key, message",
    [
        (("earn.on_events", ["order_shipped"]), "loyalty.earn.on_events[0]", "unknown event type 'order_shipped'"),
        (("earn.on_events", None), "loyalty.earn.on_events", "required"),
        (("earn.points_per_currency_unit", -1), "loyalty.earn.points_per_currency_unit", "0 or more"),
        (("earn.points_per_currency_unit", "one"), "loyalty.earn.points_per_currency_unit", "expected a number"),
        (("earn.points_per_order", 2.5), "loyalty.earn.points_per_order", "whole number"),
        (("earn.bonus", 5), "loyalty.earn.bonus", "unknown key"),
        (("currency", "euro"), "loyalty.currency", "3-letter currency code"),
        (("reverse_on", ["order_paid"]), "loyalty.reverse_on", "cannot both earn and reverse"),
        (("tiers", []), "loyalty.tiers", "unknown key"),
        (("earn", "lots"), "loyalty.earn", "expected a mapping"),
    ],
)
def test_loyalty_errors_name_file_and_key(change, key, message):
    with pytest.raises(BusinessConfigError) as err:
        parse_loyalty(with_change("loyalty", *change), "programs.yml")
    assert str(err.value).startswith(f"programs.yml: {key}: "), str(err.value)
    assert message in str(err.value)


def test_loyalty_needs_some_way_to_earn():
    data = with_change("loyalty", "earn.points_per_currency_unit", 0)
    data["earn"]["points_per_order"] = 0
    with pytest.raises(BusinessConfigError, match=r"programs\.yml: loyalty\.earn: .*nothing earns points"):
        parse_loyalty(data, "programs.yml")


@pytest.mark.parametrize(
    "change, key, message",
    [
        (("code.prefix", "aurora"), "referrals.code.prefix", "upper-case letters"),
        (("code.length", 3), "referrals.code.length", "at least 4"),
        (("code.length", 40), "referrals.code.length", "at most 25"),
        (("rewards.referrer_points", -5), "referrals.rewards.referrer_points", "at least 0"),
        (("rewards.referred_points", None), "referrals.rewards.referred_points", "required"),
        (("advocates.min_nps", 11), "referrals.advocates.min_nps", "0 to 10"),
        (("advocates.min_review_rating", 0), "referrals.advocates.min_review_rating", "at least 1"),
        (("advocates.min_review_rating", 6), "referrals.advocates.min_review_rating", "1 to 5"),
        (("advocates.stages.b2c", "fans"), "referrals.advocates.stages.b2c", "unknown stage 'fans'"),
        (("advocates.stages.b2x", "advocacy"), "referrals.advocates.stages.b2x", "unknown journey model 'b2x'"),
        (("advocates.stages.b2b", None), "referrals.advocates.stages.b2b", "missing"),
        (("advocates.stages", ["advocacy"]), "referrals.advocates.stages", "expected a mapping"),
        (("bonus", 1), "referrals.bonus", "unknown key"),
    ],
)
def test_referral_errors_name_file_and_key(models, change, key, message):
    with pytest.raises(BusinessConfigError) as err:
        parse_referrals(with_change("referrals", *change), "programs.yml", models)
    assert str(err.value).startswith(f"programs.yml: {key}: "), str(err.value)
    assert message in str(err.value)


def test_referral_stages_are_not_checked_without_models():
    data = with_change("referrals", "advocates.stages.b2x", "fans")
    assert parse_referrals(data, "programs.yml").advocates.stages["b2x"] == "fans"


def test_programs_file_top_level_and_sections(tmp_path):
    (tmp_path / "programs.yml").write_text("loyalty: {}\nrefferals: {}\n", encoding="utf-8")
    with pytest.raises(BusinessConfigError, match=r"programs\.yml: refferals: unknown key \(use loyalty, referrals\)"):
        load_loyalty(tmp_path)
    (tmp_path / "programs.yml").write_text("loyalty:\n  earn: {on_events: [order_paid], points_per_order: 5}\n", encoding="utf-8")
    assert load_loyalty(tmp_path).points_per_order == 5
    with pytest.raises(BusinessConfigError, match=r"programs\.yml: referrals: required"):
        load_referrals(tmp_path)
    (tmp_path / "programs.yml").write_text("loyalty: [\n", encoding="utf-8")
    with pytest.raises(BusinessConfigError, match="malformed YAML"):
        load_loyalty(tmp_path)
    with pytest.raises(BusinessConfigError, match="cannot read"):
        load_loyalty(tmp_path / "missing")
