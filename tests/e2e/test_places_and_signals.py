"""Delivery questions naming a place, and journey signals in plain words, through the real stack."""
from __future__ import annotations

import uuid


def texts(messages):
    return [m.get("text") for m in messages]


def contact(stack, sender):
    response = stack.api("GET", f"/api/contacts/by-channel/rest/{sender}")
    assert response.status_code == 200, response.text
    return response.json()


def test_delivery_questions_are_answered_for_the_place_they_name(stack_factory, sqlite_db, replies):
    stack = stack_factory(sqlite_db)
    sender = f"dana-{uuid.uuid4().hex[:8]}"

    hamburg = texts(stack.say(sender, "do you deliver to Hamburg?"))
    assert hamburg[0] == (
        "Yes, we deliver to Hamburg (Germany): it takes 1–2 working days and delivery is free. "
        "Free delivery with DHL, usually the next working day."
    )
    assert contact(stack, sender)["stage"] == "consideration"  # a delivery question is one of evaluating

    austria = texts(stack.say(sender, "do you deliver to Austria?"))
    assert austria[0].startswith("Yes, we deliver to Austria: it takes 3–5 working days and delivery costs €4.90.")

    canada = texts(stack.say(sender, "can you ship to Toronto?"))
    assert canada[0].startswith("Sorry, we don't deliver to Toronto (Canada) yet; we deliver to Germany, the rest of")

    unknown = texts(stack.say(sender, "do you deliver to Narnia?"))
    assert unknown[0].startswith("Which country should it go to? We deliver to Germany,")
    assert unknown[0] != replies.choose("ask_delivery_area", "consideration", "rest").text


def test_signing_up_for_a_plan_buys_and_recommending_us_makes_an_advocate(stack_factory, sqlite_db, replies):
    stack = stack_factory(sqlite_db)
    sender = f"erin-{uuid.uuid4().hex[:8]}"

    signup = texts(stack.say(sender, "ok sign me up for premium"))
    assert signup[0] != replies.choose("create_account", "awareness", "rest").text
    after_signup = contact(stack, sender)
    assert after_signup["stage"] == "purchase"
    assert after_signup["transitions"][-1]["evidence"]["rule"] == "decides_to_buy"

    praise = texts(stack.say(sender, "honestly I love it, I'd recommend you to all my friends"))
    assert praise[0].startswith("Here's your personal referral code: ")
    after_praise = contact(stack, sender)
    assert after_praise["stage"] == "advocacy"
    evidence = after_praise["transitions"][-1]["evidence"]
    assert evidence["rule"] == "recommends_in_words"
    assert evidence["excerpt"] == "honestly I love it, I'd recommend you to all my friends"

    # A prospect who has bought nothing gets the referral programme, not an advocate's code.
    prospect = f"finn-{uuid.uuid4().hex[:8]}"
    words = texts(stack.say(prospect, "I love it, I'd recommend you to all my friends"))
    assert words[0] == replies.choose("refer_friend", "awareness", "rest").text
    assert contact(stack, prospect)["stage"] == "awareness"
