"""One conversation turn: record it as a journey signal, then pick the stage-appropriate reply."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from journey_state.engine import Signal, Source, Transition
from journey_state.replies import Reply, ReplyBook
from journey_state.identifiers import ChannelRef
from journey_state.store import JourneyStore, Touch

FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})


@dataclass(frozen=True)
class Turn:
    """What the bot knows about one user message."""

    channel: str
    sender_id: str
    message_id: str
    text: str
    intent: str | None
    confidence: float
    at: datetime
    emotion: str | None = None


@dataclass(frozen=True)
class TurnResult:
    contact_id: str
    stage: str
    previous_stage: str
    transitions: tuple[Transition, ...]
    answer_id: str
    reply: Reply


class TurnHandler:
    """Records a turn in the journey store and answers it for the contact's stage."""

    def __init__(self, store: JourneyStore, replies: ReplyBook):
        self.store = store
        self.replies = replies

    def answer_id_for(self, intent: str | None) -> str:
        if intent and intent not in FALLBACK_INTENTS and self.replies.has(intent):
            return intent
        return "fallback"

    def handle(self, turn: Turn) -> TurnResult:
        signal = Signal(
            id=f"msg:{turn.message_id}",
            source=Source.CONVERSATION,
            at=turn.at,
            intent=turn.intent if turn.intent not in FALLBACK_INTENTS else None,
            emotion=turn.emotion,
            confidence=turn.confidence,
            excerpt=turn.text,
        )
        touch = Touch(
            channel=turn.channel,
            message_id=turn.message_id,
            intent=turn.intent,
            confidence=turn.confidence,
            emotion=turn.emotion,
            excerpt=turn.text,
        )
        outcome = self.store.record_signal(ChannelRef(turn.channel, turn.sender_id), signal, touch)
        stage_change = next((t for t in outcome.transitions if t.kind == "stage"), None)
        previous_stage = stage_change.from_value if stage_change else outcome.state.stage
        answer_id = self.answer_id_for(turn.intent)
        # The reply fits the stage the customer was in when they asked: a first pricing
        # question gets the awareness answer, even though asking it moves them on.
        return TurnResult(
            contact_id=outcome.contact_uid,
            stage=outcome.state.stage,
            previous_stage=previous_stage,
            transitions=outcome.transitions,
            answer_id=answer_id,
            reply=self.replies.choose(answer_id, previous_stage, turn.channel),
        )
