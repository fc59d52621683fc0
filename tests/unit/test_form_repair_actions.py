"""Conversation repair inside the forms, through the real actions, a real SQLite store and the demo shop."""
from __future__ import annotations

import asyncio
import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.feedback import ActionAskNpsReason, ValidateCsatForm, ValidateNpsForm
from actions.journey_turn import ActionJourneyTurn
from actions.orders import ActionAskOrderId, ActionOrderSupport, ValidateOrderForm
from journey_state.identifiers import ChannelRef
from journey_state.store.migrate import upgrade

ENDED = ActiveLoop(None)


@pytest.fixture()
def services(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'repair.db'}"
    upgrade(url)
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", url)
    monkeypatch.setenv("JOURNEYBOT_JOURNEY_MODEL", "b2c")
    runtime.reset()
    yield runtime.services()
    runtime.reset()


class Chat:
    """One customer's conversation: user events accumulate so "right after the offer" is real."""

    def __init__(self, sender: str = "kim"):
        self.sender = sender
        self.events: list[dict] = []
        self.slots: dict = {"journey_stage": "awareness", "order_request": None, "order_id": None, "order_email": None,
                            "nps_score": None, "nps_reason": None, "csat_score": None, "requested_slot": None,
                            "form_attempts": None, "form_repair": None, "interrupted_form": None}

    def says(self, text: str, intent: str, confidence: float = 0.9, entities=None, **slots) -> Tracker:
        message_id = f"{self.sender}-{len(self.events)}-{time.monotonic_ns()}"
        message = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": entities or [], "message_id": message_id}
        self.events.append({"event": "user", "text": text, "timestamp": time.time(), "parse_data": message,
                            "input_channel": "rest", "message_id": message_id})
        self.slots.update(slots)
        return Tracker(self.sender, dict(self.slots), message, list(self.events), False, None, {}, "action_listen")

    def heard(self, dispatcher: CollectingDispatcher) -> None:
        """The bot's messages join the conversation, as Rasa logs them (chit-chat is judged against them)."""
        for m in dispatcher.messages:
            self.events.append({"event": "bot", "text": m.get("text"), "data": {"buttons": m.get("buttons")}, "timestamp": time.time()})

    def now(self) -> Tracker:
        """The tracker as the next action in the same turn sees it (the form's question)."""
        message = self.events[-1]["parse_data"]
        return Tracker(self.sender, dict(self.slots), message, list(self.events), False, None, {}, "action_listen")

    def apply(self, events) -> None:
        for e in events:
            if e.get("event") == "slot":
                self.slots[e["name"]] = e["value"]


def texts(d: CollectingDispatcher) -> list[str]:
    return [m["text"] for m in d.messages]


def validate(action, chat: Chat, tracker: Tracker) -> tuple[list[dict], CollectingDispatcher]:
    d = CollectingDispatcher()
    events = asyncio.run(action.run(d, tracker, {}))
    chat.apply(events)
    return events, d


def test_never_mind_ends_the_order_form_and_keeps_nothing(services):
    chat = Chat()
    events, d = validate(ValidateOrderForm(), chat, chat.says("never mind", "deny", 0.4, requested_slot="order_id", order_request="cancel_order"))
    assert ENDED in events and SlotSet("order_request", None) in events
    assert texts(d) == [services.replies.choose("form_cancelled", "awareness", "rest").text]
    # The submit rule that follows the form finds nothing to do.
    d = CollectingDispatcher()
    ActionOrderSupport().run(d, chat.says("never mind", "deny"), {})
    assert texts(d) == []


def test_asking_for_a_person_inside_a_form_hands_off_with_the_form_context(services):
    chat = Chat()
    tracker = chat.says("I want to talk to a real person", "out_of_scope", 0.6, requested_slot="order_email",
                        order_id="AUR-10043", order_request="cancel_order")
    events, d = validate(ValidateOrderForm(), chat, tracker)
    assert ConversationPaused() in events and ENDED in events
    handoff = services.handoffs.queue()[0] if hasattr(services.handoffs, "queue") else None
    assert handoff is not None and "AUR-10043" in handoff.reason and "real person" in handoff.reason
    assert texts(d)  # the queue message


def test_a_digression_is_answered_then_the_form_can_resume_where_it_was(services):
    chat = Chat()
    tracker = chat.says("actually, how much is the premium plan?", "ask_pricing", 0.8, requested_slot="order_email",
                        order_id="AUR-10043", order_request="cancel_order")
    events, d = validate(ValidateOrderForm(), chat, tracker)
    said = texts(d)
    assert ENDED in events and "Premium" in said[0] and said[-1] == services.replies.choose(
        "form_resume_offer", "awareness", "rest", {"task": "your order"}).text
    assert chat.slots["order_id"] is None and chat.slots["interrupted_form"]["answers"]["order_id"] == "AUR-10043"
    d = CollectingDispatcher()
    events = ActionJourneyTurn().run(d, chat.says("yes please", "affirm"), {})
    assert FollowupAction("order_form") in events and SlotSet("order_id", "AUR-10043") in events
    assert SlotSet("order_request", "cancel_order") in events and SlotSet("interrupted_form", None) in events


