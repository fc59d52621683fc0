"""NPS and CSAT in the period: overall, by stage, by channel and by week.

NPS = % promoters (9-10) - % detractors (0-6), on the answers in the group; CSAT is the
mean score (1-5). The channel filter applies to the channel the answer came through. Weeks
start on Monday 00:00 UTC; the first and last weeks of a period may be partial.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from journey_state.analytics import facts, periods
from journey_state.analytics._sql import nps, row_scope
from journey_state.analytics.filters import Filters
from journey_state.feedback import DETRACTOR_MAX, PROMOTER_MIN
from journey_state.model import JourneyModel
from journey_state.store.tables import contact_rollup, feedback


class _Group:
    __slots__ = ("csat_n", "csat_sum", "detractors", "nps_n", "promoters")

    def __init__(self) -> None:
        self.nps_n = self.promoters = self.detractors = self.csat_n = self.csat_sum = 0

    def add(self, kind: str, score: int, n: int) -> None:
        if kind == "nps":
            self.nps_n += n
            self.promoters += n if score >= PROMOTER_MIN else 0
            self.detractors += n if score <= DETRACTOR_MAX else 0
        else:
            self.csat_n += n
            self.csat_sum += score * n

    def as_dict(self) -> dict[str, Any]:
        return {
            "nps": nps(self.promoters, self.detractors, self.nps_n),
            "nps_answers": self.nps_n,
            "promoters": self.promoters,
            "passives": self.nps_n - self.promoters - self.detractors,
            "detractors": self.detractors,
            "csat": None if not self.csat_n else round(self.csat_sum / self.csat_n, 2),
            "csat_answers": self.csat_n,
        }


def filtered(f: Filters, model: JourneyModel, join_contacts: bool = True) -> list[Any]:
    clauses = [*row_scope(f, model, feedback.c.contact_id, feedback.c.stage, join_contacts), feedback.c.at >= f.start, feedback.c.at < f.end]
    if f.channel is not None:
        clauses.append(feedback.c.channel == f.channel)
    return clauses


def counts(conn: Connection, model: JourneyModel, f: Filters, join_contacts: bool = True) -> Counter[Any]:
    """(Monday of the answer's week, kind, score, stage, channel) -> answers in the period; from
    contact_rollup (whole weeks, then whole days; journey_state/analytics/facts.py) and the raw
    answers of the partial days at either end."""
    r, fb = contact_rollup.c, feedback.c
    scope = [*periods.scope(contact_rollup, f), r.kind == "fb"]
    out: Counter[Any] = Counter()

    def add(monday: str, value: str, n: int) -> None:
        kind, score, stage, channel = value.split("|")
        out[(monday, kind, int(score), stage, channel or None)] += n

    whole_weeks, partial_weeks = periods.split(f.start, f.end, unit="week")
    if whole_weeks:
        for (monday, value), n in periods.read_weeks(conn, contact_rollup, scope, whole_weeks, (r.bucket, r.value)).items():
            add(monday, value, n)
    for week_start_, week_end in partial_weeks:
        whole_days, partial_days = periods.split(week_start_, week_end)
        if whole_days:
            a, b = whole_days[0].date().isoformat(), whole_days[1].date().isoformat()
            by_day = select(r.bucket, r.value, func.sum(r.n)).where(r.grain == facts.DAY, r.bucket >= a, r.bucket < b, *scope)
            for day, value, n in conn.execute(by_day.group_by(r.bucket, r.value)).all():
                add(facts.monday_of(day), value, int(n))
        for start, end in partial_days:
            part = Filters(start, end, f.model, f.channel, f.persona)
            for kind, score, stage, channel, at in conn.execute(select(fb.kind, fb.score, fb.stage, fb.channel, fb.at).where(*filtered(part, model, join_contacts))).all():
                out[(facts.monday(at), kind, score, stage, channel)] += 1
    return out


def compute(conn: Connection, model: JourneyModel, f: Filters, join_contacts: bool = True) -> dict[str, Any]:
    overall = _Group()
    by: dict[str, dict[str, Any]] = {"stage": defaultdict(_Group), "channel": defaultdict(_Group), "week": defaultdict(_Group)}
    found = False
    for (monday, kind, score, stage, channel), n in counts(conn, model, f, join_contacts).items():
        if not n:
            continue
        found = True
        overall.add(kind, score, n)
        by["stage"][stage].add(kind, score, n)
        by["channel"][channel or "unknown"].add(kind, score, n)
        by["week"][monday].add(kind, score, n)
    order = {s.id: s.index for s in model.stages}
    return {
        "overall": overall.as_dict(),
        "by_stage": [{"stage": k, **v.as_dict()} for k, v in sorted(by["stage"].items(), key=lambda kv: order.get(kv[0], 99))],
        "by_channel": [{"channel": k, **v.as_dict()} for k, v in sorted(by["channel"].items())],
        "by_week": [{"week": k, **v.as_dict()} for k, v in sorted(by["week"].items())],
        "empty": not found,
    }
