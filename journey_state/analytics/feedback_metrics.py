"""NPS and CSAT in the period: overall, by stage, by channel and by week.

NPS = % promoters (9-10) - % detractors (0-6), on the answers in the group; CSAT is the
mean score (1-5). The channel filter applies to the channel the answer came through.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import WEEK_S, contact_scope, epoch, nps, whole
from journey_state.analytics.cohorts import week_start
from journey_state.analytics.filters import Filters
from journey_state.feedback import DETRACTOR_MAX, PROMOTER_MIN
from journey_state.model import JourneyModel
from journey_state.store.tables import feedback


class _Group:
    __slots__ = ("nps_n", "promoters", "detractors", "csat_n", "csat_sum")

    def __init__(self):
        self.nps_n = self.promoters = self.detractors = self.csat_n = self.csat_sum = 0

    def add(self, kind: str, score: int, n: int) -> None:
        if kind == "nps":
            self.nps_n += n
            self.promoters += n if score >= PROMOTER_MIN else 0
            self.detractors += n if score <= DETRACTOR_MAX else 0
        else:
            self.csat_n += n
            self.csat_sum += score * n

    def as_dict(self) -> dict:
        return {
            "nps": nps(self.promoters, self.detractors, self.nps_n),
            "nps_answers": self.nps_n,
            "promoters": self.promoters,
            "passives": self.nps_n - self.promoters - self.detractors,
            "detractors": self.detractors,
            "csat": None if not self.csat_n else round(self.csat_sum / self.csat_n, 2),
            "csat_answers": self.csat_n,
        }


def filtered(f: Filters) -> list:
    clauses = [*contact_scope(f, feedback.c.contact_id), feedback.c.at >= f.start, feedback.c.at < f.end]
    if f.channel is not None:
        clauses.append(feedback.c.channel == f.channel)
    return clauses


def compute(conn: Connection, model: JourneyModel, f: Filters) -> dict:
    dialect = conn.dialect.name
    base = week_start(f.start)
    week = whole((epoch(feedback.c.at, dialect) - base.timestamp()) / WEEK_S, dialect)
    rows = conn.execute(
        select(feedback.c.kind, feedback.c.score, feedback.c.stage, feedback.c.channel, week.label("week"), func.count())
        .where(*filtered(f))
        .group_by(feedback.c.kind, feedback.c.score, feedback.c.stage, feedback.c.channel, week)
    ).all()
    overall = _Group()
    by: dict[str, dict] = {"stage": defaultdict(_Group), "channel": defaultdict(_Group), "week": defaultdict(_Group)}
    for kind, score, stage, channel, wk, n in rows:
        overall.add(kind, score, n)
        by["stage"][stage].add(kind, score, n)
        by["channel"][channel or "unknown"].add(kind, score, n)
        by["week"][(base + timedelta(weeks=int(wk))).date().isoformat()].add(kind, score, n)
    order = {s.id: s.index for s in model.stages}
    return {
        "overall": overall.as_dict(),
        "by_stage": [{"stage": k, **v.as_dict()} for k, v in sorted(by["stage"].items(), key=lambda kv: order.get(kv[0], 99))],
        "by_channel": [{"channel": k, **v.as_dict()} for k, v in sorted(by["channel"].items())],
        "by_week": [{"week": k, **v.as_dict()} for k, v in sorted(by["week"].items())],
        "empty": not rows,
    }