def test_no_to_the_resume_offer_drops_the_form_and_a_late_yes_is_just_a_yes(services):
    chat = Chat()
    validate(ValidateOrderForm(), chat, chat.says("do you deliver on saturdays?", "delivery_options", 0.8, requested_slot="order_id", order_request="track_order"))
    d = CollectingDispatcher()
    events = ActionJourneyTurn().run(d, chat.says("no thanks", "deny"), {})
    assert events == [SlotSet("interrupted_form", None)] and "your order" in texts(d)[0]

    chat = Chat("lee")
    validate(ValidateOrderForm(), chat, chat.says("do you deliver on saturdays?", "delivery_options", 0.8, requested_slot="order_id", order_request="track_order"))
    ActionJourneyTurn().run(CollectingDispatcher(), chat.says("how much is premium", "ask_pricing"), {})
    events = ActionJourneyTurn().run(CollectingDispatcher(), chat.says("yes", "affirm"), {})
    assert not any(e.get("event") == "followup" for e in events)


def test_a_correction_replaces_the_earlier_answer(services):
    chat = Chat()
    entity = [{"entity": "order_id", "value": "AUR-10043", "start": 14, "end": 23}]
    events, d = validate(ValidateOrderForm(), chat, chat.says("sorry, I meant AUR-10043", "track_order", 0.5, entity,
                                                            requested_slot="order_email", order_id="AUR-10042", order_request="cancel_order"))
    assert SlotSet("order_id", "AUR-10043") in events and SlotSet("order_email", None) in events and ENDED not in events
    assert "AUR-10043" in texts(d)[0]


def test_dont_know_and_repeated_invalid_answers_change_the_question_then_stop(services):
    chat = Chat()
    validate(ValidateOrderForm(), chat, chat.says("I don't know my order number", "track_order", 0.7, requested_slot="order_id", order_request="track_order"))
    d = CollectingDispatcher()
    ActionAskOrderId().run(d, chat.now(), {})
    assert texts(d) == [services.replies.choose("ask_order_number_unknown", "awareness", "rest").text]
    assert any(b["payload"] == "/contact_human_agent" for b in d.messages[0]["buttons"])

    questions = []
    for attempt in (1, 2):
        tracker = chat.says("blue banana " * attempt, "nlu_fallback", 0.2, requested_slot="order_id")
        events, _ = validate(ValidateOrderForm(), chat, tracker)
        assert ENDED not in events
        d = CollectingDispatcher()
        ActionAskOrderId().run(d, chat.now(), {})
        questions.append(texts(d)[0])
    assert questions[0] != questions[1] and "blue banana" in questions[0]
    events, d = validate(ValidateOrderForm(), chat, chat.says("purple", "nlu_fallback", 0.2, requested_slot="order_id"))
    assert ENDED in events and texts(d) == [services.replies.choose("form_gave_up", "awareness", "rest").text]


def test_a_long_answer_is_quoted_at_a_word_and_never_stored(services):
    chat = Chat()
    text = "this is not a number at all " * 400
    events, _ = validate(ValidateOrderForm(), chat, chat.says(text, "nlu_fallback", 0.2, requested_slot="order_id"))
    assert SlotSet("order_id", None) in events
    d = CollectingDispatcher()
    ActionAskOrderId().run(d, chat.now(), {})
    quoted = texts(d)[0].split("'")[1]
    assert quoted.endswith("…") and len(quoted) <= 41 and text.startswith(quoted[:-1]) and text[len(quoted) - 1] == " "


def test_the_nps_reason_can_be_skipped_and_csat_lets_the_customer_out(services):
    chat = Chat()
    events, _ = validate(ValidateNpsForm(), chat, chat.says("skip", "deny", requested_slot="nps_reason", nps_score=9.0))
    assert SlotSet("nps_reason", "") in events
    d = CollectingDispatcher()
    ActionAskNpsReason().run(d, chat.says("hi", "greet"), {})
    assert d.messages[0]["buttons"]

    chat = Chat("sam")
    events, d = validate(ValidateCsatForm(), chat, chat.says("I want to talk to a human", "contact_human_agent", 0.7, requested_slot="csat_score"))
    assert ConversationPaused() in events and ENDED in events
    assert not any("score" in t for t in texts(d))
    chat = Chat("ana")
    events, d = validate(ValidateCsatForm(), chat, chat.says("stop", "deny", 0.5, requested_slot="csat_score"))
    assert ENDED in events and SlotSet("csat_score", None) in events


def test_a_question_with_a_number_is_not_a_score(services):
    chat = Chat()
    events, d = validate(ValidateNpsForm(), chat, chat.says("do you have 2 plans?", "ask_pricing", 0.8, requested_slot="nps_score"))
    assert SlotSet("nps_score", 2.0) not in events and ENDED in events
    assert "Premium" in texts(d)[0]  # answered as the question it is
    contact = services.store.contact_by_identity(ChannelRef("rest", "kim"))
    assert contact is not None


DOMAIN = {"intents": ["affirm", "deny", "ask_pricing", "ask_features", "contact_human_agent", "greet"]}


