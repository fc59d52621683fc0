"""Synthetic journey history for bench/journey_store.py, generated from a fixed seed and bulk-loaded.

Contacts are spread over the b2c stages; each has one or two channel identities, an
activity window within the last year, and touchpoints in that window whose stage rises
towards the contact's final stage. Every stage change is a transition with evidence
(an intent for consideration/purchase, a business event for retention/advocacy), every
touchpoint and event has its applied_signals row, contacts quiet for longer than the
model's dormancy limit are dormant, and an angry message after purchase makes a contact
at risk. Rows are inserted in chronological order, in batches.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.sql.schema import Table

from journey_state.identifiers import ChannelRef
from journey_state.model import JourneyModel
from journey_state.store.tables import (
    applied_signals,
    business_events,
    channel_identities,
    contacts,
    touchpoints,
    transitions,
)

BATCH = 10_000
DAY = 86_400.0
HISTORY_DAYS = 365
MEAN_ACTIVE_DAYS = 30

STAGE_SHARE = (0.40, 0.27, 0.15, 0.13, 0.05)  # b2c: awareness .. advocacy
TOUCH_WEIGHT = (1.0, 1.5, 2.0, 3.0, 3.5)  # later stages talk more
CHANNELS = ("rest", "telegram", "whatsapp", "facebook")
CHANNEL_SHARE = (0.45, 0.25, 0.20, 0.10)
SECOND_IDENTITY = 0.15
EMOTIONS = (None, "neutral", "happy", "angry", "sad")
EMOTION_SHARE = (0.70, 0.15, 0.08, 0.04, 0.03)
INTENTS = ("greet", "goodbye", "thanks", "ask_pricing", "ask_features", "compare_products", "place_order", "track_order", "nlu_fallback")
INTENT_SHARE = (0.18, 0.08, 0.12, 0.14, 0.10, 0.05, 0.06, 0.17, 0.10)
NEUTRAL_INTENTS = (0, 1, 2, 7, 8)  # greet, goodbye, thanks, track_order, nlu_fallback: never move a contact
OFFER_INTENTS = (3, 4, 5)  # ask_pricing, ask_features, compare_products -> consideration
PLACE_ORDER = 6
TEXTS = {
    "greet": ("hi", "hello there", "good morning"),
    "goodbye": ("bye", "see you", "that's all, bye"),
    "thanks": ("thanks!", "thank you so much", "great, thanks"),
    "ask_pricing": ("how much does the premium plan cost?", "what is the price?", "is there a discount?"),
    "ask_features": ("what's included in premium?", "does it work offline?", "which sizes do you have?"),
    "compare_products": ("what's the difference between basic and premium?", "is model A better than B?"),
    "place_order": ("I'd like to buy it", "I want to order two", "let's do it, how do I pay?"),
    "track_order": ("where is my order?", "my parcel hasn't arrived yet", "can I change the delivery address?"),
    "nlu_fallback": ("asdf", "hmm", "my cat likes your logo"),
}
# Stage index -> (rule, evidence) of the transition into it.
ENTRY = {
    1: ("evaluates_offer", "intent"),
    2: ("decides_to_buy", "intent"),
    3: ("order_received", "order_delivered"),
    4: ("recommends_brand", "review_posted"),
}


def external_id(channel: str, contact_id: int) -> str:
    """The external id of a generated contact on a channel."""
    if channel == "whatsapp":
        return f"+4915{contact_id:09d}"
    if channel == "telegram":
        return str(700_000_000 + contact_id)
    return f"{channel}-{contact_id:08d}"


def stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(float(epoch), timezone.utc)


@dataclass
class Dataset:
    """Arrays describing the generated history; contact i (0-based) has id i + 1."""

    model: JourneyModel
    seed: int
    end: float  # epoch seconds; all history is before this
    stage: np.ndarray  # final stage index per contact
    channel: np.ndarray  # primary channel index per contact
    second: np.ndarray  # second channel index per contact, -1 for none
    created: np.ndarray
    last: np.ndarray
    dormant: np.ndarray
    risk_touch: np.ndarray  # touch index that made the contact at risk, -1 for none
    t_owner: np.ndarray  # per touchpoint, chronological: contact index
    t_at: np.ndarray
    t_stage: np.ndarray
    t_from: np.ndarray  # stage before the touch (differs from t_stage where it moved the contact)
    t_channel: np.ndarray
    t_intent: np.ndarray
    t_emotion: np.ndarray
    t_confidence: np.ndarray
    t_text: np.ndarray
    t_ids: str  # 32 hex characters of message id per touchpoint, concatenated

    @property
    def contacts(self) -> int:
        return len(self.stage)

    @property
    def touchpoints(self) -> int:
        return len(self.t_owner)

    def identities(self, index: int) -> list[ChannelRef]:
        """The channel identities of contact `index` (0-based)."""
        channels = [self.channel[index]] + ([self.second[index]] if self.second[index] >= 0 else [])
        return [ChannelRef(CHANNELS[c], external_id(CHANNELS[c], index + 1)) for c in channels]

    def message_id(self, touch: int) -> str:
        return self.t_ids[32 * touch : 32 * touch + 32]

    def summary(self) -> str:
        stages = ", ".join(f"{s} {int((self.stage == i).sum())}" for i, s in enumerate(self.model.stage_ids))
        return (
            f"{self.contacts} contacts ({stages}; dormant {int(self.dormant.sum())}, "
            f"at risk {int((self.risk_touch >= 0).sum())}), {self.touchpoints} touchpoints, seed {self.seed}"
        )


def generate(model: JourneyModel, contacts_n: int, touches_n: int, seed: int, end: float) -> Dataset:
    """Draw the whole history as arrays (no rows yet)."""
    if model.stage_ids != ("awareness", "consideration", "purchase", "retention", "advocacy"):
        raise ValueError(f"the generator expects the b2c stages, got {model.stage_ids}")
    rng = np.random.default_rng(seed)
    target = rng.choice(5, contacts_n, p=STAGE_SHARE)
    channel = rng.choice(len(CHANNELS), contacts_n, p=CHANNEL_SHARE)
    second = np.where(rng.random(contacts_n) < SECOND_IDENTITY, (channel + rng.integers(1, len(CHANNELS), contacts_n)) % len(CHANNELS), -1)
    created = end - HISTORY_DAYS * DAY * rng.random(contacts_n) ** 1.5  # more contacts recently
    active = np.minimum(rng.exponential(MEAN_ACTIVE_DAYS * DAY, contacts_n), end - created)
    weight = np.asarray(TOUCH_WEIGHT)[target] * rng.lognormal(0.0, 0.75, contacts_n)

    owner = rng.choice(contacts_n, touches_n, p=weight / weight.sum())
    at = created[owner] + rng.random(touches_n) * active[owner]
    chronological = np.argsort(at, kind="stable")
    owner, at = owner[chronological], at[chronological]

    count = np.bincount(owner, minlength=contacts_n)
    by_owner = np.argsort(owner, kind="stable")  # per contact, in time order
    starts = np.concatenate(([0], np.cumsum(count)[:-1]))
    rank = np.empty(touches_n, dtype=np.int64)
    rank[by_owner] = np.arange(touches_n) - starts[owner[by_owner]]
    n, t = count[owner], target[owner]
    t_stage = np.where(rank == n - 1, t, rank * t // np.maximum(n - 1, 1))
    t_from = np.zeros(touches_n, dtype=np.int64)
    same = owner[by_owner[1:]] == owner[by_owner[:-1]]
    t_from[by_owner[1:][same]] = t_stage[by_owner[:-1][same]]

    stage = np.where(count > 0, target, 0)
    last = created.copy()
    has = count > 0
    last[has] = at[by_owner[starts[has] + count[has] - 1]]
    dormant = last < end - model.dormant_after.total_seconds()

    intent = _intents(rng, t_from, t_stage)
    emotion = rng.choice(len(EMOTIONS), touches_n, p=EMOTION_SHARE)
    risky = np.flatnonzero((emotion == EMOTIONS.index("angry")) & (t_stage >= model.index(model.at_risk.from_stage)))
    risk_touch = np.full(contacts_n, -1, dtype=np.int64)
    first_owner, first_at = np.unique(owner[risky], return_index=True)
    risk_touch[first_owner] = risky[first_at]

    return Dataset(
        model=model,
        seed=seed,
        end=end,
        stage=stage,
        channel=channel,
        second=second,
        created=created,
        last=last,
        dormant=dormant,
        risk_touch=risk_touch,
        t_owner=owner,
        t_at=at,
        t_stage=t_stage,
        t_from=t_from,
        t_channel=np.where((second[owner] >= 0) & (rng.random(touches_n) < 0.3), second[owner], channel[owner]),
        t_intent=intent,
        t_emotion=emotion,
        t_confidence=np.round(rng.uniform(0.55, 0.99, touches_n), 4),
        t_text=rng.integers(0, 1 << 16, touches_n),
        t_ids=rng.bytes(16 * touches_n).hex(),
    )


def _intents(rng: np.random.Generator, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Intents consistent with the stages: only the touches that move a contact carry a moving intent."""
    intent = rng.choice(len(INTENTS), len(before), p=INTENT_SHARE)
    neutral = np.asarray(NEUTRAL_INTENTS)[rng.integers(0, len(NEUTRAL_INTENTS), len(before))]
    would_move = (np.isin(intent, OFFER_INTENTS) & (before < 1)) | ((intent == PLACE_ORDER) & (before < 2))
    intent = np.where(would_move, neutral, intent)
    moved = after > before
    intent = np.where(moved & (after == 1), np.asarray(OFFER_INTENTS)[rng.integers(0, 3, len(before))], intent)
    return np.where(moved & (after == 2), PLACE_ORDER, intent)


