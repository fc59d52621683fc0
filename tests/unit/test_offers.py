"""Offer catalog and choice (journey_state/offers.py): examples, config validation, properties."""
from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_state.model import all_stage_ids
from journey_state.offers import (
    REDEEMED,
    SHOWN,
    Offer,
    OfferCatalog,
    OfferContext,
    OfferEvent,
    OfferSettings,
    Rejection,
    UnknownOffer,
    choose_offer,
    evaluate,
    load_offers,
    parse_offers,
)
from journey_state.replies import BusinessConfigError, load_facts

PROJECT = Path(__file__).resolve().parents[2]
BUSINESS_DIR = PROJECT / "data" / "business"
JOURNEYS_DIR = PROJECT / "data" / "journeys"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
WINDOW = timedelta(days=14)
STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")
FACTS = {"business_name": "Aurora Coffee Club", "premium_price": "€29 a month"}


def offer(offer_id: str, kind: str = "perk", stages=("consideration",), priority: int = 10, **kw) -> Offer:
    return Offer(id=offer_id, title=offer_id.title(), text=f"{offer_id} text", kind=kind, stages=frozenset(stages), priority=priority, **kw)


def catalog(*offers: Offer, window: timedelta = WINDOW) -> OfferCatalog:
    return OfferCatalog(tuple(offers), OfferSettings(window))


def ctx(stage="consideration", **kw) -> OfferContext:
    return OfferContext(stage=stage, **kw)


def shown(offer_id: str, at: datetime) -> OfferEvent:
    return OfferEvent(offer_id, SHOWN, at)


def chosen_id(cat, context, history=(), now=NOW):
    result = choose_offer(cat, context, history, now)
    return result.id if result else None


# -- the rules, one by one ------------------------------------------------------------------


def test_highest_priority_eligible_offer_wins():
    cat = catalog(offer("low", priority=1), offer("high", priority=9), offer("other_stage", stages=("retention",), priority=99))
    assert chosen_id(cat, ctx()) == "high"


def test_priority_ties_go_to_the_smallest_id_whatever_the_catalog_order():
    a, b = offer("bravo", priority=5), offer("alpha", priority=5)
    assert chosen_id(catalog(a, b), ctx()) == "alpha"
    assert chosen_id(catalog(b, a), ctx()) == "alpha"


def test_nothing_eligible_gives_none():
    assert choose_offer(catalog(offer("x", stages=("retention",))), ctx(), (), NOW) is None
    assert choose_offer(catalog(), ctx(), (), NOW) is None


def test_persona_restriction():
    cat = catalog(offer("office", personas=frozenset({"office_manager"}), priority=9), offer("any", priority=1))
    assert chosen_id(cat, ctx(persona="office_manager")) == "office"
    assert chosen_id(cat, ctx(persona="home_brewer")) == "any"
    assert chosen_id(cat, ctx(persona=None)) == "any"


def test_channel_restriction():
    cat = catalog(offer("wa", channels=frozenset({"whatsapp"}), priority=9), offer("any", priority=1))
    assert chosen_id(cat, ctx(channel="whatsapp")) == "wa"
    assert chosen_id(cat, ctx(channel="telegram")) == "any"
    assert chosen_id(cat, ctx(channel=None)) == "any"


def test_validity_window_is_inclusive_in_utc():
    o = offer("winter", valid_from=date(2026, 12, 1), valid_until=date(2027, 1, 6))
    cat = catalog(o)
    assert chosen_id(cat, ctx(), now=datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc)) is None
    assert chosen_id(cat, ctx(), now=datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)) == "winter"
    assert chosen_id(cat, ctx(), now=datetime(2027, 1, 6, 23, 59, 59, tzinfo=timezone.utc)) == "winter"
    assert chosen_id(cat, ctx(), now=datetime(2027, 1, 7, 0, 0, tzinfo=timezone.utc)) is None
    # 00:30 on 1 December in Berlin is still 30 November in UTC.
    berlin = timezone(timedelta(hours=1))
    assert chosen_id(cat, ctx(), now=datetime(2026, 12, 1, 0, 30, tzinfo=berlin)) is None
    reasons = evaluate(cat, ctx(), (), datetime(2027, 2, 1, tzinfo=timezone.utc))
    assert reasons == {"winter": Rejection.EXPIRED}


