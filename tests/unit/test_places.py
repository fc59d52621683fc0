"""journey_state.places and journey_state.delivery: places in messages, answered from catalog.yml."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from journey_state.catalog import load_catalog, parse_catalog
from journey_state.conversation import Conversation, Turn
from journey_state.delivery import DeliveryDesk
from journey_state.model import all_stage_ids
from journey_state.places import Gazetteer, Place, PlaceKind, place_key, shipped_gazetteer
from journey_state.replies import load_replies
from journey_state.store import JourneyStore, make_engine


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return shipped_gazetteer()


@pytest.fixture(scope="module")
def desk(business_dir, gazetteer) -> DeliveryDesk:
    return DeliveryDesk(load_catalog(business_dir / "catalog.yml"), lambda: gazetteer)


def where(place: Place | None) -> tuple[str, str, str] | None:
    return (place.name, place.kind.value, place.country_code) if place else None


def test_place_key_ignores_case_accents_and_punctuation():
    assert place_key("  Zürich? ") == "zurich"
    assert place_key("KÖLN") == "koln"
    assert place_key("Baden-Württemberg") == "baden wurttemberg"
    assert place_key("São Paulo!!") == "sao paulo"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("do you deliver to Hamburg?", ("Hamburg", "city", "DE")),
        ("Vienna", ("Vienna", "city", "AT")),
        ("lyon", ("Lyon", "city", "FR")),
        ("can you ship to Bavaria", ("Bavaria", "region", "DE")),  # pycountry's English name for Bayern
        ("can you ship to bayern", ("Bavaria", "region", "DE")),
        ("do you deliver to Austria?", ("Austria", "country", "AT")),
        ("DO YOU DELIVER TO ZURICH", ("Zürich", "city", "CH")),
        ("delivery to wien?", ("Vienna", "city", "AT")),  # an alternate name
        ("do you deliver to my office in Lyon", ("Lyon", "city", "FR")),
        ("ship to the netherlands", ("The Netherlands", "country", "NL")),
        ("do you deliver to frankfurt am main", ("Frankfurt am Main", "city", "DE")),  # the longest name wins
        ("deliver to new york", ("New York City", "city", "US")),
        ("Hamburg delivery, how long?", ("Hamburg", "city", "DE")),  # a capitalised name without a cue
        ("deliver to germny", ("Germany", "country", "DE")),  # a typo of a well-known name
        ("can you send it to Viena", ("Vienna", "city", "AT")),
    ],
)
def test_find_resolves_cities_regions_and_countries(gazetteer, text, expected):
    assert where(gazetteer.find(text)) == expected


def test_ambiguous_names_go_to_the_most_likely_place(gazetteer):
    assert gazetteer.lookup("Paris").country_code == "FR"  # 2.1 M people, not Paris, Texas
    assert gazetteer.lookup("Vienna").country_code == "AT"  # not Vienna, Virginia
    # A country beats a city or region of the same name.
    assert where(gazetteer.lookup("Luxembourg")) == ("Luxembourg", "country", "LU")
    assert where(gazetteer.lookup("Georgia")) == ("Georgia", "country", "GE")
    assert where(gazetteer.lookup("Mexico")) == ("Mexico", "country", "MX")
    # A city beats a region of the same name (same country here).
    assert gazetteer.lookup("Hamburg").kind is PlaceKind.CITY


@pytest.mark.parametrize(
    "text",
    [
        "do you ship to offices?",
        "do you deliver to my home address",
        "that's nice, I'm reading the menu",  # Nice and Reading are cities, but not written as names here
        "deliver in 2 days please",
        "i want to buy premium",
        "deliver to the same address as last time",  # Same is a town in Tanzania, and a stop word
        "do you deliver to asia",  # a continent (and a town in the Philippines): no one country
        "",
        "🙂",
        "x" * 5000,
    ],
)
def test_ordinary_words_are_not_places(gazetteer, text):
    assert gazetteer.find(text) is None


def test_with_names_adds_names_that_win_and_leaves_the_original_alone(gazetteer):
    uk = Place("United Kingdom", PlaceKind.COUNTRY, "GB", "United Kingdom")
    extended = gazetteer.with_names({"UK": uk})
    assert extended.find("do you ship to the UK?") == uk
    assert gazetteer.find("do you ship to the UK?") is None
    assert extended.lookup("Hamburg") == gazetteer.lookup("Hamburg")


def test_gazetteer_ranks_by_kind_then_population():
    from journey_state.places import Candidate

    small = Place("Springfield", PlaceKind.CITY, "US", "United States", 150_000)
    big_alias = Place("Springfeld", PlaceKind.CITY, "DE", "Germany", 500_000)
    country = Place("Springland", PlaceKind.COUNTRY, "SP", "Springland", 10)
    g = Gazetteer([("Springfield", Candidate(small, False)), ("Springfield", Candidate(big_alias, True))])
    assert g.lookup("springfield") == small  # an alternate name counts for a quarter of its population
    g = Gazetteer([("Springfield", Candidate(small, False)), ("Springfield", Candidate(country, True))])
    assert g.lookup("springfield") == country


# --- answers from catalog.yml -------------------------------------------------------------


def test_a_city_is_answered_with_its_countrys_terms(desk):
    answer = desk.answer("do you deliver to Hamburg?")
    assert answer.answer_id == "delivery_place_yes"
    assert answer.values["place"] == "Hamburg (Germany)"
    assert answer.values["days"] == "1–2 working days"
    assert answer.values["cost"] == "delivery is free"
    assert "DHL" in answer.values["note"]


def test_a_country_of_a_wider_area_gets_that_areas_terms(desk):
    answer = desk.answer("do you deliver to Austria?")
    assert answer.answer_id == "delivery_place_yes"
    assert answer.values["place"] == "Austria"
    assert answer.values["days"] == "3–5 working days"
    assert answer.values["cost"] == "delivery costs €4.90"
    lyon = desk.answer("Do you ship to Lyon")
    assert lyon.values["place"] == "Lyon (France)"


def test_the_catalogs_own_names_and_country_names_are_used(desk):
    assert desk.answer("do you ship to the UK").values["place"] == "United Kingdom"
    assert desk.answer("do you ship to deutschland").values["place"] == "Germany"
    # catalog.yml names the Netherlands without the article GeoNames uses
    assert desk.answer("ship to amsterdam?").values["place"] == "Amsterdam (Netherlands)"


def test_a_place_outside_the_areas_gets_a_no_with_the_areas(desk):
    answer = desk.answer("do you deliver to Toronto?")
    assert answer.answer_id == "delivery_place_no"
    assert answer.values["place"] == "Toronto (Canada)"
    assert answer.values["areas"] == "Germany, the rest of the European Union, United Kingdom and Switzerland"
    assert "gift card" in answer.values["note"]


def test_an_unknown_place_asks_which_country(desk):
    answer = desk.answer("do you deliver to Narnia?")
    assert answer.answer_id == "delivery_place_unknown"
    assert "Switzerland" in answer.values["areas"]


def test_a_bare_place_is_a_delivery_question_only_when_unsure_or_after_one(desk):
    assert desk.answer_turn("out_of_scope", "Vienna").values["place"] == "Vienna (Austria)"
    assert desk.answer_turn("greet", "and Lyon?", ("ask_delivery_area",)).values["place"] == "Lyon (France)"
    assert desk.answer_turn("greet", "Lyon") is None  # the NLU understood something else
    assert desk.answer_turn("deny", "Lyon", confidence=0.4).values["place"] == "Lyon (France)"  # ...but was unsure
    assert desk.answer_turn("affirm", "nice", confidence=0.4) is None  # an everyday word, alone
    assert desk.answer_turn("affirm", "Nice", ("delivery_options",)).values["place"] == "Nice (France)"
    assert desk.answer_turn("out_of_scope", "what's the weather in Paris tomorrow") is None  # not a bare place
    assert desk.answer_turn("ask_pricing", "how much is premium") is None


def test_other_delivery_questions_are_answered_for_a_place_they_name(desk):
    assert desk.answer_turn("delivery_options", "do you ship to Munich?").values["place"] == "Munich (Germany)"
    assert desk.answer_turn("delivery_period", "how long does delivery to Vienna take").values["days"] == "3–5 working days"
    assert desk.answer_turn("delivery_options", "what shipping methods do you have?") is None  # the general answer stays


def test_a_catalog_without_a_fallback_area_says_no_outside_its_areas(gazetteer):
    catalog = parse_catalog(
        {
            "products": [{"id": "basic", "name": "Basic", "category": "plan", "price": 1, "currency": "EUR",
                          "plan_period": "month", "description": "A plan."}],
            "delivery_areas": [{"id": "de", "name": "Germany", "delivered": True, "countries": {"DE": "Germany"},
                                "days_min": 1, "days_max": 1, "cost": 0, "currency": "EUR"}],
        },
        "catalog.yml",
    )
    desk = DeliveryDesk(catalog, lambda: gazetteer)
    assert desk.answer("deliver to Munich").values["days"] == "1 working day"
    no = desk.answer("deliver to Lyon")
    assert (no.answer_id, no.values["place"], no.values["areas"]) == ("delivery_place_no", "Lyon (France)", "Germany")


def test_conversation_answers_delivery_questions_for_the_place(migrated_url, b2c_model, journeys_dir, business_dir, desk):
    store = JourneyStore(make_engine(migrated_url), b2c_model)
    conversation = Conversation(store, load_replies(business_dir, all_stage_ids(journeys_dir)), delivery=desk)
    at = datetime(2026, 9, 1, 10, 0, tzinfo=timezone.utc)
    result = conversation.handle(Turn("rest", "ana", "m1", "do you deliver to Hamburg?", "ask_delivery_area", 0.9, at))
    assert result.reply.text.startswith("Yes, we deliver to Hamburg (Germany): it takes 1–2 working days and delivery is free.")
    assert result.stage == "consideration"
    result = conversation.handle(Turn("rest", "ana", "m2", "Toronto", "out_of_scope", 0.5, at, recent_intents=("ask_delivery_area",)))
    assert result.reply.text.startswith("Sorry, we don't deliver to Toronto (Canada) yet; we deliver to Germany, the rest")
    assert not result.escalate