# -- rows ---------------------------------------------------------------------------------


def rows(data: Dataset) -> Iterator[tuple[Table, list[dict]]]:
    """(table, batch of rows) in foreign-key order: contacts and identities first."""
    yield from _batched(contacts, _contacts(data))
    yield from _batched(channel_identities, _identities(data))
    yield from _batched(touchpoints, _touchpoints(data))
    yield from _batched(transitions, _transitions(data))
    yield from _batched(business_events, _events(data))
    yield from _batched(applied_signals, _applied(data))


def _batched(table: Table, items: Iterator[dict]) -> Iterator[tuple[Table, list[dict]]]:
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield table, batch
            batch = []
    if batch:
        yield table, batch


def _contacts(data: Dataset) -> Iterator[dict]:
    stages = data.model.stage_ids
    limit = data.model.dormant_after.total_seconds()
    for i in range(data.contacts):
        updated = data.last[i] + limit if data.dormant[i] else data.last[i]
        yield {
            "id": i + 1,
            "uid": f"{data.seed:08x}{i:024x}",
            "journey_model": data.model.id,
            "stage": stages[data.stage[i]],
            "at_risk": bool(data.risk_touch[i] >= 0),
            "dormant": bool(data.dormant[i]),
            "persona": None,
            "created_at": stamp(data.created[i]),
            "updated_at": stamp(updated),
            "last_activity_at": stamp(data.last[i]),
        }