def test_cap_limits_impressions():
    cat = catalog(offer("capped", max_impressions=2, priority=9), offer("fallback", priority=1))
    history = [shown("capped", NOW - timedelta(days=30)), shown("capped", NOW - timedelta(days=20))]
    assert chosen_id(cat, ctx(), history[:1]) == "capped"
    assert chosen_id(cat, ctx(), history) == "fallback"
    assert evaluate(cat, ctx(), history, NOW)["capped"] is Rejection.CAP


def test_cooldown_counts_from_the_last_impression_of_that_offer():
    cat = catalog(offer("cool", cooldown=timedelta(days=3), priority=9), offer("fallback", priority=1))
    last = NOW - timedelta(days=3)
    history = [shown("cool", last - timedelta(days=10)), shown("cool", last), shown("fallback", NOW)]
    assert chosen_id(cat, ctx(), history, now=last + timedelta(days=3) - timedelta(seconds=1)) == "fallback"
    assert chosen_id(cat, ctx(), history, now=last + timedelta(days=3)) == "cool"
    # Impressions of other offers do not start its cool-down.
    assert chosen_id(cat, ctx(), [shown("fallback", NOW)]) == "cool"


def test_redeemed_offer_is_never_offered_again():
    cat = catalog(offer("once", priority=9), offer("fallback", priority=1))
    history = [OfferEvent("once", REDEEMED, NOW - timedelta(days=365))]
    assert chosen_id(cat, ctx(), history) == "fallback"
    assert evaluate(cat, ctx(), history, NOW)["once"] is Rejection.REDEEMED


def test_no_discount_within_the_window_after_a_complaint():
    cat = catalog(offer("money_off", kind="discount", priority=9), offer("perk", kind="perk", priority=1))
    just_now = ctx(last_complaint_at=NOW - timedelta(hours=1))
    assert chosen_id(cat, just_now) == "perk"
    assert evaluate(cat, just_now, (), NOW)["money_off"] is Rejection.COMPLAINT
    assert chosen_id(cat, ctx(last_complaint_at=NOW - WINDOW + timedelta(seconds=1))) == "perk"
    assert chosen_id(cat, ctx(last_complaint_at=NOW - WINDOW)) == "money_off"
    # A complaint stamped in the future (clock skew) counts as just now.
    assert chosen_id(cat, ctx(last_complaint_at=NOW + timedelta(minutes=5))) == "perk"


def test_complaint_window_is_configurable():
    cat = catalog(offer("money_off", kind="discount"), window=timedelta(days=2))
    assert chosen_id(cat, ctx(last_complaint_at=NOW - timedelta(days=3))) == "money_off"
    assert chosen_id(cat, ctx(last_complaint_at=NOW - timedelta(days=1))) is None


def test_no_discount_while_at_risk_but_perks_and_upgrades_are_fine():
    cat = catalog(
        offer("money_off", kind="discount", priority=9),
        offer("better_plan", kind="upgrade", priority=5),
        offer("perk", kind="perk", priority=1),
    )
    assert chosen_id(cat, ctx(at_risk=True)) == "better_plan"
    assert evaluate(cat, ctx(at_risk=True), (), NOW)["money_off"] is Rejection.AT_RISK


def test_evaluate_explains_every_offer_in_the_order_they_are_tried():
    cat = catalog(
        offer("a_stage", stages=("retention",), priority=1),
        offer("b_persona", personas=frozenset({"office_manager"}), priority=2),
        offer("c_channel", channels=frozenset({"whatsapp"}), priority=3),
        offer("d_ok", priority=0),
        offer("e_future", valid_from=date(2027, 1, 1), priority=4),
    )
    reasons = evaluate(cat, ctx(channel="telegram"), (), NOW)
    assert list(reasons) == ["e_future", "c_channel", "b_persona", "a_stage", "d_ok"]
    assert reasons == {
        "e_future": Rejection.NOT_YET_VALID,
        "c_channel": Rejection.CHANNEL,
        "b_persona": Rejection.PERSONA,
        "a_stage": Rejection.STAGE,
        "d_ok": None,
    }


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone"):
        choose_offer(catalog(offer("x")), ctx(), (), datetime(2026, 1, 1))


