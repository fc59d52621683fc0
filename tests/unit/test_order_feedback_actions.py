"""Order-support and feedback actions with real rasa_sdk trackers, a real SQLite store and the demo shop."""
from __future__ import annotations

import asyncio
import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.feedback import (
    ActionAskCsatScore,
    ActionAskNpsScore,
    ActionSubmitCsat,
    ActionSubmitNps,
    ValidateCsatForm,
    ValidateNpsForm,
)
from actions.orders import ActionAskOrderId, ActionOrderSupport, ActionStartOrderRequest, ValidateOrderForm
from actions.tracker_reading import turn_from_tracker
from journey_state.commerce.demo_shop import seed_demo_orders
from journey_state.identifiers import ChannelRef
from journey_state.store import make_engine
from journey_state.store.migrate import upgrade

OWNER = "demo@auroracoffee.example"


@pytest.fixture()
def services(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    orders = seed_demo_orders(make_engine(url), [OWNER])
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", url)
    monkeypatch.setenv("JOURNEYBOT_JOURNEY_MODEL", "b2c")
    runtime.reset()
    yield runtime.services(), {o.status: o for o in orders}
    runtime.reset()


def tracker(text, intent, slots=None, sender="kim", message_id=None) -> Tracker:
    message_id = message_id or f"{sender}-{intent}-{time.monotonic_ns()}"
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [], "message_id": message_id}
    events = [{"event": "user", "text": text, "timestamp": time.time(), "parse_data": message, "input_channel": "rest", "message_id": message_id}]
    all_slots = {"journey_stage": "awareness", "order_request": None, "order_id": None, "order_email": None,
                 "nps_score": None, "nps_reason": None, "csat_score": None, **(slots or {})}
    return Tracker(sender, all_slots, message, events, False, None, {}, "action_listen")


def texts(dispatcher):
    return [m["text"] for m in dispatcher.messages]


def test_tracking_an_order_by_number(services):
    svc, _orders = services
    start = ActionStartOrderRequest().run(CollectingDispatcher(), tracker("where is my order", "track_order"), {})
    assert SlotSet("order_request", "track_order") in start
    d = CollectingDispatcher()
    assert ValidateOrderForm().validate_order_id("aur 10043", d, tracker("aur 10043", "track_order"), {}) == {"order_id": "AUR-10043"}
    d = CollectingDispatcher()
    ActionOrderSupport().run(d, tracker("aur 10043", "track_order", {"order_request": "track_order", "order_id": "AUR-10043"}), {})
    order = svc.orders.backend.get_order("AUR-10043")
    expected = svc.orders.handle("track_order", "AUR-10043", "awareness", "rest")
    assert expected.answer_id == f"order_status_{order.status}"
    assert texts(d) == [expected.reply.text] and "AUR-10043" in texts(d)[0]
    # The customer's message was recorded as a touchpoint in their journey.
    assert svc.store.contact_by_identity(ChannelRef("rest", "kim")) is not None


def test_invalid_and_unknown_order_numbers_get_helpful_replies(services):
    svc, _ = services
    d = CollectingDispatcher()
    asked = tracker("banana", "track_order", {"requested_slot": "order_id", "order_request": "track_order"})
    events = asyncio.run(ValidateOrderForm().run(d, asked, {}))
    assert SlotSet("order_id", None) in events and SlotSet("form_repair", "invalid") in events
    # The next question names the problem instead of repeating itself.
    again = tracker("banana", "track_order", {"order_request": "track_order", "form_repair": "invalid", "form_attempts": 1.0})
    ActionAskOrderId().run(d, again, {})
    assert "'banana'" in texts(d)[0] and "AUR-" in texts(d)[0]
    d = CollectingDispatcher()
    ActionOrderSupport().run(d, tracker("AUR-99999", "track_order", {"order_request": "track_order", "order_id": "AUR-99999"}), {})
    assert texts(d) == [svc.replies.choose("order_not_found", "awareness", "rest", {"order_number": "AUR-99999"}).text]


def test_cancel_needs_the_order_email(services):
    svc, orders = services
    paid = orders["paid"].number
    required = ValidateOrderForm().required_slots
    assert asyncio.run(required([], None, tracker("cancel", "cancel_order", {"order_request": "cancel_order"}), {})) == ["order_id", "order_email"]
    assert asyncio.run(required([], None, tracker("track", "track_order", {"order_request": "track_order"}), {})) == ["order_id"]

    d = CollectingDispatcher()
    ActionOrderSupport().run(d, tracker("x", "cancel_order", {"order_request": "cancel_order", "order_id": paid, "order_email": "thief@example.com"}), {})
    assert "email address it was placed with" in texts(d)[0]
    assert svc.orders.backend.get_order(paid).status == "paid"

    d = CollectingDispatcher()
    ActionOrderSupport().run(d, tracker("x", "cancel_order", {"order_request": "cancel_order", "order_id": paid, "order_email": OWNER}), {})
    assert texts(d)[0].startswith(f"Done: order {paid} is cancelled")
    assert svc.orders.backend.get_order(paid).status in ("cancelled", "refunded")


def test_refund_rules_come_from_the_shop(services):
    _svc, orders = services
    in_transit = orders["in_transit"].number
    d = CollectingDispatcher()
    ActionOrderSupport().run(d, tracker("x", "get_refund", {"order_request": "get_refund", "order_id": in_transit, "order_email": OWNER}), {})
    assert texts(d)[0].startswith(f"I can't refund order {in_transit}:")