def _identities(data: Dataset) -> Iterator[dict]:
    for i in range(data.contacts):
        for ref in data.identities(i):
            yield {"contact_id": i + 1, "channel": ref.channel, "external_id": ref.external_id, "created_at": stamp(data.created[i])}


def _text(data: Dataset, touch: int) -> str:
    options = TEXTS[INTENTS[data.t_intent[touch]]]
    return options[data.t_text[touch] % len(options)]


def _touchpoints(data: Dataset) -> Iterator[dict]:
    stages = data.model.stage_ids
    for k in range(data.touchpoints):
        yield {
            "contact_id": int(data.t_owner[k]) + 1,
            "channel": CHANNELS[data.t_channel[k]],
            "message_id": data.message_id(k),
            "intent": INTENTS[data.t_intent[k]],
            "confidence": float(data.t_confidence[k]),
            "emotion": EMOTIONS[data.t_emotion[k]],
            "stage": stages[data.t_stage[k]],
            "excerpt": _text(data, k),
            "at": stamp(data.t_at[k]),
        }


def _event_key(touch: int, event: str) -> str:
    return f"seed-{event}-{touch}"


def _transition(contact: int, kind: str, frm: str, to: str, at: float, evidence: dict) -> dict:
    return {"contact_id": contact + 1, "kind": kind, "from_value": frm, "to_value": to, "at": stamp(at), **evidence}


def _message_evidence(data: Dataset, touch: int, rule: str) -> dict:
    return {
        "signal_type": "intent",
        "source": "conversation",
        "signal_id": f"msg:{data.message_id(touch)}",
        "excerpt": _text(data, touch),
        "confidence": float(data.t_confidence[touch]),
        "rule": rule,
    }


def _transitions(data: Dataset) -> Iterator[dict]:
    """Stage changes and at-risk flags in time order, then the dormancy flags."""
    stages = data.model.stage_ids
    risk_at = np.zeros(data.touchpoints, dtype=bool)
    risk_at[data.risk_touch[data.risk_touch >= 0]] = True
    for k in np.flatnonzero((data.t_stage > data.t_from) | risk_at):
        contact, frm, to = int(data.t_owner[k]), int(data.t_from[k]), int(data.t_stage[k])
        if to > frm:
            rule, cause = ENTRY[to]
            if cause == "intent":
                evidence = _message_evidence(data, k, rule)
            else:
                key = _event_key(k, cause)
                evidence = {"signal_type": "event", "source": "event", "signal_id": f"event:{key}", "excerpt": cause, "confidence": 1.0, "rule": rule}
            yield _transition(contact, "stage", stages[frm], stages[to], data.t_at[k], evidence)
        if risk_at[k]:
            yield _transition(contact, "at_risk", "off", "on", data.t_at[k], _message_evidence(data, k, "at_risk"))
    limit = data.model.dormant_after.total_seconds()
    for i in np.flatnonzero(data.dormant):
        evidence = {"signal_type": "inactivity", "source": "time", "signal_id": _dormant_signal(data, i), "excerpt": "", "confidence": 1.0, "rule": "dormant_after_inactivity"}
        yield _transition(int(i), "dormant", "off", "on", data.last[i] + limit, evidence)


