"""Catalog entities in NLU (bot/nlu/entities.py): products, order ids, emails, phone numbers.

Most tests call the graph component's `process` directly. The last test,
`test_INTEGRATION_trained_rasa_model_returns_catalog_entities`, trains a tiny
real Rasa NLU model (about 30-60 s) and parses a message through `Agent`.
"""
from __future__ import annotations

import asyncio
import itertools
import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

import bot.nlu.entities as entities_module
from bot.nlu.entities import ENTITY_TYPES, CatalogEntityExtractor
from journey_state.catalog import CatalogError, load_catalog

PROJECT = Path(__file__).resolve().parents[2]
CATALOG = PROJECT / "data" / "business" / "catalog.yml"


def make_extractor(storage_dir: Path, **config) -> CatalogEntityExtractor:
    return CatalogEntityExtractor.create(
        {**CatalogEntityExtractor.get_default_config(), "catalog": str(CATALOG), **config},
        LocalModelStorage(storage_dir),
        Resource("catalog_entities"),
        ExecutionContext(GraphSchema({}), "1"),
    )


@pytest.fixture(scope="module")
def extractor(tmp_path_factory) -> CatalogEntityExtractor:
    return make_extractor(tmp_path_factory.mktemp("storage"))


def run(extractor: CatalogEntityExtractor, text) -> list[dict]:
    message = Message(data={TEXT: text})
    [processed] = extractor.process([message])
    found = processed.get(ENTITIES)
    assert isinstance(found, list)
    for entity in found:
        assert set(entity) == {"entity", "start", "end", "value", "confidence", "extractor"}
        assert entity["extractor"] == "CatalogEntityExtractor"
        assert 0 <= entity["start"] < entity["end"] <= len(text)
    return found


def surface(extractor, text) -> list[tuple[str, str, str]]:
    """(entity, text[start:end], value) for every entity, in order."""
    return [(e["entity"], text[e["start"]:e["end"]], e["value"]) for e in run(extractor, text)]


# --- products ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, matched, product",
    [
        ("How much is Premium?", "Premium", "premium"),
        ("i'd like the premium plan please", "premium plan", "premium"),
        ("I want THE PREMIUM ONE", "THE PREMIUM ONE", "premium"),
        ("is the Premium Subscription worth it", "Premium Subscription", "premium"),
        ("whats in premuim", "premuim", "premium"),
        ("sign me up for basic", "basic", "basic"),
        ("the basic subscription is fine", "basic subscription", "basic"),
        ("Do you sell the Pour-Over Kit?", "Pour-Over Kit", "pour_over_kit"),
        ("a pour over kit for my dad", "pour over kit", "pour_over_kit"),
        ("is the Ethiopia Yirgacheffe fruity", "Ethiopia Yirgacheffe", "ethiopia_yirgacheffe"),
        ("yirgachefe in stock?", "yirgachefe", "ethiopia_yirgacheffe"),
        ("got any decaf?", "decaf", "swiss_water_decaf"),
        ("how much are your burr grinders", "burr grinders", "burr_grinder"),
        ("Can I buy a GIFT CARD", "GIFT CARD", "gift_card"),
        ("the house blend, is it dark?", "the house blend", "house_blend"),
        ("kenya aa or colombian?", "kenya aa", "kenya_nyeri"),
    ],
)
def test_products_by_name_alias_and_case(extractor, text, matched, product):
    assert surface(extractor, text)[0] == ("product", matched, product)


def test_product_patterns_cover_every_catalog_name_and_alias(extractor):
    catalog = load_catalog(CATALOG)
    for product in catalog.products:
        for name in product.names:
            for variant in (name, name.upper(), name.title()):
                text = f"tell me about {variant} please"
                found = surface(extractor, text)
                assert found == [("product", variant, product.id)], (product.id, variant, found)


def test_products_only_match_whole_words(extractor):
    assert surface(extractor, "premiums and basically decafs are not products") == []
    assert surface(extractor, "write to premium@aurora.coffee") == [
        ("email", "premium@aurora.coffee", "premium@aurora.coffee")]


