"""Demo journeys generated through the real store (engine, offers, feedback, referrals) from a fixed seed.

Every conversation turn is a `JourneyStore.record_signal` with a touchpoint, every order or
review a `record_event`, offers/feedback/referrals go through `ProgramsStore`, so stages,
side states and evidence are decided by the real engine. Three things have no store API and
are written directly: a contact's persona, its `created_at` (the store stamps the wall
clock; it is backdated to the simulated first contact so that cohorts spread over weeks)
and handoff rows (claimed and closed by a simulated agent).

Contacts already present (same seed and index) are skipped, so a re-run adds nothing.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert, update

from journey_state.business_events import EVENT_TYPES, BusinessEvent
from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef
from journey_state.model import JourneyModel
from journey_state.store.programs import ProgramsStore
from journey_state.store.referral_records import ReferralError
from journey_state.store.repository import JourneyStore
from journey_state.store.signals import Touch
from journey_state.store.tables import channel_identities, contacts, handoffs

DEFAULT_SEED = 20261123
CHANNELS = ("socketio", "whatsapp", "telegram")
NEUTRAL = ("greet", "thanks", "goodbye")
FALLBACKS = ("nlu_fallback", "out_of_scope")
TEXTS = {
    "greet": ("hi", "hello!", "good morning"),
    "thanks": ("thanks!", "great, thank you", "cheers"),
    "goodbye": ("bye", "that's all, thanks"),
    "ask_pricing": ("how much is the premium plan?", "what does a bag cost?", "is there a discount?"),
    "ask_features": ("what's in the premium box?", "which roasts do you have?", "is it whole bean?"),
    "compare_products": ("basic or premium, what's the difference?", "which roast is less acidic?"),
    "ask_offers": ("any offers right now?", "do you have a first-order deal?"),
    "ask_payment_plans": ("can I pay monthly?", "do you invoice companies?"),
    "ask_delivery_area": ("do you deliver to Leipzig?", "do you ship to offices?"),
    "place_order": ("I'll take the premium plan", "let's order two bags"),
    "track_order": ("where is my order?", "when will my parcel arrive?"),
    "complaint": ("my order arrived late", "the bag was damaged", "I was charged twice", "the coffee tasted stale"),
    "nlu_fallback": ("asdf", "hmm ok", "my cat likes your logo"),
    "out_of_scope": ("can you book me a taxi?", "what's the weather?"),
}
HANDOFF_REASONS = {
    "complaint": ("customer reports a damaged bag", "double charge on the card", "late delivery"),
    "explicit_request": ("asked for a human", "wants to talk to sales about an office plan"),
    "fallback_streak": ("bot did not understand three times",),
}


@dataclass(frozen=True)
class Persona:
    name: str
    weight: float
    channels: tuple[float, float, float]  # shares of CHANNELS
    advance: float  # probability of moving to the next stage, per step
    purchase_hesitation: float  # extra drop before the purchase stage
    questions: tuple[str, ...]  # favourite intents
    redeem: float
    nps_mean: float
    complain: float


PERSONAS = (
    Persona("bargain_hunter", 0.4, (0.3, 0.5, 0.2), 0.62, 0.45, ("ask_pricing", "ask_offers"), 0.45, 7.6, 0.15),
    Persona("coffee_enthusiast", 0.4, (0.55, 0.2, 0.25), 0.72, 0.15, ("ask_features", "compare_products"), 0.25, 9.3, 0.08),
    Persona("office_manager", 0.2, (0.45, 0.1, 0.45), 0.66, 0.25, ("ask_delivery_area", "ask_payment_plans"), 0.3, 8.4, 0.2),
)


class Simulation:
    """One simulated population; `run` drives `contacts_n` journeys through the store."""

    def __init__(self, store: JourneyStore, programs: ProgramsStore, seed: int = DEFAULT_SEED, days: int = 90, now: datetime | None = None):
        self.store, self.programs, self.model = store, programs, store.model
        self.seed, self.days = seed, days
        self.now = now or datetime.now(timezone.utc).replace(microsecond=0)
        self.rng = random.Random(seed)
        self.codes: list[str] = []
        self.counts = {"contacts": 0, "skipped": 0, "signals": 0, "events": 0, "offers": 0, "redemptions": 0, "feedback": 0, "handoffs": 0, "referrals": 0}

    # -- model-driven choices -----------------------------------------------------------

    def _moves(self, model: JourneyModel, stage_index: int) -> tuple[list[str], list[str]]:
        """(intents, business events) whose rules lead into the stage after `stage_index`."""
        target = model.stages[stage_index + 1].id
        intents, events = [], []
        for rule in model.signals:
            if rule.to == target and (rule.from_stage is None or model.index(rule.from_stage) <= stage_index):
                intents += sorted(rule.when.intents)
                events += sorted(e for e in rule.when.events if e in EVENT_TYPES)
        return intents, events

    def _safe_questions(self, model: JourneyModel, stage_index: int) -> list[str]:
        """Intents that keep the contact where it is (every rule they match leads to this stage or earlier)."""
        furthest: dict[str, int] = {}
        for rule in model.signals:
            for intent in rule.when.intents:
                furthest[intent] = max(furthest.get(intent, -1), model.index(rule.to))
        return [i for i in TEXTS if furthest.get(i, -1) <= stage_index and i not in ("complaint", *FALLBACKS, "place_order")]

    # -- one contact -----------------------------------------------------------------------

    def run(self, contacts_n: int, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        for index in range(contacts_n):
            self.contact(index)
            if progress is not None:
                progress(index + 1, contacts_n)
        self.counts["dormant_marked"] = self.store.mark_dormant(at=self.now)
        return dict(self.counts)

    def contact(self, index: int) -> None:
        rng = random.Random(f"{self.seed}:{index}")
        persona = rng.choices(PERSONAS, weights=[p.weight for p in PERSONAS])[0]
        channel = rng.choices(CHANNELS, weights=persona.channels)[0]
        ref = ChannelRef(channel, f"sim-{self.seed}-{index:06d}")
        if self.store.contact_by_identity(ref) is not None:
            self.counts["skipped"] += 1
            return
        at = self.now - timedelta(days=self.days * rng.random() ** 0.8, minutes=rng.randint(0, 600))
        journey = _Journey(self, rng, persona, channel, ref, at, index)
        journey.play()
        self.counts["contacts"] += 1


class _Journey:
    def __init__(self, sim: Simulation, rng: random.Random, persona: Persona, channel: str, ref: ChannelRef, at: datetime, index: int):
        self.sim, self.rng, self.persona, self.channel, self.ref = sim, rng, persona, channel, ref
        self.model = sim.model
        self.at, self.index, self.turn = at, index, 0
        self.uid: str | None = None
        self.stage_index = self.model.index(self.model.initial_stage)
        self.complained = False

    @property
    def contact_uid(self) -> str:
        """The contact's uid, known from its first signal (every journey starts with a greeting)."""
        if self.uid is None:
            raise RuntimeError("the journey has not started")
        return self.uid

    def tick(self, low_min: float, high_min: float) -> datetime:
        self.at += timedelta(minutes=self.rng.uniform(low_min, high_min))
        return min(self.at, self.sim.now)

    def say(self, intent: str | None, emotion: str | None = None) -> None:
        self.turn += 1
        when = self.tick(1, 30)
        text = self.rng.choice(TEXTS.get(intent or "nlu_fallback", ("...",)))
        signal = Signal(id=f"sim:{self.sim.seed}:{self.index}:{self.turn}", source=Source.CONVERSATION, at=when, intent=intent, emotion=emotion, confidence=round(self.rng.uniform(0.55, 0.99), 3), excerpt=text)
        touch = Touch(channel=self.channel, message_id=signal.id, intent=intent, confidence=signal.confidence, emotion=emotion, excerpt=text)
        outcome = self.sim.store.record_signal(self.ref, signal, touch)
        self.sim.counts["signals"] += 1
        if self.uid is None:
            self.uid = outcome.contact_uid
            self._backdate(when)
        self.stage_index = self.model.index(outcome.state.stage)

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        self.turn += 1
        when = self.tick(60 * 12, 60 * 24 * 4)
        event = BusinessEvent(f"sim:{self.sim.seed}:{self.index}:{self.turn}", kind, self.ref, when, payload)
        outcome = self.sim.store.record_event(event)
        self.sim.counts["events"] += 1
        self.stage_index = self.model.index(outcome.outcome.state.stage)

    def emotion(self, bad: bool = False) -> str | None:
        if bad:
            return self.rng.choice(("angry", "sad", "angry"))
        return self.rng.choices((None, "neutral", "happy", "excited", "sad"), weights=(0.35, 0.35, 0.18, 0.07, 0.05))[0]

    def play(self) -> None:
        rng, persona, sim = self.rng, self.persona, self.sim
        self.say("greet", self.emotion())
        if sim.codes and rng.random() < 0.2:
            try:
                sim.programs.attribute_referral(self.contact_uid, rng.choice(sim.codes), at=self.tick(1, 5))
                sim.counts["referrals"] += 1
            except ReferralError:
                pass
        last = len(self.model.stages) - 1
        while self.stage_index < last:
            self.linger()
            chance = persona.advance * (1 - persona.purchase_hesitation if self.stage_index == 1 else 1)
            if self.complained:
                chance *= 0.6
            if rng.random() > chance:
                self.stall()
                return
            before = self.stage_index
            self.tick(60 * 6, 60 * 24 * 9)  # days pass between stages
            self.advance()
            if self.stage_index <= before:
                return  # the model offers no way forward we can simulate
        self.linger()
        self.advocate()

    def linger(self) -> None:
        """A few turns in the current stage: questions, the odd complaint or fallback, maybe an offer."""
        rng, persona = self.rng, self.persona
        safe = self.sim._safe_questions(self.model, self.stage_index)
        for _ in range(rng.randint(1, 3)):
            favourite = [q for q in persona.questions if q in safe]
            intent = rng.choice(favourite) if favourite and rng.random() < 0.6 else rng.choice(safe or list(NEUTRAL))
            self.say(intent, self.emotion())
        if rng.random() < 0.12 + (0.1 if self.channel == "whatsapp" else 0):
            self.say(rng.choice(FALLBACKS), rng.choice((None, "neutral", "sad")))
        if self.stage_index >= 1 and rng.random() < 0.45:
            self.offer()
        if self.stage_index >= 2 and rng.random() < persona.complain:
            self.complain()

    def offer(self) -> None:
        when = self.tick(1, 10)
        shown = self.sim.programs.present_offer(self.contact_uid, self.channel, at=when)
        if shown is None:
            return
        self.sim.counts["offers"] += 1
        if self.rng.random() < self.persona.redeem:
            self.sim.programs.record_offer_redeemed(self.contact_uid, shown.id, self.channel, at=self.tick(5, 600))
            self.sim.counts["redemptions"] += 1

    def complain(self) -> None:
        self.complained = True
        self.say("complaint", self.emotion(bad=True))
        if self.rng.random() < 0.45:
            self.handoff("complaint")

    def handoff(self, trigger: str) -> None:
        rng = self.rng
        created = self.tick(1, 3)
        claimed = created + timedelta(minutes=rng.uniform(0.5, 25) * (2 if self.channel == "whatsapp" else 1))
        closed = claimed + timedelta(minutes=rng.uniform(3, 35))
        with self.sim.store.engine.begin() as conn:  # no store API for handoffs yet: written directly
            contact_id = conn.execute(contacts.select().where(contacts.c.uid == self.uid)).first().id
            handoff_id = conn.execute(
                insert(handoffs).values(
                    contact_id=contact_id, channel=self.channel, sender_id=self.ref.external_id, trigger=trigger, priority=1 if trigger == "complaint" else 2,
                    status="closed", agent="demo-agent", reason=rng.choice(HANDOFF_REASONS[trigger]), created_at=created, claimed_at=claimed, closed_at=closed,
                )
            ).inserted_primary_key[0]
        self.at = closed
        self.sim.counts["handoffs"] += 1
        if rng.random() < 0.7:
            score = max(1, min(5, round(rng.gauss(3.9, 1.0))))
            self.sim.programs.record_feedback(self.contact_uid, "csat", score, reference=f"sim:{self.sim.seed}:{self.index}:handoff", channel=self.channel, handoff_id=handoff_id, at=self.tick(1, 5))
            self.sim.counts["feedback"] += 1

    def advance(self) -> None:
        intents, events = self.sim._moves(self.model, self.stage_index)
        if intents and (not events or self.rng.random() < 0.7):
            favourite = [q for q in self.persona.questions if q in intents]
            self.say(self.rng.choice(favourite or intents), self.emotion())
        elif events:
            kind = self.rng.choice(events)
            payload = {"order_id": f"SIM-{self.sim.seed}-{self.index}-{self.turn}", "amount": round(self.rng.uniform(12, 90), 2), "currency": "EUR"}
            if kind == "review_posted":
                payload = {"rating": self.rng.choice((4, 5, 5))}
            self.event(kind, payload)

    def stall(self) -> None:
        """The contact drops out here: sometimes frustrated, sometimes just quiet; some give feedback."""
        if self.rng.random() < 0.3:
            last_words = [i for i in ("ask_pricing", "ask_offers") if i in self.sim._safe_questions(self.model, self.stage_index)]
            self.say(self.rng.choice(FALLBACKS + tuple(last_words)), self.emotion(bad=self.rng.random() < 0.5))
        if self.stage_index >= 2 and self.rng.random() < 0.5:
            self.nps(self.persona.nps_mean - 2.5)

    def advocate(self) -> None:
        score = self.nps(self.persona.nps_mean)
        if score is not None and score >= 9 and self.rng.random() < 0.8:
            try:
                issued = self.sim.programs.issue_referral_code(self.contact_uid)
                self.sim.codes.append(issued.code)
            except ReferralError:
                pass

    def nps(self, mean: float) -> int | None:
        if self.rng.random() > 0.7:
            return None
        score = max(0, min(10, round(self.rng.gauss(mean - (2 if self.complained else 0), 1.6))))
        self.sim.programs.record_feedback(self.contact_uid, "nps", score, reference=f"sim:{self.sim.seed}:{self.index}:nps", channel=self.channel, at=self.tick(60, 60 * 24))
        self.sim.counts["feedback"] += 1
        return score

    def _backdate(self, first: datetime) -> None:
        # The store stamps created_at with the wall clock; a simulated contact began at `first`.
        with self.sim.store.engine.begin() as conn:
            contact_id = conn.execute(contacts.select().where(contacts.c.uid == self.uid)).first().id
            conn.execute(update(contacts).where(contacts.c.id == contact_id).values(created_at=first, persona=self.persona.name))
            conn.execute(update(channel_identities).where(channel_identities.c.contact_id == contact_id).values(created_at=first))


def simulate(store: JourneyStore, programs: ProgramsStore, contacts_n: int, seed: int = DEFAULT_SEED, days: int = 90, now: datetime | None = None, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Generate `contacts_n` journeys over the last `days` days; returns what was written."""
    if contacts_n < 0:
        raise ValueError("the number of contacts must be 0 or more")
    return Simulation(store, programs, seed, days, now).run(contacts_n, progress)


def seed_if_empty(store: JourneyStore, programs: ProgramsStore, contacts_n: int = 200, seed: int = DEFAULT_SEED) -> dict[str, int] | None:
    """Demo journeys for an empty database (`make run`); None when it already has contacts."""
    from sqlalchemy import func, select

    with store.read() as conn:
        if conn.execute(select(func.count()).select_from(contacts)).scalar_one():
            return None
    return simulate(store, programs, contacts_n, seed)
