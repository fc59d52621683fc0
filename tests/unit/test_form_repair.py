"""The repair rules for a message inside a form (journey_state.form_repair), without Rasa."""
from __future__ import annotations

import pytest

from journey_state.form_repair import FormMessage, FormSpec, Move, decide, shorten

ORDER = FormSpec("order_form", ("order_id", "order_email", "order_request"), own_intents=frozenset({"track_order", "cancel_order"}))
NPS = FormSpec("nps_form", ("nps_score", "nps_reason"), optional=frozenset({"nps_reason"}), free_text=frozenset({"nps_reason"}))


def move(form, requested, text, intent="nlu_fallback", confidence=0.9, **values):
    return decide(form, requested, FormMessage(text, intent, confidence, values)).move


@pytest.mark.parametrize("text", ["never mind", "Nevermind.", "stop", "forget it", "cancel that", "ok never mind thanks", "Actually, forget it!", "no thanks"])
def test_cancel_wordings_end_the_form(text):
    assert move(ORDER, "order_id", text) is Move.CANCEL


@pytest.mark.parametrize(
    "text",
    ["I want to talk to a real person", "get me a manager NOW, this is ridiculous!!!", "can I speak to someone real", "human please", "agent", "put me through to customer service"],
)
def test_asking_for_a_person_hands_off_whatever_the_model_says(text):
    assert move(ORDER, "order_id", text, intent="out_of_scope", confidence=0.8) is Move.HUMAN
    assert move(NPS, "nps_score", text, intent="complaint") is Move.HUMAN


def test_a_confident_question_on_another_topic_is_a_digression():
    assert move(ORDER, "order_id", "actually, how much is the premium plan?", intent="ask_pricing", confidence=0.7) is Move.DIGRESSION
    # A guess of the model is not a change of topic: it is a (bad) answer.
    assert move(ORDER, "order_id", "blue fish", intent="ask_pricing", confidence=0.2) is Move.INVALID
    # Restating the form's own task is another try at the question.
    assert move(ORDER, "order_id", "where is my order", intent="track_order") is Move.INVALID


def test_a_valid_value_always_wins_and_an_earlier_slot_is_a_correction():
    assert move(ORDER, "order_id", "cancel order AUR-10042", intent="cancel_order", order_id="AUR-10042") is Move.ANSWER
    assert move(ORDER, "order_email", "sorry, I meant AUR-10043", intent="track_order", order_id="AUR-10043") is Move.CORRECTION
    assert decide(ORDER, "order_email", FormMessage("x", None, 0.0, {"order_id": "AUR-1"})).slot == "order_id"


@pytest.mark.parametrize("text", ["I don't know my order number", "no idea", "i cant find it", "I lost the email", "not sure"])
def test_not_knowing_gets_an_alternative(text):
    assert move(ORDER, "order_id", text) is Move.DONT_KNOW


def test_optional_questions_can_be_skipped_and_free_text_is_an_answer():
    for text in ("skip", "no", "nothing", "I'd rather not", "I don't know"):
        assert move(NPS, "nps_reason", text, intent="deny") is Move.SKIP
    assert move(NPS, "nps_reason", "the delivery was late twice", intent="complaint", confidence=0.95) is Move.ANSWER
    assert move(NPS, "nps_reason", "how do I cancel my order?", intent="cancel_order", confidence=0.9) is Move.DIGRESSION
    # "no" to a required question means no: the form ends.
    assert move(NPS, "nps_score", "no", intent="deny") is Move.CANCEL


def test_gibberish_and_emoji_are_invalid_answers():
    assert move(ORDER, "order_id", "asdfgh") is Move.INVALID
    assert move(ORDER, "order_id", "🙂🙂") is Move.INVALID


def test_quotes_are_never_cut_mid_word():
    assert shorten("short one", 40) == "short one"
    long = "I am not sure which of the numbers in the email is the one you need"
    cut = shorten(long, 40)
    assert cut is not None and cut.endswith("…") and long.startswith(cut[:-1]) and long[len(cut) - 1] == " "
    assert shorten("x" * 10_000, 40) is None  # one endless word: rephrase instead of quoting