def test_longest_alias_wins(extractor):
    assert surface(extractor, "the premium coffee plan") == [("product", "premium coffee plan", "premium")]


def test_bare_producing_countries_are_not_products(extractor):
    assert surface(extractor, "Do you deliver to Kenya or Colombia?") == []


# --- several entities in one message ----------------------------------------------------


def test_several_entities_with_exact_offsets(extractor):
    text = ("Hi! I ordered the Premium plan + a burr grinder (order AUR-20931), "
            "mail me at Ann.Lee@Example.COM or call +49 151 1234 5678. Thanks 😀")
    found = run(extractor, text)
    assert [(e["entity"], text[e["start"]:e["end"]], e["value"]) for e in found] == [
        ("product", "Premium plan", "premium"),
        ("product", "burr grinder", "burr_grinder"),
        ("order_id", "AUR-20931", "AUR-20931"),
        ("email", "Ann.Lee@Example.COM", "ann.lee@example.com"),
        ("phone", "+49 151 1234 5678", "+4915112345678"),
    ]
    assert [e["start"] for e in found] == sorted(e["start"] for e in found)
    assert all(e["confidence"] == 1.0 for e in found)


def test_entities_from_earlier_components_are_kept(extractor):
    earlier = {"entity": "emotion", "start": 0, "end": 5, "value": "angry", "extractor": "DIETClassifier"}
    message = Message(data={TEXT: "Angry about premium"})
    message.set(ENTITIES, [earlier], add_to_output=True)
    [processed] = extractor.process([message])
    assert processed.get(ENTITIES)[0] == earlier
    assert [e["value"] for e in processed.get(ENTITIES)] == ["angry", "premium"]
    assert ENTITIES in processed.output_properties


def test_process_handles_a_batch(extractor):
    messages = [Message(data={TEXT: t}) for t in ("premium", "AUR-1234", "nothing here")]
    processed = extractor.process(messages)
    assert [[e["value"] for e in m.get(ENTITIES)] for m in processed] == [["premium"], ["AUR-1234"], []]


# --- order ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, matched, value",
    [
        ("where is AUR-12345?", "AUR-12345", "AUR-12345"),
        ("where is aur-12345", "aur-12345", "AUR-12345"),
        ("order AUR12345678 is late", "AUR12345678", "AUR-12345678"),
        ("my order is aur 4567", "aur 4567", "AUR-4567"),
        ("it's Aur - 98765", "Aur - 98765", "AUR-98765"),
        ("order 123456 hasn't arrived", "123456", "AUR-123456"),
        ("Order no. 1234567", "1234567", "AUR-1234567"),
        ("my order number is 12345678", "12345678", "AUR-12345678"),
        ("order #654321!", "654321", "AUR-654321"),
        ("where is order #10042?", "10042", "AUR-10042"),
        ("purchase: 123456", "123456", "AUR-123456"),
        ("it was #765432", "765432", "AUR-765432"),
        ("order id: 2345678", "2345678", "AUR-2345678"),
    ],
)
def test_order_ids_are_normalised(extractor, text, matched, value):
    assert surface(extractor, text) == [("order_id", matched, value)]


@pytest.mark.parametrize(
    "text",
    [
        "AUR-123 is too short",          # the shop's ids have 4-8 digits
        "AUR-123456789 is too long",
        "I have 123456 beans",           # a plain number needs order context
        "order 1234 please",             # plain order numbers have 5+ digits (the demo shop's are AUR-10042)
        "my number is 1234567",          # "my number": a phone, not an order
        "phone number 12345678",
        "the order arrived in 2024",
        "aurora 12345",
    ],
)
def test_no_order_id_without_the_format_or_context(extractor, text):
    assert [e for e in run(extractor, text) if e["entity"] == "order_id"] == []


