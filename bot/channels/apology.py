"""Every customer hears something: an apology when Rasa handled a message but said nothing.

Rasa 3.6 logs "Encountered an exception while running action ... the actions events are
lost" when the action server is down (killed, restarting, unreachable) and answers nothing:
the REST caller gets `[]` and the web chat visitor waits forever. A failure inside Rasa
(the tracker store raising) ends the same way. Silence is right only while a person owns
the conversation (the tracker is paused). Otherwise the customer is told the bot cannot
answer now, with the reply book's `technical_problem` answer. A paused customer who is still
waiting in the queue hears their place and wait now and then (bot/channels/waiting.py).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.channels import waiting
from bot.channels.rasa_app import running_agent

logger = logging.getLogger(__name__)

IsPaused = Callable[[str], Awaitable[bool | None]]


@cache
def apology(channel: str) -> str:
    from bot.settings import load_settings
    from journey_state.model import all_stage_ids
    from journey_state.replies import load_replies

    settings = load_settings()
    return load_replies(settings.business_dir, all_stage_ids(settings.journeys_dir)).choose("technical_problem", None, channel).text


async def rasa_tracker_paused(conversation_id: str) -> bool | None:
    """Whether Rasa's stored tracker is paused; None if that cannot be read."""
    agent = running_agent()
    if agent is None or agent.tracker_store is None:
        return None
    try:
        tracker = await agent.tracker_store.retrieve(conversation_id)
    except Exception:
        logger.exception("could not read the tracker of %s", conversation_id)
        return None
    return bool(tracker and tracker.is_paused())


# Every way an OutputChannel sends: Rasa's processor calls send_response, which calls the others;
# channels and agents' side effects may call the others directly.
SENDING = ("send_response", "send_text_message", "send_text_with_buttons", "send_quick_replies", "send_image_url",
           "send_attachment", "send_elements", "send_custom_json")


def _count_replies(output: OutputChannel) -> list[int]:
    """Count what goes out through `output`: wraps its sending methods on this instance only."""
    sent = [0]

    def counting(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def send(*args: Any, **kwargs: Any) -> Any:
            sent[0] += 1
            return await original(*args, **kwargs)
        return send

    for name in SENDING:
        original = getattr(output, name, None)
        if original is not None:
            setattr(output, name, counting(original))
    return sent


async def answer_or_apologise(message: UserMessage, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                              channel: str, is_paused: IsPaused | None = None, redelivered: bool = False) -> Any:
    """Hand `message` to Rasa; if nothing was said back and nobody owns the chat, apologise.

    `redelivered`: the channel's provider sends a message again when the webhook fails
    (WhatsApp, Twilio); a failed turn then raises as before, so the channel answers 5xx and the
    message comes back, instead of an apology for a message that will still be answered.
    """
    output = message.output_channel
    sent = _count_replies(output)
    failed = False
    result = None
    try:
        result = await on_new_message(message)
    except Exception:
        if redelivered:
            raise
        # The customer is told below; the cause goes to the log.
        logger.exception("%s: handling the message of %s failed", channel, message.sender_id)
        failed = True
    if sent[0]:
        return result
    # A failed turn was never stored, so the pause state cannot tell: the customer must hear that
    # their message did not get through. A turn Rasa handled in silence is right only when paused.
    paused = None if failed else await (is_paused or rasa_tracker_paused)(message.sender_id)
    if not failed and paused is not False:
        if paused:
            await waiting.update_waiting_customer(message)
        return result
    logger.warning("%s: no reply to %s (%s); sending an apology", channel, message.sender_id,
                   "the turn failed" if failed else "an action failed")
    await output.send_response(message.sender_id, {"text": apology(channel)})
    return result
