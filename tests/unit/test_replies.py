"""Stage- and channel-aware replies (journey_state/replies.py)."""
from __future__ import annotations

import re
import shutil

import pytest
import yaml

from journey_state.errors import JourneyModelError
from journey_state.replies import (
    REQUIRED_ANSWERS,
    BusinessConfigError,
    Button,
    Reply,
    load_facts,
    load_replies,
    parse_replies,
)

STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")
FACTS = {"business_name": "Aurora Coffee Club", "premium_price": "€29 a month"}

CONFIG = {
    "replies": {
        "greet": {
            "default": "default hello from {business_name}",
            "variants": [
                {"stage": "purchase", "text": "purchase hello"},
                {"channel": "telegram", "text": "telegram hello"},
                {"stage": "purchase", "channel": "telegram", "text": "purchase telegram hello"},
                {"stage": "retention", "channel": "web", "text": "retention web hello"},
            ],
        },
        "ask_pricing": {
            "default": {
                "text": "Premium is {premium_price}.",
                "buttons": [{"title": "Order at {premium_price}", "payload": "/place_order"}],
            },
        },
        "fallback": {"default": "Sorry, I did not get that."},
        "technical_problem": {"default": "Sorry, something went wrong on our side."},
    }
}


def book(config=None, facts=FACTS):
    return parse_replies(config if config is not None else CONFIG, "replies.yml", STAGES, facts)


def config_error(config, source="replies.yml") -> str:
    with pytest.raises(BusinessConfigError) as info:
        parse_replies(config, source, STAGES, FACTS)
    return str(info.value)


def with_greet(**greet):
    required = {answer_id: {"default": "?"} for answer_id in REQUIRED_ANSWERS}
    return {"replies": {"greet": greet, **required}}


# -- the shipped configuration ----------------------------------------------------


def test_shipped_replies_load_against_b2c_stages(business_dir, b2c_model):
    replies = load_replies(business_dir, b2c_model.stage_ids)
    facts = load_facts(business_dir / "business.yml")
    assert {"greet", "fallback", "ask_pricing", "place_order"} <= replies.answer_ids
    for answer_id in replies.answer_ids:
        for stage in (None, *b2c_model.stage_ids):
            reply = replies.choose(answer_id, stage, "telegram")
            assert reply.text.strip()
            # facts are always filled in; what is left are per-turn values (e.g. an order number)
            left = set(re.findall(r"\{([a-z_]+)\}", reply.text + "".join(b.title for b in reply.buttons)))
            assert not left & set(facts), (answer_id, stage, reply.text)
            for button in reply.buttons:
                assert button.title and button.payload


def test_shipped_replies_are_stage_aware(business_dir, b2c_model):
    replies = load_replies(business_dir, b2c_model.stage_ids)
    facts = load_facts(business_dir / "business.yml")
    default = replies.choose("greet", None, "web")
    assert default.text.startswith(f"Hi, welcome to {facts['business_name']}!")
    assert replies.choose("greet", "awareness", "web") == default  # no awareness variant
    assert replies.choose("greet", "consideration", "web").text.startswith(f"Welcome back to {facts['business_name']}")


def test_shipped_replies_load_for_every_journey_model(business_dir, journeys_dir, b2b_model):
    from journey_state.model import all_stage_ids

    replies = load_replies(business_dir, all_stage_ids(journeys_dir))
    # a b2b stage has no variants in the shipped replies, so the default answers
    assert replies.choose("greet", b2b_model.stage_ids[2], "web") == replies.choose("greet", None, "web")


# -- precedence ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "stage,channel,expected",
    [
        ("purchase", "telegram", "purchase telegram hello"),  # stage+channel
        ("purchase", "web", "purchase hello"),  # stage beats nothing
        ("purchase", None, "purchase hello"),
        ("awareness", "telegram", "telegram hello"),  # channel only
        (None, "telegram", "telegram hello"),
        ("retention", "web", "retention web hello"),
        ("retention", "telegram", "telegram hello"),  # stage+channel variant for web does not apply
        ("retention", None, "default hello from Aurora Coffee Club"),
        ("awareness", "web", "default hello from Aurora Coffee Club"),
        (None, None, "default hello from Aurora Coffee Club"),
    ],
)
def test_most_specific_variant_wins(stage, channel, expected):
    assert book().choose("greet", stage, channel).text == expected


