"""SQL building blocks shared by the metrics (SQLite and PostgreSQL alike) and small statistics."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, Integer, and_, case, cast, exists, func, literal_column
from sqlalchemy.sql import ColumnElement

from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel
from journey_state.store.tables import channel_identities, contacts

WEEK_S = 7 * 86_400
FALLBACK_INTENTS = ("nlu_fallback", "out_of_scope")
COMPLAINT_INTENTS = ("complaint",)
VALENCE = {"angry": -2, "sad": -1, "neutral": 0, "happy": 1, "excited": 2}
# Milestones per model; other models fall back to stage names containing the word.
PURCHASE_STAGE = {"b2c": "purchase", "b2b": "purchase_decision"}
RETENTION_STAGE = {"b2c": "retention", "b2b": "experience"}


def epoch(column: ColumnElement, dialect: str) -> ColumnElement:
    """Seconds since 1970 of a UTCDateTime column (SQLite stores naive UTC text)."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return cast(func.extract("epoch", column), Float)


def unindexed(column: ColumnElement, dialect: str) -> ColumnElement:
    """The column, kept out of index selection on SQLite (a unary +, SQLite's documented way).

    For scans whose grouping an index can stream: without statistics SQLite otherwise picks
    the index of a barely selective WHERE term and sorts (measured 2-3x slower)."""
    if dialect != "sqlite":
        return column
    return literal_column(f"+{column.table.name}.{column.name}", type_=column.type)


def whole(expr: ColumnElement, dialect: str) -> ColumnElement:
    """floor() of a non-negative number as an integer (SQLite's CAST truncates, PostgreSQL's rounds)."""
    if dialect == "sqlite":
        return cast(expr, Integer)
    return cast(func.floor(expr), Integer)


def stage_index(column: ColumnElement, model: JourneyModel) -> ColumnElement:
    """The model's index of a stage-id column (NULL for a stage the model does not know)."""
    return case({s.id: s.index for s in model.stages}, value=column, else_=None)


def flag(condition: ColumnElement) -> ColumnElement:
    return case((condition, 1), else_=0)


def contact_scope(f: Filters, contact_id: ColumnElement | None = None) -> list[ColumnElement]:
    """WHERE clauses on `contacts` for the model, persona and channel filters.

    The channel filter keeps contacts with an identity on that channel. With `contact_id`
    (a column of another table) the clauses also join that table to contacts.
    """
    clauses: list[ColumnElement] = [contacts.c.journey_model == f.model]
    if contact_id is not None:
        clauses.append(contacts.c.id == contact_id)
    if f.persona is not None:
        clauses.append(contacts.c.persona == f.persona)
    if f.channel is not None:
        clauses.append(
            exists().where(and_(channel_identities.c.contact_id == contacts.c.id, channel_identities.c.channel == f.channel))
        )
    return clauses


def row_scope(f: Filters, model: JourneyModel, contact_id: ColumnElement, stage: ColumnElement, join_contacts: bool) -> list[ColumnElement]:
    """contact_scope for rows that carry the contact's stage. When no other model uses this
    model's stage ids (`join_contacts` False) and no persona is asked, the stage says the model
    and the join to contacts is left out."""
    if join_contacts or f.persona is not None:
        return contact_scope(f, contact_id)
    clauses: list[ColumnElement] = [stage.in_(model.stage_ids)]
    if f.channel is not None:
        clauses.append(exists().where(and_(channel_identities.c.contact_id == contact_id, channel_identities.c.channel == f.channel)))
    return clauses


def milestone(model: JourneyModel, table: dict[str, str], word: str) -> str:
    if model.id in table and model.has_stage(table[model.id]):
        return table[model.id]
    named = [s.id for s in model.stages if word in s.id]
    return named[0] if named else model.stages[len(model.stages) // 2].id


def rate(part: float, whole_: float, digits: int = 4) -> float | None:
    return None if not whole_ else round(part / whole_, digits)


def median(values: Sequence[float]) -> float | None:
    """The middle value (mean of the two middle ones for an even count)."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def duration_stats(seconds: Sequence[float]) -> dict[str, Any]:
    med, p90 = median(seconds), percentile(seconds, 90)
    return {
        "count": len(seconds),
        "median_s": None if med is None else round(med, 1),
        "p90_s": None if p90 is None else round(p90, 1),
        "median_h": None if med is None else round(med / 3600, 2),
        "p90_h": None if p90 is None else round(p90 / 3600, 2),
    }


def ranked_stats(count: int, med: float, p90: float) -> dict[str, Any]:
    """duration_stats for a median and p90 computed elsewhere."""
    return {
        "count": count,
        "median_s": round(med, 1),
        "p90_s": round(p90, 1),
        "median_h": round(med / 3600, 2),
        "p90_h": round(p90 / 3600, 2),
    }


def nps(promoters: int, detractors: int, answers: int) -> float | None:
    """Net promoter score: % promoters (9-10) minus % detractors (0-6)."""
    return None if not answers else round((promoters - detractors) * 100.0 / answers, 1)

