"""A customer waiting for a person hears where they stand, now and then, on every channel.

While a handoff is queued Rasa's tracker is paused and Rasa predicts nothing, so no action
runs and no action server can answer. This runs in the channel gate (bot/channels/apology.py),
the one place every channel's message passes after Rasa handled it. Whether an update is due
is journey_state's rule, checked and stamped in one conditional UPDATE of the handoff
(HandoffStore.waiting_update): two Rasa replicas, or a restart in between, send it once.

The update is also logged as a bot event in Rasa's tracker, so the agent who claims the
conversation reads what the customer was told.
"""
from __future__ import annotations

import asyncio
import logging

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import BotUttered

from bot import services
from bot.channels.rasa_app import running_agent
from journey_state.handoff import message as handoff_message
from journey_state.identifiers import ChannelRef

logger = logging.getLogger(__name__)

# Marks the update in the tracker (the transcript shows it as the bot's, not an agent's).
METADATA = {"journeybot": "waiting_update"}


def due_update(conversation_id: str) -> str | None:
    """The text to send this queued customer now, or None if no update is due."""
    ref = ChannelRef.from_conversation_id(conversation_id)
    handoffs = services.shared().handoffs
    place = handoffs.waiting_update(ref.channel, ref.external_id)
    return None if place is None else handoff_message(handoffs.config, "waiting", place.position, place.wait, ref.channel)


async def update_waiting_customer(message: UserMessage) -> None:
    """Tell a paused customer their place and wait if they are queued and an update is due."""
    try:
        text = await asyncio.to_thread(due_update, message.sender_id)
    except Exception:  # the store or config failing must not fail the customer's turn; silence is the old behaviour
        logger.exception("could not check the waiting update for %s", message.sender_id)
        return
    if text is None:
        return
    await message.output_channel.send_response(message.sender_id, {"text": text})
    await _log_in_tracker(message.sender_id, text)


async def _log_in_tracker(conversation_id: str, text: str) -> None:
    agent = running_agent()
    if agent is None or agent.processor is None:
        return
    try:
        async with agent.lock_store.lock(conversation_id):
            tracker = await agent.processor.get_tracker(conversation_id)
            tracker.update(BotUttered(text, metadata=dict(METADATA)))
            await agent.processor.save_tracker(tracker)
    except Exception:  # the customer already has the update; only the transcript misses it
        logger.exception("could not log the waiting update in the tracker of %s", conversation_id)
