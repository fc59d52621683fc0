"""Understanding over the real stack (issue 15): clarification, chit-chat gating, escalation
wording, angry handoffs, repeated not-understood, follow-ups and buttons on the last bubble."""
from __future__ import annotations

import uuid

import pytest
import requests

from devtools.stack import Stack
from journey_state.catalog import load_catalog
from journey_state.store.migrate import upgrade
from journey_state.understanding import load_understanding
from tests.e2e.conftest import PROJECT

BUSINESS = PROJECT / "data" / "business"
RULES = load_understanding(BUSINESS)
CATALOG = load_catalog(BUSINESS / "catalog.yml")
ANGRY_COMPLAINT = "my coffee arrived broken and I am so angry"


@pytest.fixture(scope="module")
def stack(trained_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("understanding")
    url = f"sqlite:///{work / 'journeybot.db'}"
    upgrade(url)
    started = Stack.create(trained_model, url, work / "stack")
    try:
        yield started.start()
    finally:
        started.stop()


def sender(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def texts(messages):
    return [m.get("text") for m in messages]


def parse(stack, text):
    response = requests.post(f"{stack.settings.rasa_url}/model/parse", params={"token": stack.tokens["JOURNEYBOT_RASA_TOKEN"]},
                             json={"text": text}, timeout=30)
    response.raise_for_status()
    return response.json()


def queued(messages) -> bool:
    return any("passing you to a person" in (t or "") for t in texts(messages))


def test_a_middling_message_is_clarified_and_the_chosen_button_answers_and_counts_once(stack, replies):
    who = sender("clara")
    stack.say(who, "hi")
    top = next(r for r in parse(stack, "plans")["intent_ranking"] if r["name"] != "nlu_fallback")
    assert RULES.clarify_confidence <= top["confidence"] < RULES.accept_confidence, top  # the premise: the model is unsure

    asked = stack.say(who, "plans")
    assert texts(asked) == [replies.choose("clarify", "awareness", "rest").text]
    payloads = [b["payload"] for b in asked[0]["buttons"]]
    assert payloads[-1] == "/nlu_fallback" and len(payloads) >= 2  # candidates, then "Something else"
    assert [b["title"] for b in asked[0]["buttons"][:-1]] == [RULES.titles[p[1:]] for p in payloads[:-1]]

    chosen = payloads[0][1:]
    answered = stack.say(who, payloads[0])
    assert texts(answered)[0] == replies.choose(chosen, "awareness", "rest").text

    timeline = stack.api("GET", f"/api/contacts/{contact_id(stack, who)}/timeline").json()
    intents = [item["intent"] for item in timeline["items"] if item["type"] == "touchpoint"]
    # The clarification turn is one not-understood touchpoint; the choice is the intent, once.
    assert intents == ["greet", "nlu_fallback", chosen], intents


def contact_id(stack, who):
    body = stack.api("GET", f"/api/contacts/by-channel/rest/{who}").json()
    return body.get("contact_id") or body["id"]


def test_something_else_then_gibberish_offers_a_person(stack, replies):
    who = sender("sam")
    stack.say(who, "hi")
    assert texts(stack.say(who, "plans")) == [replies.choose("clarify", "awareness", "rest").text]
    refused = stack.say(who, "/nlu_fallback")  # "Something else": not understood, once
    assert texts(refused) == [replies.choose("fallback", "awareness", "rest").text]
    again = stack.say(who, "blorp zing wham")
    assert texts(again)[0] == replies.choose("fallback_offer_human", "awareness", "rest").text
    assert queued(again)


def test_a_miss_then_a_clarification_asks_rather_than_handing_off(stack, replies):
    who = sender("tom")
    stack.say(who, "hi")
    stack.say(who, "blorp zing wham")
    asked = stack.say(who, "plans")
    assert texts(asked) == [replies.choose("clarify", "awareness", "rest").text] and not queued(asked)
    assert queued(stack.say(who, "/nlu_fallback"))  # refusing it is the second miss in a row


@pytest.mark.parametrize("gibberish", ["sdfsdf", "asdkjh qwe", "blorp zing wham", "qqq"])
def test_gibberish_never_gets_chitchat(stack, replies, gibberish):
    chitchat = {replies.choose(i, "awareness", "rest").text for i in ("thanks", "affirm", "deny")}
    who = sender("gib")
    stack.say(who, "hi")
    answer = texts(stack.say(who, gibberish))
    assert not chitchat & set(answer), answer
    assert answer[0] in {replies.choose(i, "awareness", "rest").text for i in ("fallback", "out_of_scope", "clarify")}


def test_yes_after_a_question_is_still_agreement(stack, replies):
    who = sender("yes")
    stack.say(who, "hi")  # "What can I do for you?"
    # The greeting declared what a yes means (replies.yml on_affirm): it is agreement to be helped.
    assert texts(stack.say(who, "yes"))[0] == replies.choose("what_else", "awareness", "rest").text


def test_get_me_a_manager_hands_off_with_an_apology_first(stack, replies):
    who = sender("mgr")
    stack.say(who, "hi")
    answer = stack.say(who, "get me a manager NOW, this is ridiculous!!!")
    assert texts(answer)[0] == replies.choose("handoff_apology", "awareness", "rest").text
    assert queued(answer) and len(answer) == 2


@pytest.mark.parametrize("wording", ["I want to speak to your supervisor", "is there someone real I can talk to"])
def test_asking_for_a_person_in_other_words_hands_off(stack, wording):
    who = sender("esc")
    stack.say(who, "hi")
    assert queued(stack.say(who, wording))


@pytest.mark.parametrize("buy_first", [False, True])
def test_an_angry_complaint_opens_with_an_apology_never_out_of_scope(stack, replies, buy_first):
    who = sender("angry")
    stage = "awareness"
    if buy_first:
        stack.say(who, "I'd like to buy it")
        stage = "purchase"
    answer = stack.say(who, ANGRY_COMPLAINT)
    assert texts(answer)[0] == replies.choose("handoff_apology", stage, "rest").text
    assert replies.choose("out_of_scope", stage, "rest").text not in texts(answer)
    assert queued(answer)


def test_two_not_understood_in_a_row_offer_a_person_even_when_the_second_is_out_of_scope(stack, replies):
    who = sender("twice")
    stack.say(who, "hi")
    first = stack.say(who, "sdfsdf")  # the model says affirm, unsure, and nothing was asked
    assert not queued(first)
    second = stack.say(who, "what's the capital of france")
    assert texts(second)[0] == replies.choose("fallback_offer_human", "awareness", "rest").text
    assert queued(second)


def test_and_the_basic_one_after_premiums_price_answers_basics_price(stack, replies):
    who = sender("ellie")
    stack.say(who, "how much does the premium plan cost?")
    basic = CATALOG.product("basic")
    values = {"product_name": basic.name, "product_price": basic.price_text, "product_description": basic.description}
    answer = stack.say(who, "and the basic one?")
    assert texts(answer)[0] == replies.choose("product_price", "consideration", "rest", values).text
    premium = CATALOG.product("premium")
    again = stack.say(who, "how much is it?")  # "it" is still Basic, the last product discussed
    assert premium.price_text not in texts(again)[0] and basic.price_text in texts(again)[0]
    delivery = stack.say(who, "what about delivery?")
    assert texts(delivery)[0] == replies.choose("delivery_options", "consideration", "rest").text


def test_an_offer_bubble_never_hides_the_buttons(stack, replies):
    who = sender("offer")
    answer = stack.say(who, "how much does the premium plan cost?")
    expected = [b.payload for b in replies.choose("ask_pricing", "awareness", "rest").buttons]
    assert len(answer) >= 2, answer  # the answer, then the welcome offer
    assert [b["payload"] for b in answer[-1].get("buttons", [])] == expected
    assert all(not m.get("buttons") for m in answer[:-1])