def test_catalog_get_unknown_offer():
    with pytest.raises(UnknownOffer, match="nope"):
        catalog(offer("x")).get("nope")


# -- the shipped catalog -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> OfferCatalog:
    return load_offers(BUSINESS_DIR, all_stage_ids(JOURNEYS_DIR))


def test_shipped_catalog_loads_with_facts_filled_in(shipped):
    assert {"first_bag_free", "premium_yearly", "member_upgrade", "referral_perk", "whatsapp_seasonal_preview"} <= shipped.ids
    for o in shipped.offers:
        assert "{" not in o.text and "}" not in o.text, o.id
    assert "your first bag free" in shipped.get("first_bag_free").text
    assert shipped.settings.no_discount_after_complaint == timedelta(days=14)


@pytest.mark.parametrize(
    "stage, channel, persona, expected",
    [
        ("awareness", None, None, None),
        ("consideration", "telegram", None, "first_bag_free"),
        ("consideration", "whatsapp", None, "whatsapp_seasonal_preview"),
        ("purchase", "telegram", None, "premium_yearly"),
        ("purchase", "telegram", "office_manager", "office_bundle"),
        ("retention", "telegram", None, "member_upgrade"),
        ("advocacy", "telegram", None, "referral_perk"),
        ("active_evaluation", "rest", None, "first_bag_free"),  # b2b stages work too
        ("experience", "rest", None, "member_upgrade"),
        ("loyalty", "rest", None, "referral_perk"),
    ],
)
def test_shipped_catalog_choices(shipped, stage, channel, persona, expected):
    assert chosen_id(shipped, ctx(stage, channel=channel, persona=persona)) == expected


def test_shipped_catalog_winter_gift_box_only_in_its_window(shipped):
    december = datetime(2026, 12, 10, tzinfo=timezone.utc)
    assert chosen_id(shipped, ctx("retention"), now=december) == "winter_gift_box"
    assert chosen_id(shipped, ctx("retention"), now=datetime(2027, 2, 1, tzinfo=timezone.utc)) == "member_upgrade"


def test_shipped_catalog_after_a_complaint_in_consideration(shipped):
    # first_bag_free and premium_yearly are discounts: after a complaint nothing is offered on the web.
    assert chosen_id(shipped, ctx("consideration", channel="telegram", last_complaint_at=NOW - timedelta(days=1))) is None
    assert chosen_id(shipped, ctx("consideration", channel="whatsapp", last_complaint_at=NOW - timedelta(days=1))) == "whatsapp_seasonal_preview"


def test_shipped_catalog_sequence_with_cap_and_cooldown(shipped):
    """A consideration contact on Telegram asking every day for two weeks."""
    history: list[OfferEvent] = []
    for day in range(14):
        at = NOW + timedelta(days=day)
        o = choose_offer(shipped, ctx("consideration", channel="telegram"), history, at)
        if o is not None:
            history.append(shown(o.id, at))
    days = {oid: [(e.at - NOW).days for e in history if e.offer_id == oid] for oid in {e.offer_id for e in history}}
    assert days == {"first_bag_free": [0, 2, 4], "premium_yearly": [1, 8]}


# -- configuration errors name file and key ---------------------------------------------------------


def base_doc() -> dict:
    return yaml.safe_load((BUSINESS_DIR / "offers.yml").read_text(encoding="utf-8"))


def parse(doc) -> OfferCatalog:
    return parse_offers(doc, "offers.yml", all_stage_ids(JOURNEYS_DIR), load_facts(BUSINESS_DIR / "business.yml"))