def test_nps_form_rejects_bad_answers_and_stores_good_ones(services):
    svc, _ = services
    validate = ValidateNpsForm()
    for bad in ("11", "great", "-1", ""):
        d = CollectingDispatcher()
        events = asyncio.run(validate.run(d, tracker(bad, "give_score", {"requested_slot": "nps_score"}), {}))
        assert SlotSet("nps_score", None) in events
    d = CollectingDispatcher()
    events = asyncio.run(validate.run(d, tracker("I'd say 9", "give_score", {"requested_slot": "nps_score"}), {}))
    assert SlotSet("nps_score", 9.0) in events
    events = asyncio.run(validate.run(d, tracker("skip", "deny", {"requested_slot": "nps_reason", "nps_score": 9.0}), {}))
    assert SlotSet("nps_reason", "") in events

    # The customer has ordered, so a promoter's feedback moves them on to advocacy.
    svc.conversation.handle(turn_from_tracker(tracker("I'd like to buy", "place_order")))

    d = CollectingDispatcher()
    events = ActionSubmitNps().run(d, tracker("great coffee", "inform", {"nps_score": 10.0, "nps_reason": "great coffee"}), {})
    assert SlotSet("nps_score", None) in events and SlotSet("journey_stage", "advocacy") in events
    assert texts(d)[0] == svc.replies.choose("nps_thanks_promoter", "awareness", "rest").text
    assert "AURORA-" in texts(d)[1]  # a promoter is invited to refer friends
    export = svc.store.export(svc.store.contact_by_identity(ChannelRef("rest", "kim"))["id"])
    assert [(f["kind"], f["score"], f["comment"]) for f in export["feedback"]] == [("nps", 10, "great coffee")]


def test_csat_form_rejects_out_of_range_and_words(services):
    svc, _ = services
    for bad in ("great", "6", "0"):
        d = CollectingDispatcher()
        assert ValidateCsatForm().validate_csat_score(bad, d, tracker(bad, "give_score"), {}) == {"csat_score": None}
        events = asyncio.run(ValidateCsatForm().run(d, tracker(bad, "give_score", {"requested_slot": "csat_score"}), {}))
        assert SlotSet("csat_score", None) in events
    d = CollectingDispatcher()
    events = ActionSubmitCsat().run(d, tracker("4", "give_score", {"csat_score": 4.0}), {})
    assert SlotSet("csat_score", None) in events
    export = svc.store.export(svc.store.contact_by_identity(ChannelRef("rest", "kim"))["id"])
    assert [(f["kind"], f["score"]) for f in export["feedback"]] == [("csat", 4)]


def touchpoints(svc, sender="kim") -> list[tuple[str, str]]:
    contact = svc.store.contact_by_identity(ChannelRef("rest", sender))
    if contact is None:
        return []
    return [(t["message_id"], t["intent"]) for t in svc.store.timeline(contact["id"]) if t["type"] == "touchpoint"]


def test_the_message_that_starts_the_nps_form_is_a_journey_touchpoint(services):
    """Soak finding: "I want to leave a review" was answered (the NPS question) but never reached the journey."""
    svc, _ = services
    d = CollectingDispatcher()
    ActionAskNpsScore().run(d, tracker("i want to leave a review", "review", message_id="m-review"), {})
    assert texts(d) == [svc.replies.choose("ask_nps_score", "awareness", "rest").text]
    assert touchpoints(svc) == [("m-review", "review")]
    ActionAskNpsScore().run(CollectingDispatcher(), tracker("i want to leave a review", "review", message_id="m-review"), {})
    assert touchpoints(svc) == [("m-review", "review")]  # a re-ask records nothing twice


def test_a_form_the_console_starts_after_a_hand_back_records_no_turn(services):
    svc, _ = services
    during_handoff = tracker("are you there?", "greet", message_id="m-paused")
    during_handoff.events.append({"event": "resume", "timestamp": time.time()})  # the agent handed back
    ActionAskCsatScore().run(CollectingDispatcher(), during_handoff, {})
    assert touchpoints(svc) == []  # the message was the agent's, not a bot turn


def test_a_customer_with_a_verified_email_who_does_not_know_the_number_picks_an_order(services):
    svc, _orders = services
    svc.store.verify_identifier(ChannelRef("rest", "kim"), "email", OWNER, source="test")
    d = CollectingDispatcher()
    asked = tracker("I don't know my order number", "track_order", {"requested_slot": "order_id", "order_request": "cancel_order"})
    events = asyncio.run(ValidateOrderForm().run(d, asked, {}))
    assert SlotSet("order_id", None) in events and SlotSet("form_repair", "listed") in events
    [listing] = d.messages
    assert OWNER in listing["text"]
    listed = [b["title"].split(",")[0] for b in listing["buttons"]]
    assert listed and all(svc.orders.backend.get_order(n).customer_email == OWNER for n in listed)
    assert all(b["payload"].startswith('/cancel_order{"order_id": "AUR-') for b in listing["buttons"])
    # The listing is the question: the form asks nothing more.
    d = CollectingDispatcher()
    ActionAskOrderId().run(d, tracker("x", "track_order", {"form_repair": "listed"}), {})
    assert d.messages == []
    # Someone who proved nothing gets where to find it and a person, not somebody's orders.
    d = CollectingDispatcher()
    stranger = tracker("no idea", "track_order", {"requested_slot": "order_id", "order_request": "track_order"}, sender="eve")
    events = asyncio.run(ValidateOrderForm().run(d, stranger, {}))
    assert SlotSet("form_repair", "dont_know") in events and d.messages == []