def test_stage_beats_channel_regardless_of_file_order():
    config = with_greet(
        default="d",
        variants=[{"channel": "web", "text": "channel"}, {"stage": "purchase", "text": "stage"}],
    )
    assert book(config).choose("greet", "purchase", "web").text == "stage"
    config["replies"]["greet"]["variants"].reverse()
    assert book(config).choose("greet", "purchase", "web").text == "stage"


def test_unknown_answer_id_is_a_key_error():
    with pytest.raises(KeyError):
        book().choose("no_such_answer", None, None)
    assert not book().has("no_such_answer") and book().has("greet")


# -- facts ------------------------------------------------------------------------------


def test_facts_are_substituted_in_text_and_button_titles():
    reply = book().choose("ask_pricing", "consideration", "web")
    assert reply == Reply("Premium is €29 a month.", (Button("Order at €29 a month", "/place_order"),))


def test_per_turn_values_fill_placeholders_and_override_facts():
    config = with_greet(default="Order {order_number} from {business_name}")
    reply = book(config).choose("greet", None, None, values={"order_number": "A-1001"})
    assert reply.text == "Order A-1001 from Aurora Coffee Club"
    assert book(config).choose("greet", None, None).text == "Order {order_number} from Aurora Coffee Club"


def test_unknown_placeholder_stays_visible():
    config = with_greet(default="Hello {customer_name}, welcome to {business_name}")
    assert book(config).choose("greet", None, None).text == "Hello {customer_name}, welcome to Aurora Coffee Club"


def test_load_facts(tmp_path):
    path = tmp_path / "business.yml"
    path.write_text("facts:\n  name: Shop\n  price: 12\n  rate: 1.5\n", encoding="utf-8")
    assert load_facts(path) == {"name": "Shop", "price": "12", "rate": "1.5"}


@pytest.mark.parametrize("value", ["true", "[1, 2]", "{a: 1}", "null"])
def test_fact_values_must_be_text_or_numbers(tmp_path, value):
    path = tmp_path / "business.yml"
    path.write_text(f"facts:\n  name: Shop\n  bad: {value}\n", encoding="utf-8")
    with pytest.raises(BusinessConfigError) as info:
        load_facts(path)
    assert str(info.value) == f"{path}: facts.bad: must be text or a number"


def test_facts_file_needs_facts_mapping(tmp_path):
    path = tmp_path / "business.yml"
    path.write_text("fact:\n  name: Shop\n", encoding="utf-8")
    with pytest.raises(BusinessConfigError, match=re.escape(f"{path}: facts: ")):
        load_facts(path)


# -- validation errors name the file and the key ---------------------------------------


def test_business_config_error_is_a_journey_model_error():
    assert issubclass(BusinessConfigError, JourneyModelError)


def test_missing_default():
    message = config_error(with_greet(variants=[{"stage": "purchase", "text": "x"}]))
    assert message == "replies.yml: replies.greet.default: every answer needs a default variant"


def test_unknown_stage_in_variant():
    message = config_error(with_greet(default="d", variants=[{"channel": "web", "text": "w"}, {"stage": "purchse", "text": "x"}]))
    assert message.startswith("replies.yml: replies.greet.variants[1].stage: unknown stage 'purchse' (stages: ")
    assert "awareness" in message


@pytest.mark.parametrize(
    "variants",
    [
        [{"stage": "purchase", "text": "a"}, {"stage": "purchase", "text": "b"}],
        [{"channel": "web", "text": "a"}, {"channel": "web", "text": "b"}],
        [{"stage": "purchase", "channel": "web", "text": "a"}, {"channel": "web", "stage": "purchase", "text": "b"}],
    ],
)
def test_duplicate_variant(variants):
    message = config_error(with_greet(default="d", variants=variants))
    assert message.startswith("replies.yml: replies.greet.variants[1]: duplicate variant for stage=")


