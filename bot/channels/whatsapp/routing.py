"""Agent pushes to the WhatsApp provider that carried the user's last message.

Both connectors are named "whatsapp" (one person, one conversation, one contact), so for
`output_channel=latest` Rasa asks every "whatsapp" input channel for an output channel and
keeps the last one. Each configured connector registers its output here and hands Rasa a
`RoutedOutput`, which looks up the recipient's provider in `whatsapp_sessions` per message.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot.channels.whatsapp.store import WhatsAppStore
from journey_state.identifiers import sender_on

_outputs: dict[str, Callable[[], OutputChannel]] = {}


def register(provider: str, factory: Callable[[], OutputChannel]) -> None:
    _outputs[provider] = factory


class NumberAddressed(OutputChannel):
    """Provider outputs send to a number; Rasa hands them the conversation id ("whatsapp:+4915...")."""

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await super().send_response(sender_on("whatsapp", recipient_id), message)


class RoutedOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    def __init__(self, store: WhatsAppStore, own_provider: str):
        self.store = store
        self.own_provider = own_provider

    # Rasa addresses the conversation ("whatsapp:+4915..."); providers and the session table
    # want the number. Every method below takes either.

    async def target(self, recipient_id: str) -> OutputChannel:
        provider = await asyncio.to_thread(self.store.provider_of, recipient_id)
        return ((_outputs.get(provider) if provider else None) or _outputs[self.own_provider])()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        number = sender_on(self.name(), recipient_id)
        await (await self.target(number)).send_response(number, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        number = sender_on(self.name(), recipient_id)
        await (await self.target(number)).send_text_message(number, text, **kwargs)

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list, **kwargs: Any) -> None:
        number = sender_on(self.name(), recipient_id)
        await (await self.target(number)).send_text_with_buttons(number, text, buttons, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        number = sender_on(self.name(), recipient_id)
        await (await self.target(number)).send_image_url(number, image, **kwargs)

    async def send_custom_json(self, recipient_id: str, json_message: dict, **kwargs: Any) -> None:
        number = sender_on(self.name(), recipient_id)
        await (await self.target(number)).send_custom_json(number, json_message, **kwargs)
