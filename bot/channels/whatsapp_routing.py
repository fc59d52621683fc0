"""Agent pushes to the WhatsApp provider that carried the user's last message.

Both connectors are named "whatsapp" (one person, one conversation, one contact), so for
`output_channel=latest` Rasa asks every "whatsapp" input channel for an output channel and
keeps the last one. Each configured connector registers its output here and hands Rasa a
`RoutedOutput`, which looks up the recipient's provider in `whatsapp_sessions` per message.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from rasa.core.channels.channel import OutputChannel

from bot.channels.whatsapp_store import WhatsAppStore

_outputs: dict[str, Callable[[], OutputChannel]] = {}


def register(provider: str, factory: Callable[[], OutputChannel]) -> None:
    _outputs[provider] = factory


class RoutedOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    def __init__(self, store: WhatsAppStore, own_provider: str):
        self.store = store
        self.own_provider = own_provider

    async def target(self, recipient_id: str) -> OutputChannel:
        provider = await asyncio.to_thread(self.store.provider_of, recipient_id)
        return (_outputs.get(provider) or _outputs[self.own_provider])()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await (await self.target(recipient_id)).send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await (await self.target(recipient_id)).send_text_message(recipient_id, text, **kwargs)

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list, **kwargs: Any) -> None:
        await (await self.target(recipient_id)).send_text_with_buttons(recipient_id, text, buttons, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await (await self.target(recipient_id)).send_image_url(recipient_id, image, **kwargs)

    async def send_custom_json(self, recipient_id: str, json_message: dict, **kwargs: Any) -> None:
        await (await self.target(recipient_id)).send_custom_json(recipient_id, json_message, **kwargs)