def test_variant_needs_stage_or_channel():
    message = config_error(with_greet(default="d", variants=[{"text": "x"}]))
    assert message == "replies.yml: replies.greet.variants[0]: a variant needs a stage, a channel or both"


@pytest.mark.parametrize(
    "buttons",
    [
        [{"title": "ok", "payload": "/ok"}, {"title": "no payload"}],
        [{"title": "ok", "payload": "/ok"}, {"payload": "/no_title"}],
        [{"title": "ok", "payload": "/ok"}, "just text"],
        [{"title": "ok", "payload": "/ok"}, {"title": 3, "payload": "/x"}],
    ],
)
def test_bad_button(buttons):
    message = config_error(with_greet(default={"text": "d", "buttons": buttons}))
    assert message == "replies.yml: replies.greet.default.buttons[1]: a button needs a title and a payload (both text)"


def test_bad_button_in_variant():
    config = with_greet(default="d", variants=[{"stage": "purchase", "text": "x", "buttons": [{"title": "t"}]}])
    assert config_error(config).startswith("replies.yml: replies.greet.variants[0].buttons[0]: ")


def test_buttons_must_be_a_list():
    message = config_error(with_greet(default={"text": "d", "buttons": {"title": "t", "payload": "/p"}}))
    assert message == "replies.yml: replies.greet.default.buttons: expected a list"


@pytest.mark.parametrize("answer_id", REQUIRED_ANSWERS)
def test_missing_required_answer(answer_id):
    assert "fallback" in REQUIRED_ANSWERS
    config = with_greet(default="hi")
    del config["replies"][answer_id]
    message = config_error(config)
    assert message.startswith(f"replies.yml: replies.{answer_id}: ")
    assert "required" in message


def test_empty_text():
    assert config_error(with_greet(default="  ")) == "replies.yml: replies.greet.default.text: required text is missing or empty"


def test_unknown_key_in_answer_and_variant():
    assert config_error(with_greet(default="d", variant=[])) == "replies.yml: replies.greet.variant: unknown key (use default, variants, on_affirm, on_deny)"
    message = config_error(with_greet(default="d", variants=[{"stage": "purchase", "txt": "x"}]))
    assert message == "replies.yml: replies.greet.variants[0].txt: unknown key"


def test_bad_placeholder_syntax():
    message = config_error(with_greet(default="Hello {business_name"))
    assert message.startswith("replies.yml: replies.greet.default.text: bad placeholder: ")


def test_replies_must_be_a_mapping():
    assert config_error({"reply": {}}).startswith("replies.yml: replies: ")
    assert config_error(None).startswith("replies.yml: replies: ")


def _business_copy(tmp_path, business_dir, replies_text):
    target = tmp_path / "business"
    target.mkdir()
    shutil.copy(business_dir / "business.yml", target / "business.yml")
    (target / "replies.yml").write_text(replies_text, encoding="utf-8")
    return target


def test_malformed_yaml_names_file_line_and_column(tmp_path, business_dir):
    target = _business_copy(tmp_path, business_dir, "replies:\n  greet:\n    default: \"unclosed\n  fallback: x\n")
    with pytest.raises(BusinessConfigError) as info:
        load_replies(target, STAGES)
    message = str(info.value)
    assert message.startswith(f"{target / 'replies.yml'}: malformed YAML (line ")
    assert re.search(r"\(line \d+, column \d+\)", message)


def test_errors_from_files_name_the_file(tmp_path, business_dir):
    config = yaml.safe_dump(with_greet(default="d", variants=[{"stage": "nowhere", "text": "x"}]))
    target = _business_copy(tmp_path, business_dir, config)
    with pytest.raises(BusinessConfigError, match=re.escape(f"{target / 'replies.yml'}: replies.greet.variants[0].stage: unknown stage 'nowhere'")):
        load_replies(target, STAGES)


def test_missing_business_file_names_it(tmp_path):
    with pytest.raises(BusinessConfigError, match=re.escape(f"{tmp_path / 'business.yml'}: cannot read")):
        load_replies(tmp_path, STAGES)