def _dormant_signal(data: Dataset, contact: int) -> str:
    return f"time:dormant:{stamp(data.last[contact]).isoformat()}"


def _event_touches(data: Dataset) -> np.ndarray:
    return np.flatnonzero((data.t_stage > data.t_from) & (data.t_stage >= 3))


def _events(data: Dataset) -> Iterator[dict]:
    for k in _event_touches(data):
        cause = ENTRY[int(data.t_stage[k])][1]
        yield {
            "idempotency_key": _event_key(k, cause),
            "type": cause,
            "contact_id": int(data.t_owner[k]) + 1,
            "occurred_at": stamp(data.t_at[k]),
            "received_at": stamp(data.t_at[k] + 2.0),
            "payload": {"order_id": f"A{k:07d}", "amount": float(20 + k % 180), "currency": "EUR"},
        }


def _applied(data: Dataset) -> Iterator[dict]:
    for k in range(data.touchpoints):
        yield {"contact_id": int(data.t_owner[k]) + 1, "signal_id": f"msg:{data.message_id(k)}", "at": stamp(data.t_at[k])}
    for k in _event_touches(data):
        cause = ENTRY[int(data.t_stage[k])][1]
        yield {"contact_id": int(data.t_owner[k]) + 1, "signal_id": f"event:{_event_key(k, cause)}", "at": stamp(data.t_at[k])}
    limit = data.model.dormant_after.total_seconds()
    for i in np.flatnonzero(data.dormant):
        yield {"contact_id": int(i) + 1, "signal_id": _dormant_signal(data, i), "at": stamp(data.last[i] + limit)}


# -- loading --------------------------------------------------------------------------------


def load(engine: Engine, data: Dataset, progress) -> dict[str, int]:
    """Insert the dataset through the DB-API (SQLite: executemany; PostgreSQL: COPY); returns rows per table.

    Foreign-key checks are off for the loading session only: the generated rows are consistent.
    """
    counts: dict[str, int] = {}
    if engine.dialect.name == "postgresql":
        _load_postgres(engine, data, counts, progress)
    else:
        _load_sqlite(engine, data, counts, progress)
    return counts


def _load_sqlite(engine: Engine, data: Dataset, counts: dict[str, int], progress) -> None:
    with engine.connect() as conn:  # one connection: the page cache stays warm between batches
        cursor = conn.connection.cursor()  # DB-API connection in autocommit mode (store/db.py)
        try:
            cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB, this connection only
            cursor.execute("PRAGMA foreign_keys=OFF")
            for table, batch in rows(data):
                columns = list(batch[0])
                statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                cursor.execute("BEGIN")
                cursor.executemany(statement, [tuple(_sqlite_value(row[c]) for c in columns) for row in batch])
                cursor.execute("COMMIT")
                _count(counts, table, batch, progress)
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            cursor.close()


def _sqlite_value(value):
    """The value as SQLAlchemy stores it in SQLite (UTCDateTime: naive UTC text with microseconds)."""
    if isinstance(value, datetime):
        v = value.astimezone(timezone.utc)
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _load_postgres(engine: Engine, data: Dataset, counts: dict[str, int], progress) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            _without_fk_triggers(raw, cursor, engine.dialect.dbapi.Error)
            for table, batch in rows(data):
                _copy(cursor, table, batch)
                _count(counts, table, batch, progress)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:  # explicit contact ids: move the sequence past them
        conn.execute(text("SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT max(id) FROM contacts))"))


def _without_fk_triggers(raw, cursor, dbapi_error) -> None:
    """Skip the per-row foreign-key triggers in this session (needs a superuser; otherwise load with them)."""
    try:
        cursor.execute("SET session_replication_role = replica")
    except dbapi_error:
        raw.rollback()


def _count(counts: dict[str, int], table: Table, batch: list[dict], progress) -> None:
    before = counts.get(table.name, 0)
    counts[table.name] = before + len(batch)
    if before == 0:
        progress(f"loading {table.name}")


def _copy(cursor, table: Table, batch: list[dict]) -> None:
    columns = list(batch[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in batch:
        writer.writerow([_copy_value(row[c]) for c in columns])
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)


def _copy_value(value):
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value)
    return value