# --- emails -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, matched, value",
    [
        ("my email is Ann@Example.com", "Ann@Example.com", "ann@example.com"),
        ("ann.lee+coffee@mail.example.co.uk, thanks", "ann.lee+coffee@mail.example.co.uk",
         "ann.lee+coffee@mail.example.co.uk"),
        ("(JOE@EXAMPLE.DE)", "JOE@EXAMPLE.DE", "joe@example.de"),
        ("mailto:bob@example.org.", "bob@example.org", "bob@example.org"),
    ],
)
def test_emails_are_lower_cased(extractor, text, matched, value):
    assert surface(extractor, text) == [("email", matched, value)]


@pytest.mark.parametrize("text", ["at@home", "user@localhost", "ping me @ann", "a@b.c"])
def test_not_emails(extractor, text):
    assert [e for e in run(extractor, text) if e["entity"] == "email"] == []


# --- phones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, matched, value",
    [
        ("call me on +49 151 1234 5678.", "+49 151 1234 5678", "+4915112345678"),
        ("0049 151 12345678 is my mobile", "0049 151 12345678", "+4915112345678"),
        ("US: +1 (555) 123-4567", "+1 (555) 123-4567", "+15551234567"),
        ("+49 (0)151 1234-5678", "+49 (0)151 1234-5678", "+4915112345678"),
        ("+49-151-1234-5678", "+49-151-1234-5678", "+4915112345678"),
        ("+49.151.1234.5678", "+49.151.1234.5678", "+4915112345678"),
        ("tel:+4915112345678", "+4915112345678", "+4915112345678"),
        ("London +44 20 7946 0958 in 2024", "+44 20 7946 0958", "+442079460958"),
        ("+33 6 12 34 56 78, merci", "+33 6 12 34 56 78", "+33612345678"),
        ("+49 151 1234 5678. 5 bags please", "+49 151 1234 5678", "+4915112345678"),
    ],
)
def test_international_phone_numbers_are_normalised(extractor, text, matched, value):
    assert surface(extractor, text) == [("phone", matched, value)]


@pytest.mark.parametrize(
    "text",
    [
        "Premium is €29 a month, Basic 12€, or $29.90 in the US",
        "I joined in 2024 and again on 2024-05-01 (01/05/2024)",
        "call 0151 12345678",            # national form: no country code, not normalisable
        "+49 151",                        # too short
        "it got +20% more expensive",
        "I have 123456 beans and 4915112345678 grams",
        "AUR-12345678",
    ],
)
def test_no_phone_false_positives(extractor, text):
    assert [e for e in run(extractor, text) if e["entity"] == "phone"] == []


def test_prices_years_and_plain_numbers_give_no_entities_at_all(extractor):
    assert surface(extractor, "€29 or 29€, $12.50, 2024, 1999, 123456, 42, 10:30, 3.5 kg, 15%") == []


# --- odd input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\t", "😀😀😀", "🇩🇪☕️", "\x00\x01", "'", "@", "+", "+++---", "AUR-", "((((", "\u200b", "\ud800"],
)
def test_odd_input_gives_no_entities_and_no_error(extractor, text):
    assert run(extractor, text) == []


def test_mixed_scripts(extractor):
    assert surface(extractor, "Привет 你好 premium ☕ ann@example.com") == [
        ("product", "premium", "premium"), ("email", "ann@example.com", "ann@example.com")]


@pytest.mark.parametrize("text", [None, 42])
def test_message_without_text(extractor, text):
    message = Message(data={TEXT: text} if text is not None else {})
    [processed] = extractor.process([message])
    assert processed.get(ENTITIES) == []


