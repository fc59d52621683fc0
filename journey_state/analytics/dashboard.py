"""Every metric for one filter set, as plain dicts (JSON-ready)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from journey_state.analytics import (
    attribution,
    checkout,
    cohorts,
    facts,
    feedback_metrics,
    funnel,
    handoffs,
    journey_map,
    offers_referrals,
    time_in_stage,
    touchpoints,
)
from journey_state.analytics.filters import Filters
from journey_state.model import JourneyModel, load_model
from journey_state.store.db import READ_ONLY
from journey_state.store.errors import unavailable_as_error
from journey_state.store.tables import contacts

Progress = Callable[[str], None]
SECTIONS = ("funnel", "checkout", "time_in_stage", "cohorts", "feedback", "touchpoints", "offers", "referrals", "handoffs", "attribution", "journey_map")


PG_WORK_MEM = "64MB"
SQLITE_CACHE_KIB = 65536


@contextmanager
def _big_reads(conn: Connection) -> Iterator[None]:
    """Memory for the large sorts and hash aggregates of one dashboard, on this connection only.

    PostgreSQL's default work_mem (4 MB) makes them spill to disk (measured: the attribution
    query's aggregates ran in 21 on-disk batches); SET LOCAL ends with the transaction.
    SQLite gets in-memory temp b-trees and a larger page cache, reset afterwards because the
    connection goes back to the pool.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
        # JIT compilation costs ~0.3 s per large query here and never paid back (measured).
        conn.exec_driver_sql("SET LOCAL jit = off")
        yield
        return
    if conn.dialect.name != "sqlite":
        yield
        return
    cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA temp_store = MEMORY")
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        # temp_store cannot change inside a transaction that used temporary tables: end the
        # (read-only) transaction and reset through the DB-API cursor, which does not BEGIN.
        conn.rollback()
        cursor = conn.connection.cursor()
        try:
            cursor.execute("PRAGMA temp_store = DEFAULT")
            cursor.execute(f"PRAGMA cache_size = {int(cache)}")
        finally:
            cursor.close()


def all_models(model: JourneyModel, journeys_dir: str | Path | None) -> dict[str, JourneyModel]:
    """This model and the others in `journeys_dir`, by id."""
    models = {model.id: model}
    for path in sorted(Path(journeys_dir).glob("*.yml")) if journeys_dir is not None else ():
        other = load_model(path)
        models.setdefault(other.id, other)
    return models


def stages_shared(model: JourneyModel, models: dict[str, JourneyModel] | None) -> bool:
    """True when another model uses one of this model's stage ids (or we cannot tell)."""
    if models is None:
        return True
    return any(other.id != model.id and set(other.stage_ids) & set(model.stage_ids) for other in models.values())


def refresh_facts(
    engine: Engine, model: JourneyModel, journeys_dir: str | Path | None = None, progress: Callable[[int, int], object] | None = None
) -> int:
    """Bring the per-contact facts up to date (journey_state/analytics/facts.py) before reading them."""
    with unavailable_as_error():
        return facts.refresh(engine, all_models(model, journeys_dir), progress=progress)


def segments(conn: Connection, f: Filters) -> list[dict[str, Any]]:
    """Personas of the model's contacts (all time), for switching the journey map between segments."""
    rows = conn.execute(
        select(contacts.c.persona, func.count()).where(contacts.c.journey_model == f.model).group_by(contacts.c.persona)
    ).all()
    return [{"persona": p, "contacts": n} for p, n in sorted(rows, key=lambda r: (-r[1], r[0] or ""))]


def compute(
    engine: Engine,
    model: JourneyModel,
    f: Filters,
    journeys_dir: str | Path | None = None,
    progress: Progress | None = None,
    attribution_days: int = attribution.DEFAULT_DAYS,
) -> dict[str, Any]:
    """Compute the dashboard in one read-only transaction; `progress` hears each section's name."""
    if model.id != f.model:
        raise ValueError(f"filters are for model {f.model!r} but model {model.id!r} was given")
    say = progress or (lambda _name: None)
    models = all_models(model, journeys_dir)
    join = stages_shared(model, models if journeys_dir is not None else None)
    timings: dict[str, float] = {}
    out: dict[str, Any] = {"filters": f.as_dict(), "model": {"id": model.id, "label": model.label, "stages": [{"id": s.id, "label": s.label} for s in model.stages]}}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        say(name)
        started = time.perf_counter()
        value = work()
        timings[name] = round(time.perf_counter() - started, 4)
        return value

    with unavailable_as_error():
        # Progress for the long first refresh after an upgrade or a bulk import.
        timed("facts_refresh", lambda: facts.refresh(engine, models, progress=lambda done, total: say(f"facts_refresh {done}/{total} contacts")))
    with unavailable_as_error(), engine.connect().execution_options(**{READ_ONLY: True}) as conn, _big_reads(conn):
        out["segments"] = timed("segments", lambda: segments(conn, f))
        out["funnel"] = timed("funnel", lambda: funnel.compute(conn, model, f))
        out["checkout"] = timed("checkout", lambda: checkout.compute(conn, f))
        out["time_in_stage"] = timed("time_in_stage", lambda: time_in_stage.compute(conn, model, f))
        out["cohorts"] = timed("cohorts", lambda: cohorts.compute(conn, model, f))
        out["feedback"] = timed("feedback", lambda: feedback_metrics.compute(conn, model, f, join_contacts=join))
        counts = timed("touchpoint_counts", lambda: touchpoints.aggregate(conn, model, f, join_contacts=join))
        out["touchpoints"] = timed("touchpoints", lambda: touchpoints.compute(model, counts))
        out["offers"] = timed("offers", lambda: offers_referrals.offers(conn, model, f, join_contacts=join))
        out["referrals"] = timed("referrals", lambda: offers_referrals.referrals(conn, model, f))
        out["handoffs"] = timed("handoffs", lambda: handoffs.compute(conn, model, f))
        out["attribution"] = timed("attribution", lambda: attribution.compute(conn, model, f, attribution_days))
        complaints = timed("complaints", lambda: journey_map.top_complaints(conn, model, f))
        out["journey_map"] = timed(
            "journey_map",
            lambda: journey_map.compute(model, f, counts, out["touchpoints"], out["funnel"], out["handoffs"], out["attribution"], complaints),
        )
    out["empty"] = all(out[s].get("empty", False) for s in SECTIONS)
    out["timings_s"] = timings
    return out