def edit(index: int, **changes) -> dict:
    doc = base_doc()
    for key, value in changes.items():
        if value is None:
            doc["offers"][index].pop(key, None)
        else:
            doc["offers"][index][key] = value
    return doc


@pytest.mark.parametrize(
    "doc, key, message",
    [
        (edit(0, colour="red"), "offers[0].colour", "unknown key"),
        (edit(0, kind="voucher"), "offers[0].kind", "discount, perk, upgrade"),
        (edit(0, stages=["consideration", "checkout"]), "offers[0].stages[1]", "unknown stage 'checkout'"),
        (edit(0, stages=[]), "offers[0].stages", "non-empty list"),
        (edit(0, valid_from="next monday"), "offers[0].valid_from", "ISO date"),
        (edit(0, valid_from="2026-12-10", valid_until="2026-12-01"), "offers[0].valid_until", "before valid_from"),
        (edit(0, cooldown="soon"), "offers[0].cooldown", "bad duration"),
        (edit(0, max_impressions=0), "offers[0].max_impressions", "at least 1"),
        (edit(0, max_impressions="3"), "offers[0].max_impressions", "whole number"),
        (edit(0, priority=None), "offers[0].priority", "required"),
        (edit(0, text="Hello {customer_name}"), "offers[0].text", "unknown placeholder {customer_name}"),
        (edit(0, text="Broken {"), "offers[0].text", "bad placeholder"),
        (edit(0, title=""), "offers[0].title", "missing or empty"),
        (edit(0, id="First Bag"), "offers[0].id", "not a valid id"),
        (edit(1, id="whatsapp_seasonal_preview"), "offers[1].id", "duplicate offer id"),
        (edit(0, personas="office_manager"), "offers[0].personas", "list of personas"),
        (edit(0, channels=["WhatsApp"]), "offers[0].channels[0]", "not a valid channel"),
        ({**base_doc(), "extra": 1}, "extra", "unknown key"),
        ({**base_doc(), "settings": {"no_discount_after_complaint": "0d"}}, "settings.no_discount_after_complaint", "bad duration"),
        ({**base_doc(), "settings": {"complaint_window": "3d"}}, "settings.complaint_window", "unknown key"),
        ({"offers": {"a": 1}}, "offers", "expected a list"),
        ([], "(top level)", "expected a mapping"),
    ],
)
def test_config_errors_name_file_and_key(doc, key, message):
    with pytest.raises(BusinessConfigError) as err:
        parse(doc)
    text = str(err.value)
    assert text.startswith("offers.yml: "), text
    assert f"{key}" in text and message in text, text


def test_config_dates_may_be_quoted_or_not_and_settings_default():
    doc = edit(0, valid_from="2026-12-01", valid_until=date(2026, 12, 31))
    del doc["settings"]
    cat = parse(doc)
    o = cat.get(doc["offers"][0]["id"])
    assert (o.valid_from, o.valid_until) == (date(2026, 12, 1), date(2026, 12, 31))
    assert cat.settings.no_discount_after_complaint == WINDOW


def test_load_offers_reports_malformed_yaml(tmp_path):
    (tmp_path / "business.yml").write_text("facts: {business_name: X}\n", encoding="utf-8")
    (tmp_path / "offers.yml").write_text("offers: [\n", encoding="utf-8")
    with pytest.raises(BusinessConfigError, match=r"offers\.yml: malformed YAML"):
        load_offers(tmp_path, STAGES)


# -- properties -----------------------------------------------------------------------------------------

offer_ids = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@st.composite
def offers(draw, offer_id):
    return Offer(
        id=offer_id,
        title=offer_id,
        text=offer_id,
        kind=draw(st.sampled_from(["discount", "perk", "upgrade"])),
        stages=frozenset(draw(st.lists(st.sampled_from(STAGES), min_size=1, max_size=3))),
        personas=frozenset(draw(st.lists(st.sampled_from(["p1", "p2"]), max_size=1))),
        channels=frozenset(draw(st.lists(st.sampled_from(["whatsapp", "telegram"]), max_size=1))),
        max_impressions=draw(st.none() | st.integers(1, 4)),
        cooldown=draw(st.none() | st.integers(1, 72).map(lambda h: timedelta(hours=h))),
        priority=draw(st.integers(0, 3)),  # few values: many ties
    )