def test_yes_and_no_mean_what_the_bots_question_declared(services):
    chat = Chat()
    d = CollectingDispatcher()
    chat.apply(ActionJourneyTurn().run(d, chat.says("how much is premium", "ask_pricing"), DOMAIN))
    chat.heard(d)
    assert chat.slots["pending_answer"]["affirm"] == "ask_features"
    d = CollectingDispatcher()
    chat.apply(ActionJourneyTurn().run(d, chat.says("yes please", "affirm"), DOMAIN))
    assert texts(d)[0] == services.replies.choose("ask_features", "consideration", "rest").text
    # The journey saw a features question, not a bare "yes".
    contact = services.store.contact_by_identity(ChannelRef("rest", "kim"))
    intents = [t["intent"] for t in services.store.timeline(contact["id"]) if t["type"] == "touchpoint"]
    assert intents[-1] == "ask_features"

    other = Chat("lee")
    d = CollectingDispatcher()
    other.apply(ActionJourneyTurn().run(d, other.says("hello", "greet"), DOMAIN))
    other.heard(d)
    d = CollectingDispatcher()
    ActionJourneyTurn().run(d, other.says("no", "deny"), DOMAIN)
    assert texts(d) == [services.replies.choose("no_problem", "awareness", "rest").text]


def test_yes_to_a_person_following_up_hands_off(services):
    chat = Chat()
    chat.slots["pending_answer"] = {"affirm": "contact_human_agent", "deny": "no_problem", "user_turn": 0}
    chat.events.append({"event": "bot", "text": "Would you like a person from our team to follow up?", "timestamp": time.time()})
    d = CollectingDispatcher()
    events = ActionJourneyTurn().run(d, chat.says("yes", "affirm"), DOMAIN)
    assert ConversationPaused() in events and "queue" in texts(d)[0]
    # A "yes" long after the question is just a yes.
    later = Chat("sam")
    later.slots["pending_answer"] = {"affirm": "contact_human_agent", "deny": "no_problem", "user_turn": 0}
    later.says("hi", "greet")
    events = ActionJourneyTurn().run(CollectingDispatcher(), later.says("yes", "affirm"), DOMAIN)
    assert ConversationPaused() not in events


def test_a_bare_order_number_answers_the_question_whatever_the_model_guesses(services):
    chat = Chat()
    entity = [{"entity": "order_id", "value": "AUR-10043", "start": 0, "end": 9}]
    events, _ = validate(ValidateOrderForm(), chat, chat.says("AUR-10043", "cancel_order", 0.9, entity, requested_slot="order_id", order_request="track_order"))
    assert SlotSet("order_id", "AUR-10043") in events
    assert not any(e["name"] == "order_request" for e in events if e.get("event") == "slot")


def test_sorry_i_meant_at_the_nps_reason_corrects_the_score(services):
    chat = Chat()
    events, d = validate(ValidateNpsForm(), chat, chat.says("sorry i meant 9", "give_score", 0.8, requested_slot="nps_reason", nps_score=6.0))
    assert SlotSet("nps_score", 9.0) in events and SlotSet("nps_reason", None) in events
    assert texts(d) == ["Got it, I've changed that to 9."]
    events, _ = validate(ValidateNpsForm(), chat, chat.says("the 2 bags came late", "complaint", 0.9, requested_slot="nps_reason"))
    assert SlotSet("nps_reason", "the 2 bags came late") in events and SlotSet("nps_score", 2.0) not in events


def test_tracking_needs_no_email_after_a_repaired_answer(services):
    chat = Chat()
    domain = {"forms": {"order_form": {"required_slots": ["order_id", "order_email"]}}}
    entity = [{"entity": "order_id", "value": "AUR-10043", "start": 0, "end": 9}]
    d = CollectingDispatcher()
    events = asyncio.run(ValidateOrderForm().run(d, chat.says("AUR-10043 👍", "track_order", 0.9, entity, requested_slot="order_id", order_request="track_order"), domain))
    assert SlotSet("order_id", "AUR-10043") in events and events[-1] == SlotSet("requested_slot", None)
    chat = Chat("lee")
    events = asyncio.run(ValidateOrderForm().run(d, chat.says("AUR-10043", "cancel_order", 0.9, entity, requested_slot="order_id", order_request="cancel_order"), domain))
    # The domain's slots are the cancel form's: Rasa asks for the email itself.
    assert SlotSet("order_id", "AUR-10043") in events and SlotSet("requested_slot", None) not in events


def test_a_form_answer_is_no_journey_signal_of_the_models_guess(services):
    chat = Chat()
    entity = [{"entity": "email", "value": "lena@auroracoffee.example", "start": 0, "end": 25}]
    validate(ValidateOrderForm(), chat, chat.says("LENA@AuroraCoffee.example", "compare_products", 0.95, entity,
                                                  requested_slot="order_email", order_id="AUR-10054", order_request="cancel_order"))
    contact = services.store.contact_by_identity(ChannelRef("rest", "kim"))
    assert contact["stage"] == "awareness"
    assert [t["intent"] for t in services.store.timeline(contact["id"]) if t["type"] == "touchpoint"] == [None]
