"""journey_state.understanding: clarification, chit-chat gating, escalation wording, follow-ups."""
from __future__ import annotations

from pathlib import Path

import pytest

from journey_state.config_files import BusinessConfigError
from journey_state.understanding import (
    ANGRY_UNCLEAR,
    BY_MODEL,
    BY_WORDING,
    CLARIFY,
    FOLLOW_UP,
    GATED_CHITCHAT,
    TOO_UNSURE,
    Context,
    Parse,
    load_understanding,
    resolve_follow_up,
    understand,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = load_understanding(ROOT / "data" / "business")
ASKED = Context(bot_asked=True, bot_answered=True)
ANSWERED = Context(bot_answered=True)


def parse(text, *ranking, products=(), emotion="neutral", intent=None):
    top = intent or ranking[0][0]
    conf = 0.3 if top == "nlu_fallback" else ranking[0][1]
    return Parse(text, top, conf, tuple(ranking), tuple(products), emotion)


def test_a_confident_clear_intent_is_taken_as_is():
    meant = understand(parse("how much is premium?", ("ask_pricing", 0.97), ("ask_features", 0.01), products=["premium"]), ANSWERED, RULES)
    assert (meant.intent, meant.reason, meant.product) == ("ask_pricing", BY_MODEL, "premium")


def test_middling_confidence_asks_with_the_close_candidates_best_first():
    meant = understand(parse("hmm maybe premium", ("place_order", 0.33), ("compare_products", 0.19), ("ask_features", 0.13),
                             ("ask_pricing", 0.05)), ANSWERED, RULES)
    assert meant.reason == CLARIFY and meant.intent == "nlu_fallback"
    assert meant.candidates == ("place_order", "compare_products", "ask_features")  # 0.05 is too far below 0.33


def test_two_close_intents_are_asked_about_even_when_confident_enough():
    meant = understand(parse("do you deliver to Lyon?", ("nlu_fallback", 0.3), ("ask_delivery_area", 0.49), ("delivery_options", 0.48)),
                       ANSWERED, RULES)
    assert meant.candidates == ("ask_delivery_area", "delivery_options")


def test_candidates_never_include_chitchat_out_of_scope_or_untitled_intents():
    meant = understand(parse("blorp zing", ("nlu_fallback", 0.3), ("greet", 0.25), ("out_of_scope", 0.22), ("affirm", 0.18)),
                       ANSWERED, RULES)
    assert (meant.intent, meant.reason, meant.candidates) == ("nlu_fallback", TOO_UNSURE, ())


def test_too_low_a_confidence_is_not_understood_and_a_clear_out_of_scope_stays_out_of_scope():
    assert understand(parse("zzz", ("ask_pricing", 0.12), ("ask_features", 0.11)), ANSWERED, RULES).reason == TOO_UNSURE
    meant = understand(parse("what's the capital of france", ("out_of_scope", 0.95), ("ask_features", 0.02)), ANSWERED, RULES)
    assert (meant.intent, meant.reason) == ("out_of_scope", BY_MODEL)


def test_a_pressed_button_is_the_customers_choice():
    meant = understand(Parse("/ask_pricing", "ask_pricing", 1.0, (("ask_pricing", 1.0),)), ANSWERED, RULES)
    assert (meant.intent, meant.reason) == ("ask_pricing", BY_MODEL)
    refused = understand(Parse("/nlu_fallback", "nlu_fallback", 1.0, (("nlu_fallback", 1.0),)), ASKED, RULES)
    assert not refused.understood and refused.candidates == ()


@pytest.mark.parametrize(("text", "intent", "conf", "context", "counts"), [
    ("sdfsdf", "affirm", 0.51, ASKED, False),  # not sure enough
    ("ok", "affirm", 0.96, ANSWERED, False),  # nothing was asked
    ("ok", "affirm", 0.96, ASKED, True),
    ("no", "deny", 0.99, Context(), False),
    ("no", "deny", 0.99, ASKED, True),
    ("thanks", "thanks", 0.99, Context(), False),  # the bot has not answered anything
    ("thanks", "thanks", 0.99, ANSWERED, True),
])
def test_chitchat_counts_only_when_sure_and_invited(text, intent, conf, context, counts):
    meant = understand(parse(text, (intent, conf), ("greet", 0.01)), context, RULES)
    assert meant.understood is counts
    assert meant.intent == (intent if counts else "nlu_fallback")
    assert meant.reason == (BY_MODEL if counts else GATED_CHITCHAT)


@pytest.mark.parametrize("text", [
    "get me a manager NOW, this is ridiculous!!!", "I want your SUPERVISOR", "is there someone real?",
    "can I speak to a person please", "let me talk to a human", "your boss, now",
])
def test_asking_for_a_person_in_other_words_hands_off_whatever_the_model_says(text):
    for ranking in ((("out_of_scope", 0.8), ("greet", 0.1)), (("complaint", 0.95),), (("track_order", 0.6),), (("affirm", 0.9),)):
        meant = understand(parse(text, *ranking), ANSWERED, RULES)
        assert (meant.intent, meant.reason) == ("contact_human_agent", BY_WORDING)


def test_a_confident_other_intent_keeps_its_meaning_despite_the_word():
    meant = understand(parse("track the order my manager placed", ("track_order", 0.96)), ANSWERED, RULES)
    assert meant.intent == "track_order"
    assert understand(parse("the management is great", ("out_of_scope", 0.9)), ANSWERED, RULES).intent == "out_of_scope"  # whole words


def test_an_angry_message_the_bot_cannot_place_is_a_complaint():
    meant = understand(parse("my coffee arrived broken and I am so angry", ("out_of_scope", 0.79), emotion="angry"), ANSWERED, RULES)
    assert (meant.intent, meant.reason) == ("complaint", ANGRY_UNCLEAR)
    calm = understand(parse("blorp", ("nlu_fallback", 0.3), ("greet", 0.2)), ANSWERED, RULES)
    assert calm.intent == "nlu_fallback"
    # Emoji alone get their own gentle answer (with a person on offer), not a handoff.
    emoji = understand(parse("😡😡😡", ("nlu_fallback", 0.3), ("affirm", 0.2), emotion="angry"), ANSWERED, RULES)
    assert (emoji.intent, emoji.reason) == ("nlu_fallback", BY_MODEL)


AFTER_PREMIUM_PRICE = Context(bot_answered=True, last_product="premium", last_topic="ask_pricing")


@pytest.mark.parametrize(("text", "products", "model", "expected"), [
    ("and the basic one?", ["basic"], ("nlu_fallback", 0.3), ("ask_pricing", "basic")),
    ("what about basic?", ["basic"], ("compare_products", 0.4), ("ask_pricing", "basic")),
    ("how much is it?", [], ("ask_pricing", 0.95), ("ask_pricing", "premium")),
    ("and what's included?", [], ("ask_features", 0.6), ("ask_features", "premium")),
    ("what about delivery?", [], ("nlu_fallback", 0.3), ("delivery_options", None)),
])
def test_short_follow_ups_resolve_against_the_last_product_and_topic(text, products, model, expected):
    meant = understand(parse(text, model, ("out_of_scope", 0.1), products=products), AFTER_PREMIUM_PRICE, RULES)
    assert (meant.intent, meant.product, meant.reason) == (*expected, FOLLOW_UP)


def test_not_follow_ups():
    rules = RULES.follow_ups
    # A full question names what it asks; nothing was discussed before; a long message.
    assert resolve_follow_up(parse("how much does the premium plan cost?", ("ask_pricing", 1.0), products=["premium"]), AFTER_PREMIUM_PRICE, rules) is None
    assert resolve_follow_up(parse("and the basic one?", ("nlu_fallback", 0.3), products=["basic"]), Context(), rules) is None
    assert resolve_follow_up(parse("how much is it?", ("ask_pricing", 0.95)), Context(last_topic="ask_pricing"), rules) is None
    assert resolve_follow_up(parse("I'd like to buy it", ("place_order", 0.99)), AFTER_PREMIUM_PRICE, rules) is None
    long = "and then I was wondering whether you could possibly tell me about it"
    assert resolve_follow_up(parse(long, ("ask_pricing", 0.3)), AFTER_PREMIUM_PRICE, rules) is None


def test_a_confident_other_intent_is_not_read_as_a_follow_up():
    meant = understand(parse("and can I track my order?", ("track_order", 0.93)), AFTER_PREMIUM_PRICE, RULES)
    assert (meant.intent, meant.reason) == ("track_order", BY_MODEL)


def test_bad_configuration_names_the_file_and_key(tmp_path):
    (tmp_path / "understanding.yml").write_text("accept_confidence: 1.5\n")
    with pytest.raises(BusinessConfigError, match=r"understanding.yml: accept_confidence: must be a number from 0 to 1"):
        load_understanding(tmp_path)
    (tmp_path / "understanding.yml").write_text("max_candidates: 5\n")
    with pytest.raises(BusinessConfigError, match=r"max_candidates: must be 1, 2 or 3"):
        load_understanding(tmp_path)
    (tmp_path / "understanding.yml").write_text("follow_ups: {opener: [and]}\n")
    with pytest.raises(BusinessConfigError, match=r"follow_ups.opener: unknown key"):
        load_understanding(tmp_path)
    (tmp_path / "understanding.yml").write_text("accept_confidence: 0.2\nclarify_confidence: 0.4\n")
    with pytest.raises(BusinessConfigError, match=r"clarify_confidence must not be above accept_confidence"):
        load_understanding(tmp_path)
    (tmp_path / "understanding.yml").write_text("titles: {ask_pricing: Everything about our prices}\n")
    with pytest.raises(BusinessConfigError, match=r"titles.ask_pricing: at most 20 characters, got 27"):
        load_understanding(tmp_path)
    assert load_understanding(tmp_path / "missing").accept_confidence == 0.5  # no file: the defaults
