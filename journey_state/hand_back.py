"""Ending a handoff: back to the bot (with a CSAT question) or closed, in the one safe order.

The bot is resumed before the handoff is marked finished: if the bot runtime is down, the
conversation stays with the agent (paused, theirs) instead of with nobody.

After a hand back the bot's first words (the stage's follow-up and the CSAT question) are
one bot turn that the runtime runs under the conversation's lock and that says nothing if
the conversation is paused again. Sent as separate calls, a customer who asked for a person
between them was queued again and still got the follow-up and the CSAT question while
paused (found by bench/soak.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from journey_state.store.handoffs import CLOSED, RETURNED, Handoff, HandoffStore


class BotRuntimeError(Exception):
    """The bot runtime (Rasa) could not do what was asked; adapters raise subclasses."""


class BotRuntime(Protocol):
    def resume(self, conversation_id: str) -> object:
        """Let the bot answer this conversation again."""

    def speak_after_hand_back(self, conversation_id: str) -> object:
        """The follow-up and the CSAT question as one locked bot turn; silent if paused again."""


Step = Literal["resume", "follow_up"]


class BotStepFailed(Exception):
    """A bot runtime call failed; `step` says how far the hand back or close got.

    "resume": nothing changed, the handoff is still the agent's. "follow_up": the handoff is
    finished and the bot answers again, but the follow-up and CSAT question were not sent.
    """

    def __init__(self, step: Step, cause: BotRuntimeError):
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause


@dataclass(frozen=True)
class HandBack:
    handoffs: HandoffStore
    bot: BotRuntime

    def hand_back(self, handoff_id: int, agent: str, admin: bool = False) -> Handoff:
        """Resume the bot, mark the handoff returned, then let the bot follow up and ask for CSAT.

        Raises HandoffError (not the agent's, already finished...) before anything changes,
        and BotStepFailed when Rasa fails.
        """
        h = self.handoffs.check_finish(handoff_id, RETURNED, agent, admin=admin)
        self._resume(h)
        h = self.handoffs.hand_back(handoff_id, agent, admin=admin)
        try:
            self.bot.speak_after_hand_back(h.conversation_id)
        except BotRuntimeError as exc:
            raise BotStepFailed("follow_up", exc) from exc
        return h

    def close(self, handoff_id: int, agent: str, admin: bool = False) -> Handoff:
        """Resume the bot (so the customer is not left unanswered) and close without feedback."""
        h = self.handoffs.check_finish(handoff_id, CLOSED, agent, admin=admin)
        self._resume(h)
        return self.handoffs.close(handoff_id, agent, admin=admin)

    def _resume(self, h: Handoff) -> None:
        try:
            self.bot.resume(h.conversation_id)
        except BotRuntimeError as exc:
            raise BotStepFailed("resume", exc) from exc