@st.composite
def catalogs(draw):
    ids = draw(st.lists(offer_ids, min_size=1, max_size=6, unique=True))
    window = timedelta(hours=draw(st.integers(1, 24 * 30)))
    return OfferCatalog(tuple(draw(offers(i)) for i in ids), OfferSettings(window))


contexts = st.builds(
    OfferContext,
    stage=st.sampled_from(STAGES),
    persona=st.sampled_from([None, "p1", "p2"]),
    channel=st.sampled_from([None, "whatsapp", "telegram"]),
    at_risk=st.booleans(),
    last_complaint_at=st.none() | st.integers(-24 * 60, 24 * 60).map(lambda h: NOW + timedelta(hours=h)),
)
histories = st.lists(
    st.builds(OfferEvent, offer_ids, st.sampled_from([SHOWN, SHOWN, SHOWN, REDEEMED]), st.integers(-24 * 40, 0).map(lambda h: NOW + timedelta(hours=h))),
    max_size=12,
)
PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(cat=catalogs(), context=contexts, history=histories, complained_ago=st.integers(0, 24 * 60))
def test_never_a_discount_within_the_complaint_window(cat, context, history, complained_ago):
    complained_at = NOW - timedelta(minutes=complained_ago)
    context = replace(context, last_complaint_at=complained_at)
    chosen = choose_offer(cat, context, history, NOW)
    if chosen is not None and chosen.kind == "discount":
        assert NOW - complained_at >= cat.settings.no_discount_after_complaint
        assert not context.at_risk


@PROPS
@given(cat=catalogs(), context=contexts, history=histories)
def test_never_a_discount_while_at_risk(cat, context, history):
    chosen = choose_offer(cat, replace(context, at_risk=True), history, NOW)
    assert chosen is None or chosen.kind != "discount"


@PROPS
@given(cat=catalogs(), context=contexts, steps=st.lists(st.integers(0, 48), min_size=1, max_size=40))
def test_impressions_never_exceed_the_cap_and_respect_the_cooldown(cat, context, steps):
    history: list[OfferEvent] = []
    at = NOW
    for hours in steps:
        at += timedelta(hours=hours)
        chosen = choose_offer(cat, context, history, at)
        if chosen is not None:
            history.append(shown(chosen.id, at))
    for o in cat.offers:
        times = [e.at for e in history if e.offer_id == o.id]
        if o.max_impressions is not None:
            assert len(times) <= o.max_impressions
        if o.cooldown is not None:
            assert all(b - a >= o.cooldown for a, b in itertools.pairwise(times))


@PROPS
@given(cat=catalogs(), context=contexts, history=histories, seed=st.integers(0, 2**32))
def test_same_inputs_same_choice_whatever_the_order(cat, context, history, seed):
    first = choose_offer(cat, context, history, NOW)
    assert choose_offer(cat, context, list(history), NOW) == first
    rng = random.Random(seed)
    shuffled_offers, shuffled_history = list(cat.offers), list(history)
    rng.shuffle(shuffled_offers)
    rng.shuffle(shuffled_history)
    assert choose_offer(replace(cat, offers=tuple(shuffled_offers)), context, shuffled_history, NOW) == first


@PROPS
@given(cat=catalogs(), context=contexts, history=histories)
def test_the_choice_is_eligible_and_beats_every_other_eligible_offer(cat, context, history):
    reasons = evaluate(cat, context, history, NOW)
    chosen = choose_offer(cat, context, history, NOW)
    eligible = [o for o in cat.offers if reasons[o.id] is None]
    if chosen is None:
        assert not eligible
        return
    assert reasons[chosen.id] is None
    assert context.stage in chosen.stages
    assert not any(e.offer_id == chosen.id and e.kind == REDEEMED for e in history)
    for other in eligible:
        assert (-chosen.priority, chosen.id) <= (-other.priority, other.id)