def test_ten_thousand_characters_fast_and_with_correct_offsets(extractor):
    chunk = "Premium coffee, order AUR-12345, mail a@example.com, call +49 151 1234 5678; "
    text = (chunk * (10_000 // len(chunk) + 1))[:10_000]
    started = time.perf_counter()
    found = run(extractor, text)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{elapsed:.2f}s for 10,000 characters"
    assert len(found) >= 4 * (10_000 // len(chunk))
    for e in found:
        assert text[e["start"]:e["end"]] in ("Premium", "AUR-12345", "a@example.com", "+49 151 1234 5678")


@pytest.mark.parametrize(
    "text",
    ["0049 " * 2500, "+1 " * 3500, "1 " * 5000, "aur " * 2500, "order # " * 1250, "premium " * 1500],
    ids=["0049-runs", "plus-1-runs", "digit-runs", "aur-runs", "order-hash-runs", "premium-runs"],
)
def test_pathological_long_input_stays_fast(extractor, text):
    started = time.perf_counter()
    run(extractor, text)
    assert time.perf_counter() - started < 3.0


def test_text_beyond_the_scan_limit_is_ignored(extractor):
    text = "x " * entities_module.MAX_TEXT_CHARS + "premium"
    assert run(extractor, text) == []


def test_typical_messages_take_about_a_millisecond(extractor):
    texts = ["I want the premium plan, my email is Ann@Example.com",
             "where is my order AUR-12345? call me on +49 151 1234 5678", "hi", "how much is the grinder?"] * 50
    started = time.perf_counter()
    extractor.process([Message(data={TEXT: t}) for t in texts])
    per_message = (time.perf_counter() - started) / len(texts)
    assert per_message < 0.02, f"{per_message * 1000:.1f} ms per message"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300) | st.lists(st.sampled_from(
    ["premium", "plan", "AUR", "-", "12345", "123456", "+49", "151", "(", ")", "0", "order", "#", "no.", "@",
     "ann@example.com", " ", "  ", ".", "€29", "2024", "Привет", "😀", "aur", "0049", "/", "the", "one"]),
    max_size=40).map("".join))
def test_any_text_gives_well_formed_entities(extractor, text):
    found = run(extractor, text)
    catalog_ids = set(extractor.catalog.product_ids)
    for previous, entity in itertools.pairwise(found):
        assert previous["end"] <= entity["start"], "entities overlap or are out of order"
    for entity in found:
        assert entity["entity"] in ENTITY_TYPES
        value = entity["value"]
        if entity["entity"] == "product":
            assert value in catalog_ids
        elif entity["entity"] == "order_id":
            assert re.fullmatch(r"AUR-\d{4,8}", value)
        elif entity["entity"] == "phone":
            assert re.fullmatch(r"\+\d{7,15}", value)
        else:
            assert value == value.lower() and "@" in value


# --- configuration ----------------------------------------------------------------------


def test_entities_config_selects_what_is_extracted(tmp_path):
    only_products = make_extractor(tmp_path, entities=["product"])
    text = "premium, AUR-12345, ann@example.com, +49 151 1234 5678"
    assert [e["entity"] for e in run(only_products, text)] == ["product"]
    ids_only = make_extractor(tmp_path, entities=["order_id", "phone"])
    assert [e["entity"] for e in run(ids_only, text)] == ["order_id", "phone"]
    nothing = make_extractor(tmp_path, entities=[])
    assert run(nothing, text) == []


def test_default_config_extracts_everything_from_the_project_catalog(tmp_path, monkeypatch):
    assert CatalogEntityExtractor.get_default_config() == {
        "catalog": "data/business/catalog.yml", "entities": ["product", "order_id", "email", "phone"]}
    monkeypatch.chdir(PROJECT)
    component = CatalogEntityExtractor.create(
        {}, LocalModelStorage(tmp_path), Resource("x"), ExecutionContext(GraphSchema({}), "1"))
    assert component.catalog.source == str(CATALOG)
    assert [e["entity"] for e in run(component, "premium AUR-1234 a@example.com +4915112345678")] == list(
        ENTITY_TYPES)


def test_relative_catalog_path_is_resolved_from_the_working_directory(tmp_path, monkeypatch):
    shop = tmp_path / "shop"
    (shop / "conf").mkdir(parents=True)
    (shop / "conf" / "catalog.yml").write_text(yaml.safe_dump({"products": [{
        "id": "moka_pot", "name": "Moka Pot", "aliases": ["stovetop espresso maker"], "category": "equipment",
        "price": 30, "currency": "EUR", "description": "An Italian classic."}]}), encoding="utf-8")
    monkeypatch.chdir(shop)
    component = make_extractor(tmp_path, catalog="conf/catalog.yml")
    assert surface(component, "a STOVETOP espresso maker or the premium plan?") == [
        ("product", "STOVETOP espresso maker", "moka_pot")]


def test_invalid_catalog_fails_at_creation_naming_file_and_key(tmp_path):
    broken = tmp_path / "catalog.yml"
    broken.write_text(CATALOG.read_text(encoding="utf-8").replace("price: 29", "price: -29"), encoding="utf-8")
    with pytest.raises(CatalogError, match=re.escape(f"{broken}: products[1].price: must not be negative")):
        make_extractor(tmp_path, catalog=str(broken))
    with pytest.raises(CatalogError, match="cannot read catalog"):
        make_extractor(tmp_path, catalog=str(tmp_path / "missing.yml"))


@pytest.mark.parametrize(
    "config, message",
    [
        ({"entities": ["product", "colour"]}, "unknown entity 'colour'"),
        ({"entities": {"product": True}}, "must be a list"),
        ({"catalog": ""}, "catalog: must be the path"),
    ],
)
def test_bad_config_is_rejected(tmp_path, config, message):
    with pytest.raises(InvalidConfigException, match=re.escape(message)):
        make_extractor(tmp_path, **config)


def test_no_spacy_pipeline_is_built_at_import():
    from spacy.language import Language

    assert not any(isinstance(value, Language) for value in vars(entities_module).values())


def test_component_is_registered_as_a_non_trainable_entity_extractor():
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe

    registered = DefaultV1Recipe._from_registry("bot.nlu.entities.CatalogEntityExtractor")
    assert registered.clazz is CatalogEntityExtractor
    assert registered.is_trainable is False
    assert DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR in registered.types


# --- INTEGRATION: a real Rasa NLU model (slow, ~30-60 s) --------------------------------

NLU_DATA = """\
version: "3.1"
nlu:
- intent: place_order
  examples: |
    - I want to order the premium plan
    - sign me up for basic
    - I'd like to buy a grinder
    - can I order the house blend
    - I want premium, my email is joe@example.com
- intent: track_order
  examples: |
    - where is my order AUR-12345
    - my parcel hasn't arrived
    - track order 123456
    - when will my coffee arrive
- intent: greet
  examples: |
    - hello
    - hi there
    - good morning
    - hey
"""


def test_INTEGRATION_trained_rasa_model_returns_catalog_entities(tmp_path, monkeypatch):
    """INTEGRATION (slow): train a tiny NLU model with the component in its pipeline, then parse via Agent."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    monkeypatch.chdir(tmp_path)  # Rasa writes .rasa/ and caches relative to the working directory
    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "cache"))
    monkeypatch.setenv("RASA_TELEMETRY_ENABLED", "false")
    config = {
        "recipe": "default.v1",
        "language": "en",
        "assistant_id": "catalog_entities_test",
        "pipeline": [
            {"name": "WhitespaceTokenizer"},
            {"name": "CountVectorsFeaturizer"},
            {"name": "DIETClassifier", "epochs": 5, "entity_recognition": False, "random_seed": 1,
             "constrain_similarities": True, "evaluate_every_number_of_epochs": 5},
            {"name": "bot.nlu.entities.CatalogEntityExtractor", "catalog": str(CATALOG)},
        ],
    }
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (tmp_path / "nlu.yml").write_text(NLU_DATA, encoding="utf-8")

    model_path = train_nlu(
        config=str(tmp_path / "config.yml"),
        nlu_data=str(tmp_path / "nlu.yml"),
        output=str(tmp_path / "models"),
        fixed_model_name="catalog-entities",
    )
    assert model_path and Path(model_path).exists()

    agent = Agent.load(model_path)
    text = "I want the premium plan, my email is Ann@Example.com"
    parsed = asyncio.run(agent.parse_message(text))

    assert parsed["text"] == text
    assert parsed["intent"]["name"] in {"place_order", "track_order", "greet"}
    found = [(e["entity"], text[e["start"]:e["end"]], e["value"], e["extractor"]) for e in parsed["entities"]]
    assert found == [
        ("product", "premium plan", "premium", "CatalogEntityExtractor"),
        ("email", "Ann@Example.com", "ann@example.com", "CatalogEntityExtractor"),
    ]
