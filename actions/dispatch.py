"""Sending journey_state replies through the Rasa dispatcher."""
from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from journey_state.replies import Reply


def send(dispatcher: CollectingDispatcher, *replies: Reply) -> None:
    for reply in replies:
        dispatcher.utter_message(text=reply.text, buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons])
