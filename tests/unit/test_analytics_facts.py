"""The per-contact analytics facts (journey_state/analytics/facts.py) and the dashboard metrics
that read them (funnel, cohorts, bot attribution, NPS/CSAT, offers) against a brute-force recomputation
from the RAW tables (contacts, transitions, touchpoints, offer_events, feedback,
channel_identities), after
random writes through the real store, on SQLite and PostgreSQL.

Never compared with the facts tables themselves, except for incremental refresh == rebuild."""
from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, select, update

from journey_state.analytics import (
    Filters,
    attribution,
    cohorts,
    facts,
    feedback_metrics,
    funnel,
    offers_referrals,
    periods,
)
from journey_state.analytics._sql import RETENTION_STAGE, milestone, rate
from journey_state.business_events import BusinessEvent
from journey_state.engine import Signal, Source
from journey_state.identifiers import ChannelRef
from journey_state.store import JourneyStore, Touch, make_engine
from journey_state.store.programs import ProgramsStore
from journey_state.store.tables import (
    attribution_facts,
    attribution_rollup,
    channel_identities,
    contact_facts,
    contact_rollup,
    contacts,
    facts_dirty,
    feedback,
    offer_events,
    stage_reached,
    touchpoints,
    transitions,
)

UTC = timezone.utc
T0 = datetime(2026, 1, 26, 20, 0, tzinfo=UTC)  # a Monday evening; the month ends within the week
SPAN_MIN = 100 * 24 * 60  # ~100 days of activity: four month boundaries, 14 weeks
CHANNELS = ("socketio", "whatsapp", "telegram")
INTENTS = (None, "greet", "ask_pricing", "ask_features", "place_order", "complaint", "nlu_fallback", "thanks")
EMOTIONS = (None, None, "happy", "angry", "sad")
EVENTS = ("order_delivered", "review_posted", "order_cancelled", "order_placed", "order_delivered")
OFFERS = ("first_bag_free", "premium_yearly", "whatsapp_seasonal_preview")
WEEK = timedelta(weeks=1)
# Answers exactly at, and just before, week and month starts (Feb 1 and Mar 1 2026 are Sundays).
FB_EDGES = tuple(
    at - delta
    for at in (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC),
               datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC),
               datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 1, 31, 12, tzinfo=UTC))
    for delta in (timedelta(0), timedelta(microseconds=1), timedelta(seconds=1))
)
# Offer events at day and month starts, and at the partial-day bounds of random_filters' aligned periods.
OFFER_EDGES = FB_EDGES + tuple(
    at - delta
    for at in (datetime(2026, 2, 14, tzinfo=UTC), datetime(2026, 3, 2, 6, tzinfo=UTC), datetime(2026, 2, 3, 0, 0, 0, 1, tzinfo=UTC),
               datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC))
    for delta in (timedelta(0), timedelta(microseconds=1))
)


# -- building a random history ------------------------------------------------------------------


@pytest.fixture
def env(migrated_url, b2c_model, b2b_model, business_dir, journeys_dir):
    engine = make_engine(migrated_url)
    store = JourneyStore(engine, b2c_model)
    other = JourneyStore(engine, b2b_model)
    programs = ProgramsStore.load(store, business_dir, journeys_dir)
    yield SimpleNamespace(engine=engine, store=store, other=other, programs=programs, model=b2c_model,
                          models={b2c_model.id: b2c_model, b2b_model.id: b2b_model})
    engine.dispose()


def _uid(conn, ref: ChannelRef) -> str | None:
    ci = channel_identities.c
    return conn.execute(
        select(contacts.c.uid).join(channel_identities, ci.contact_id == contacts.c.id).where(ci.channel == ref.channel, ci.external_id == ref.external_id)
    ).scalar()


def populate(env, seed: int = 11, refresh: bool = True) -> int:
    """Random turns, events, offers, merges, erasures and raw edits; refreshes the facts
    several times on the way (so that the deltas are exercised). Returns refreshes made."""
    rng = random.Random(seed)
    fb_rng = random.Random(seed * 1000 + 7)  # its own stream: the other writes stay as they were
    of_rng = random.Random(seed * 1000 + 13)  # redemptions (and impressions at the edges): their own stream too
    store, programs, engine = env.store, env.programs, env.engine
    refs = [ChannelRef(CHANNELS[i % 3], f"u{i}") for i in range(40)]
    refreshes = 0

    def uid(ref):
        with engine.connect() as conn:
            return _uid(conn, ref)

    for n in range(900):
        ref = rng.choice(refs)
        at = T0 + timedelta(minutes=rng.randrange(SPAN_MIN), seconds=rng.randrange(60))
        if refs.index(ref) >= 30:  # a few contacts go quiet early (dormant at the end)
            at = T0 + (at - T0) / 3
        r = rng.random()
        if r < 0.72:
            intent, emotion = rng.choice(INTENTS), rng.choice(EMOTIONS)
            channel = ref.channel if rng.random() < 0.85 else rng.choice(CHANNELS)  # a touch on another channel
            store.record_signal(ref, Signal(f"s{n}", Source.CONVERSATION, at, intent=intent, emotion=emotion),
                                Touch(channel, f"m{n}", intent, 0.9, emotion, "x"))
        elif r < 0.84:
            store.record_event(BusinessEvent(f"e{n}", rng.choice(EVENTS), ref, at, {}))
        else:
            programs.record_offer_shown(ref, rng.choice(OFFERS), rng.choice((ref.channel, ref.channel, None, "whatsapp")), at=at)
        if fb_rng.random() < 0.3:  # NPS / CSAT answers, on the contact's channel, none or another
            fb_at = fb_rng.choice(FB_EDGES) if fb_rng.random() < 0.2 else at + timedelta(minutes=fb_rng.randrange(-600, 600))
            kind = fb_rng.choice(("nps", "nps", "csat"))
            channel = fb_rng.choice((ref.channel, ref.channel, ref.channel, None, fb_rng.choice(CHANNELS)))
            programs.record_feedback(ref, kind, fb_rng.randint(0, 10) if kind == "nps" else fb_rng.randint(1, 5),
                                     reference=f"fb{n}", channel=channel, at=fb_at)
        if of_rng.random() < 0.16:  # redemptions: on the contact's channel, none or another; some at the edges
            mine = uid(ref)
            if mine is not None:
                o_at = of_rng.choice(OFFER_EDGES) if of_rng.random() < 0.3 else at + timedelta(minutes=of_rng.randrange(-3000, 3000))
                channel = of_rng.choice((ref.channel, ref.channel, None, "whatsapp", of_rng.choice(CHANNELS)))
                with engine.connect() as conn:
                    seen = sorted(set(conn.execute(
                        select(offer_events.c.offer_id).join(contacts, contacts.c.id == offer_events.c.contact_id)
                        .where(contacts.c.uid == mine, offer_events.c.kind == "shown")).scalars()))
                offer = of_rng.choice(seen) if seen and of_rng.random() < 0.8 else of_rng.choice(OFFERS)
                if of_rng.random() < 0.25:
                    programs.record_offer_shown(mine, offer, channel, at=o_at)
                else:  # in the contact's stage now, often not the one it was shown in
                    programs.record_offer_redeemed(mine, offer, channel, at=o_at)
        if n == 500:  # raw offer edits between refreshes
            with engine.begin() as conn:
                oe = offer_events.c
                for oid, oat in conn.execute(select(oe.id, oe.at).where(oe.id % 7 == 2)).all():
                    conn.execute(update(offer_events).where(oe.id == oid).values(at=oat - timedelta(days=3, hours=oid % 24)))
                conn.execute(update(offer_events).where(oe.id % 8 == 5).values(channel=None))
                conn.execute(update(offer_events).where(oe.id % 11 == 7).values(channel="whatsapp"))
                conn.execute(update(offer_events).where(oe.id % 13 == 4, oe.kind == "redeemed").values(stage="advocacy"))
                conn.execute(delete(offer_events).where(oe.id % 10 == 1))
        if n == 700:  # raw edits between refreshes
            with engine.begin() as conn:
                fb = feedback.c
                for fid, fat in conn.execute(select(fb.id, fb.at).where(fb.id % 6 == 1)).all():
                    conn.execute(update(feedback).where(fb.id == fid).values(at=fat + timedelta(days=6, hours=fb_rng.randrange(48))))
                conn.execute(delete(feedback).where(fb.id % 10 == 3))
        if n % 37 == 36:
            mine, other = uid(ref), uid(rng.choice(refs))
            with engine.begin() as conn:  # personas and creation times have no store API
                conn.execute(update(contacts).where(contacts.c.uid == mine).values(persona=rng.choice(("p1", "p2", None))))
                if other is not None:
                    conn.execute(update(contacts).where(contacts.c.uid == other).values(created_at=at - timedelta(hours=rng.uniform(-30, 200))))
        if n % 53 == 52:
            store.override_stage(uid(ref), rng.choice(store.model.stage_ids), "ann")
        if n % 61 == 60:
            b = ChannelRef("whatsapp", f"b{n % 5}")
            env.other.record_signal(b, Signal(f"b{n}", Source.CONVERSATION, at, intent="ask_pricing"), Touch("whatsapp", None, "ask_pricing", 0.9, None, "x"))
        if n == 300:  # merges: multichannel contacts, moved touchpoints / transitions / offers
            store.verify_identifier(refs[0], "email", "a@example.com")
            store.verify_identifier(refs[1], "email", "a@example.com")
            store.verify_identifier(refs[4], "phone", "+15555550100")
            store.verify_identifier(refs[8], "phone", "+15555550100")
        if n == 450:
            store.erase(uid(refs[2]))
            store.verify_identifier(refs[9], "email", "b@example.com")
            store.verify_identifier(refs[13], "email", "b@example.com")
        if n == 600:
            gone = uid(refs[3])
            with engine.begin() as conn:
                conn.execute(delete(contacts).where(contacts.c.uid == gone))  # cascade
        if refresh and n % 97 == 96:
            # Sometimes only b2c: the b2b contacts stay marked until their model is loaded.
            models = env.models if rng.random() < 0.5 else {env.model.id: env.model}
            facts.refresh(engine, models, batch=rng.choice((7, 1000)))
            refreshes += 1
    with engine.begin() as conn:
        conn.execute(delete(touchpoints).where(touchpoints.c.id % 7 == 0))
        for tid, at in conn.execute(select(touchpoints.c.id, touchpoints.c.at).where(touchpoints.c.id % 5 == 0)).all():
            conn.execute(update(touchpoints).where(touchpoints.c.id == tid).values(channel="facebook", at=at - timedelta(days=9)))
        conn.execute(update(touchpoints).where(touchpoints.c.id % 11 == 0).values(stage="purchase"))
        tr = transitions.c
        for tid, at in conn.execute(select(tr.id, tr.at).where(tr.id % 6 == 0, tr.kind == "stage")).all():
            conn.execute(update(transitions).where(tr.id == tid).values(at=at + timedelta(hours=20)))
        conn.execute(delete(offer_events).where(offer_events.c.id % 9 == 0))
        conn.execute(update(offer_events).where(offer_events.c.id % 4 == 0).values(channel="telegram"))
        oe = offer_events.c
        for oid, oat in conn.execute(select(oe.id, oe.at).where(oe.id % 6 == 1)).all():  # exactly at a day's start
            conn.execute(update(offer_events).where(oe.id == oid).values(at=periods.floor_day(oat)))
        for oid, oat in conn.execute(select(oe.id, oe.at).where(oe.id % 10 == 3)).all():
            conn.execute(update(offer_events).where(oe.id == oid).values(at=oat + timedelta(days=5, hours=oid % 48), channel=CHANNELS[oid % 3]))
        fb = feedback.c
        conn.execute(delete(feedback).where(fb.id % 9 == 4))
        for fid, fat, kind, score in conn.execute(select(fb.id, fb.at, fb.kind, fb.score).where(fb.id % 5 == 2)).all():
            conn.execute(update(feedback).where(fb.id == fid).values(
                at=fat - timedelta(days=9, hours=fid % 30), channel=CHANNELS[fid % 3], score=(10 - score) if kind == "nps" else (6 - score)))
        conn.execute(update(feedback).where(fb.id % 7 == 3).values(channel=None))
        conn.execute(update(feedback).where(fb.id % 13 == 5).values(stage="purchase"))
        b2c = conn.execute(select(contacts.c.id).where(contacts.c.journey_model == env.model.id).order_by(contacts.c.id)).scalars().all()
        for fid in conn.execute(select(fb.id).where(fb.id % 17 == 6)).scalars().all():  # moved to another contact
            conn.execute(update(feedback).where(fb.id == fid).values(contact_id=b2c[fid % len(b2c)]))
        for oid in conn.execute(select(oe.id).where(oe.id % 19 == 3)).scalars().all():
            conn.execute(update(offer_events).where(oe.id == oid).values(contact_id=b2c[oid % len(b2c)]))
        for k, cid in enumerate(conn.execute(select(contacts.c.id).where(contacts.c.journey_model != env.model.id)).scalars().all()):
            conn.execute(feedback.insert().values(contact_id=cid, kind="nps", score=k % 11, stage="action", channel="whatsapp",
                                                  at=T0 + timedelta(days=3 + 9 * k, hours=k)))  # another model's answers
            for j, kind in enumerate(("shown", "shown", "redeemed")):  # another model's offers
                conn.execute(offer_events.insert().values(contact_id=cid, offer_id=OFFERS[(k + j) % 3], kind=kind, stage="action",
                                                          channel="whatsapp", at=T0 + timedelta(days=2 + 7 * k + j, hours=k)))
    if refresh:
        facts.refresh(engine, {env.model.id: env.model})
        refreshes += 1
    store.mark_dormant(at=T0 + timedelta(days=95))
    return refreshes


def snapshot(conn) -> dict:
    out = {}
    for table in (contact_rollup, attribution_rollup):
        out[table.name] = Counter(tuple(r) for r in conn.execute(select(table)).all() if r.n)
    for table in (contact_facts, attribution_facts, stage_reached):
        out[table.name] = Counter(tuple(r) for r in conn.execute(select(table)).all())
    return out


# -- brute force from the raw tables ------------------------------------------------------------


def load_raw(conn) -> SimpleNamespace:
    raw = SimpleNamespace(contacts={r.id: r for r in conn.execute(select(contacts)).all()},
                          idents=defaultdict(set), moves=defaultdict(list), touches=defaultdict(list), shown=defaultdict(list),
                          offers=defaultdict(list),
                          feedback=conn.execute(select(feedback)).all())
    for cid, channel in conn.execute(select(channel_identities.c.contact_id, channel_identities.c.channel)):
        raw.idents[cid].add(channel)
    tr = transitions.c
    for cid, to_value, at in conn.execute(select(tr.contact_id, tr.to_value, tr.at).where(tr.kind == "stage").order_by(tr.contact_id, tr.at, tr.id)):
        raw.moves[cid].append((to_value, at))
    for r in conn.execute(select(touchpoints)).all():
        raw.touches[r.contact_id].append(r)
    for r in conn.execute(select(offer_events)).all():
        raw.offers[r.contact_id].append(r)
        if r.kind == "shown":
            raw.shown[r.contact_id].append(r)
    return raw


def in_scope(raw, c, f: Filters, channel_identity: bool = True) -> bool:
    if c.journey_model != f.model or (f.persona is not None and c.persona != f.persona):
        return False
    return f.channel is None or not channel_identity or f.channel in raw.idents[c.id]


def funnel_py(raw, model, f: Filters) -> dict:
    idx = {s.id: s.index for s in model.stages}
    init = idx[model.initial_stage]
    scope = [c for c in raw.contacts.values() if in_scope(raw, c, f)]
    pop = [c for c in scope if f.start <= c.created_at < f.end]
    furthest = {c.id: max([init] + [idx[s] for s, at in raw.moves[c.id] if at < f.end and s in idx]) for c in pop}
    entered = Counter(s for c in scope for s, at in raw.moves[c.id] if f.start <= at < f.end)
    entered[model.initial_stage] += len(pop)
    last = len(model.stages) - 1
    stages = []
    for s in model.stages:
        reached = sum(1 for c in pop if furthest[c.id] >= s.index) if s.index >= init else len(pop)
        stalled = sum(1 for c in pop if furthest[c.id] == s.index) if s.index < last else 0
        here = [c for c in pop if c.stage == s.id]
        stages.append({"stage": s.id, "label": s.label, "reached": reached, "entered_in_period": entered[s.id], "stalled": stalled,
                       "drop_off_rate": rate(stalled, reached), "current": len(here),
                       "at_risk": sum(1 for c in here if c.at_risk), "dormant": sum(1 for c in here if c.dormant)})
    for here, after in itertools.pairwise(stages):
        here["conversion_to_next"] = rate(after["reached"], here["reached"])
    stages[-1]["conversion_to_next"] = None
    return {"population": len(pop), "stages": stages, "at_risk": sum(s["at_risk"] for s in stages),
            "dormant": sum(s["dormant"] for s in stages), "empty": not pop}


def week_start(at: datetime) -> datetime:
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def cohorts_py(raw, model, f: Filters) -> dict:
    idx = {s.id: s.index for s in model.stages}
    retention = milestone(model, RETENTION_STAGE, "retention")
    ret, init = idx[retention], idx[model.initial_stage]
    base = week_start(f.start)

    def week(at):
        return (week_start(at) - base) // WEEK

    pop = [c for c in raw.contacts.values() if in_scope(raw, c, f) and f.start <= c.created_at < f.end]
    retained_at = {}
    for c in pop:
        if init >= ret:
            retained_at[c.id] = c.created_at
        else:
            times = [at for s, at in raw.moves[c.id] if idx.get(s, -1) >= ret]
            retained_at[c.id] = min(times) if times else None
    observable = (f.end - base) // WEEK  # the last week that began strictly before the end
    if base + observable * WEEK >= f.end:
        observable -= 1
    sizes = Counter(week(c.created_at) for c in pop)
    rows = []
    for c in sorted(sizes):
        mine = [p for p in pop if week(p.created_at) == c]
        row = {"week": (base + c * WEEK).date().isoformat(), "size": sizes[c], "weeks": []}
        for k in range(min(cohorts.MAX_WEEKS, observable - c) + 1):
            still = sum(1 for p in mine if p.last_activity_at is not None and week(p.last_activity_at) - c >= k)
            reached = sum(1 for p in mine if retained_at[p.id] is not None and week(retained_at[p.id]) - c <= k)
            row["weeks"].append({"week": k, "active": still, "active_rate": rate(still, sizes[c]), "retained": reached,
                                 "retained_rate": rate(reached, sizes[c])})
        rows.append(row)
    return {"retention_stage": retention, "cohorts": rows, "empty": not rows}


def attribution_py(raw, model, f: Filters, days: int) -> dict:
    idx = {s.id: s.index for s in model.stages}
    out, any_pop = [], False
    for stage in model.stages[:-1]:
        people = []  # (converted, intents, offers)
        for c in raw.contacts.values():
            if not in_scope(raw, c, f, channel_identity=False):
                continue
            mine = [t for t in raw.touches[c.id] if t.stage == stage.id and (f.channel is None or t.channel == f.channel)]
            if not mine:
                continue
            first = min(t.at for t in mine)
            if not f.start <= first < f.end:
                continue
            later = [at for s, at in raw.moves[c.id] if at >= first and idx.get(s, -1) > stage.index]
            converted = bool(later) and (min(later) - first).total_seconds() <= days * 86400
            offers = {o.offer_id for o in raw.shown[c.id] if o.stage == stage.id and (f.channel is None or o.channel == f.channel)}
            people.append((converted, {t.intent for t in mine if t.intent}, offers))
        any_pop = any_pop or bool(people)
        n, conv = len(people), sum(p[0] for p in people)
        lists = {}
        for pos, kind, key in ((1, "intent", "intent"), (2, "offer", "offer_id")):
            items = []
            for item in sorted({i for p in people for i in p[pos]}):
                e = [p for p in people if item in p[pos]]
                e_conv = sum(p[0] for p in e)
                e_rate, u_rate = rate(e_conv, len(e)), rate(conv - e_conv, n - len(e))
                items.append({key: item, "exposed": len(e), "exposed_converted": e_conv, "exposed_rate": e_rate,
                              "unexposed": n - len(e), "unexposed_converted": conv - e_conv, "unexposed_rate": u_rate,
                              "lift": None if e_rate is None or u_rate is None else round(e_rate - u_rate, 4)})
            items.sort(key=lambda x: (-(x["lift"] if x["lift"] is not None else -9), -x["exposed"]))
            lists[kind] = items
        out.append({"stage": stage.id, "next_stage": model.stages[stage.index + 1].id, "contacts": n, "converted": conv,
                    "conversion_rate": rate(conv, n), "answers": lists["intent"], "offers": lists["offer"]})
    return {"kind": "correlation", "caveat": attribution.CAVEAT, "window_days": days, "stages": out, "empty": not any_pop}


def feedback_py(raw, model, f: Filters) -> dict:
    def group(rows) -> dict:
        nps_scores = [r.score for r in rows if r.kind == "nps"]
        csat_scores = [r.score for r in rows if r.kind == "csat"]
        promoters, detractors = sum(1 for s in nps_scores if s >= 9), sum(1 for s in nps_scores if s <= 6)
        return {"nps": round((promoters - detractors) * 100 / len(nps_scores), 1) if nps_scores else None,
                "nps_answers": len(nps_scores), "promoters": promoters, "passives": len(nps_scores) - promoters - detractors,
                "detractors": detractors, "csat": round(sum(csat_scores) / len(csat_scores), 2) if csat_scores else None,
                "csat_answers": len(csat_scores)}

    rows = [r for r in raw.feedback if f.start <= r.at < f.end and in_scope(raw, raw.contacts[r.contact_id], f)
            and (f.channel is None or r.channel == f.channel)]
    order = {s.id: s.index for s in model.stages}
    by = {"stage": defaultdict(list), "channel": defaultdict(list), "week": defaultdict(list)}
    for r in rows:
        by["stage"][r.stage].append(r)
        by["channel"][r.channel or "unknown"].append(r)
        by["week"][week_start(r.at).date().isoformat()].append(r)
    return {
        "overall": group(rows),
        "by_stage": [{"stage": k, **group(v)} for k, v in sorted(by["stage"].items(), key=lambda kv: order.get(kv[0], 99))],
        "by_channel": [{"channel": k, **group(v)} for k, v in sorted(by["channel"].items())],
        "by_week": [{"week": k, **group(v)} for k, v in sorted(by["week"].items())],
        "empty": not rows,
    }


def offers_py(raw, model, f: Filters) -> dict:
    events, reach, redeemers = Counter(), Counter(), Counter()  # (offer, stage or None, kind) / (offer,) or (offer, stage)
    for c in raw.contacts.values():
        if not in_scope(raw, c, f):
            continue
        mine = [e for e in raw.offers[c.id] if f.channel is None or e.channel == f.channel]
        redeemed = {e.offer_id for e in mine if e.kind == "redeemed"}
        first: dict[tuple, datetime] = {}
        for e in mine:
            if f.start <= e.at < f.end:
                events[(e.offer_id, e.stage, e.kind)] += 1
            if e.kind == "shown":
                for key in ((e.offer_id, e.stage), (e.offer_id,)):
                    first[key] = min(first.get(key, e.at), e.at)
        for key, at in first.items():
            if f.start <= at < f.end:
                reach[key] += 1
                redeemers[key] += key[0] in redeemed
    order = {s.id: s.index for s in model.stages}
    result = []
    for offer in sorted({k[0] for k in events}):
        stages = sorted({k[1] for k in events if k[0] == offer}, key=lambda s: order.get(s, 99))
        result.append({
            "offer_id": offer,
            "impressions": sum(n for k, n in events.items() if k[0] == offer and k[2] == "shown"),
            "reach": reach[(offer,)],
            "redemptions": sum(n for k, n in events.items() if k[0] == offer and k[2] == "redeemed"),
            "redemption_rate": rate(redeemers[(offer,)], reach[(offer,)]),
            "stages": [{"stage": s, "impressions": events[(offer, s, "shown")], "reach": reach[(offer, s)],
                        "redemptions": events[(offer, s, "redeemed")], "redemption_rate": rate(redeemers[(offer, s)], reach[(offer, s)])}
                       for s in stages],
        })
    return {"offers": result, "empty": not result}


def random_filters(rng, model, count: int = 40) -> list[Filters]:
    out = []
    for _ in range(count):
        start = T0 + timedelta(hours=rng.uniform(-72, 100 * 24), seconds=rng.uniform(0, 3600))
        end = start + timedelta(hours=rng.choice((5, 30, 24 * 9, 24 * 20, 24 * 45, 24 * 70, 24 * 130)), seconds=rng.uniform(0, 3600))
        out.append(Filters(start, end, model.id, rng.choice((None, "whatsapp")), rng.choice((None, "p1"))))
    aligned = [
        (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),  # whole months
        (datetime(2026, 1, 26, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)),  # whole weeks (Mondays)
        (datetime(2026, 1, 31, 12, tzinfo=UTC), datetime(2026, 3, 2, 6, tzinfo=UTC)),  # months with partial days around
        (T0 - timedelta(days=10), T0 + timedelta(days=400)),  # everything, incl. agent overrides (wall clock)
        (datetime(2026, 2, 3, 0, 0, 0, 1, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC)),  # ends at a Monday's start
    ]
    for start, end in aligned:
        for channel in (None, "whatsapp"):
            for persona in (None, "p1"):
                out.append(Filters(start, end, model.id, channel, persona))
    return out


# -- the tests ------------------------------------------------------------------------------------


def test_incremental_refresh_equals_rebuild(env):
    assert populate(env) >= 9
    engine = env.engine
    facts.refresh(engine, env.models)
    with engine.connect() as conn:
        assert facts.pending(conn, env.models) == 0
        incremental = snapshot(conn)
        assert conn.execute(select(facts_dirty)).all() == []
    assert facts.refresh(engine, env.models) == 0  # nothing changed: nothing to do
    assert len(incremental["contact_facts"]) > 40 and len(incremental["attribution_facts"]) > 40
    assert {k[0] for k in incremental["contact_rollup"]} == {"d", "m", "w"}
    with engine.begin() as conn:
        facts.rebuild(conn)
    assert facts.refresh(engine, env.models) > 40
    with engine.connect() as conn:
        rebuilt = snapshot(conn)
    for name in incremental:
        assert incremental[name] == rebuilt[name], (name, incremental[name] - rebuilt[name], rebuilt[name] - incremental[name])


@pytest.fixture
def history(env):
    populate(env, seed=23)
    facts.refresh(env.engine, env.models)  # the dashboard does this before it reads
    with env.engine.connect() as conn:
        return load_raw(conn)


def test_funnel_equals_brute_force(env, history):
    rng = random.Random(5)
    totals = Counter()
    with env.engine.connect() as conn:
        for f in random_filters(rng, env.model):
            got = funnel.compute(conn, env.model, f)
            want = funnel_py(history, env.model, f)
            for g, w in zip(got["stages"], want["stages"], strict=True):
                assert g == w, (f, g["stage"])
            assert got == want, f
            for s in want["stages"][1:]:
                totals["reached"] += s["reached"]
                totals["entered"] += s["entered_in_period"]
                totals["late"] += s["reached"] < sum(1 for c in history.contacts.values() if c.journey_model == f.model and f.start <= c.created_at < f.end)
            totals["at_risk"] += want["at_risk"]
            totals["dormant"] += want["dormant"]
            totals["population"] += want["population"]
            totals["channel"] += want["population"] if f.channel else 0
    assert all(totals[k] > 5 for k in ("reached", "entered", "late", "at_risk", "dormant", "population", "channel")), totals


def test_cohorts_equal_brute_force(env, history):
    rng = random.Random(6)
    totals = Counter()
    with env.engine.connect() as conn:
        for f in random_filters(rng, env.model):
            got = cohorts.compute(conn, env.model, f)
            want = cohorts_py(history, env.model, f)
            assert got == want, f
            for row in want["cohorts"]:
                totals["cohorts"] += 1
                for w in row["weeks"][1:]:
                    totals["active_later"] += w["active"]
                    totals["retained_later"] += w["retained"] - row["weeks"][0]["retained"]
                    totals["dropped"] += row["size"] - w["active"]
    assert all(totals[k] > 5 for k in ("cohorts", "active_later", "retained_later", "dropped")), totals


@pytest.mark.parametrize("days", [14, 3])
def test_attribution_equals_brute_force(env, history, days, monkeypatch):
    monkeypatch.setattr(attribution, "TOP", 1000)
    rng = random.Random(7 + days)
    totals = Counter()
    with env.engine.connect() as conn:
        for f in random_filters(rng, env.model):
            got = attribution.compute(conn, env.model, f, days)
            want = attribution_py(history, env.model, f, days)
            for g, w in zip(got["stages"], want["stages"], strict=True):
                assert g == w, (f, g["stage"])
            assert got == want, f
            for s in want["stages"]:
                totals["contacts"] += s["contacts"]
                totals["converted"] += s["converted"]
                totals["unconverted"] += s["contacts"] - s["converted"]
                totals["intent_conv"] += sum(a["exposed_converted"] for a in s["answers"])
                totals["offer_conv"] += sum(o["exposed_converted"] for o in s["offers"])
                totals["offer_unexposed"] += sum(o["unexposed"] for o in s["offers"])
                if f.channel:
                    totals["channel_offers"] += sum(o["exposed"] for o in s["offers"])
    assert all(totals[k] > 5 for k in ("contacts", "converted", "unconverted", "intent_conv", "offer_conv", "offer_unexposed", "channel_offers")), totals


def test_cohorts_show_a_week_begun_less_than_a_second_before_the_end(env, history):
    """The docstring shows every week begun before the end; cohorts.compute takes the last one
    as (end - base - 1 s) // week, so an end 0.5 s after a Monday 00:00 loses that week
    (parse_filters accepts fractional seconds, e.g. to=2026-03-16T00:00:00.5Z)."""
    f = Filters(datetime(2026, 2, 3, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 3, 16, 0, 0, 0, 500000, tzinfo=UTC), env.model.id)
    with env.engine.connect() as conn:
        got = cohorts.compute(conn, env.model, f)
    want = cohorts_py(history, env.model, f)
    assert want["cohorts"] and want["cohorts"][-1]["weeks"]
    assert got == want, f


@pytest.mark.parametrize("join_contacts", [True, False])
def test_feedback_equals_brute_force(env, history, join_contacts):
    rng = random.Random(8)
    totals = Counter()
    with env.engine.connect() as conn:
        for f in random_filters(rng, env.model):
            got = feedback_metrics.compute(conn, env.model, f, join_contacts=join_contacts)
            want = feedback_py(history, env.model, f)
            for part in ("overall", "by_stage", "by_channel", "by_week"):
                assert got[part] == want[part], (f, part)
            assert got == want, f
            first, last = week_start(f.start), week_start(f.end - timedelta(microseconds=1))
            for w in want["by_week"]:
                n = w["nps_answers"] + w["csat_answers"]
                monday = datetime.fromisoformat(w["week"]).replace(tzinfo=UTC)
                totals["partial_week"] += n if (monday == first and f.start != first) or (monday == last and f.end < last + WEEK) else 0
                totals["whole_week"] += n if f.start <= monday and monday + WEEK <= f.end else 0
            totals["nps"] += want["overall"]["nps_answers"]
            totals["csat"] += want["overall"]["csat_answers"]
            totals["channel"] += (want["overall"]["nps_answers"] + want["overall"]["csat_answers"]) if f.channel else 0
            totals["unknown_channel"] += sum(c["nps_answers"] + c["csat_answers"] for c in want["by_channel"] if c["channel"] == "unknown")
            totals["stages"] += len(want["by_stage"]) > 1
            totals["weeks"] += len(want["by_week"]) > 1
    b2c = {cid for cid, c in history.contacts.items() if c.journey_model == env.model.id}
    off_channel = sum(1 for r in history.feedback if r.contact_id in b2c and r.channel is not None and r.channel not in history.idents[r.contact_id])
    assert len(history.feedback) > 150 and off_channel > 3 and any(r.contact_id not in b2c for r in history.feedback)
    assert all(totals[k] > 5 for k in ("partial_week", "whole_week", "nps", "csat", "channel", "unknown_channel", "stages", "weeks")), totals


@pytest.mark.parametrize("join_contacts", [True, False])
def test_offers_equal_brute_force(env, history, join_contacts):
    rng = random.Random(9)
    totals = Counter()
    # Plus periods whose partial days hold the events at the edges (and short ones within a day).
    extra = [Filters(edge - timedelta(hours=h), edge + timedelta(hours=h2), env.model.id, channel, persona)
             for k, edge in enumerate(OFFER_EDGES[::2]) for h, h2 in ((7, 29), (0.5, 3), (30, 24 * 33 + 5))
             for channel, persona in ((None, None), ("whatsapp", None), (None, "p1"))[: 1 + k % 3]]
    with env.engine.connect() as conn:
        for f in random_filters(rng, env.model) + extra:
            got = offers_referrals.offers(conn, env.model, f, join_contacts=join_contacts)
            want = offers_py(history, env.model, f)
            for g, w in zip(got["offers"], want["offers"], strict=True):
                assert g == w, (f, g["offer_id"])
            assert got == want, f
            _whole, partial = periods.split(f.start, f.end)
            for c in history.contacts.values():  # first impressions (per offer) in the partial days
                if not in_scope(history, c, f):
                    continue
                mine = [e for e in history.offers[c.id] if e.kind == "shown" and (f.channel is None or e.channel == f.channel)]
                for offer in {e.offer_id for e in mine}:
                    first = min(e.at for e in mine if e.offer_id == offer)
                    totals["partial_reach"] += any(a <= first < b for a, b in partial)
                    totals["partial_redeemers"] += any(a <= first < b for a, b in partial) and any(e.offer_id == offer and e.kind == "redeemed" and (f.channel is None or e.channel == f.channel) for e in history.offers[c.id])
                    totals["shown_again"] += f.start <= first < f.end and sum(f.start <= e.at < f.end for e in mine if e.offer_id == offer) > 1
                    totals["reached_before"] += first < f.start and any(f.start <= e.at < f.end for e in mine if e.offer_id == offer)
            for o in want["offers"]:
                totals["reach"] += o["reach"]
                totals["redeemers"] += round((o["redemption_rate"] or 0) * o["reach"])
                totals["not_redeemed"] += o["reach"] - round((o["redemption_rate"] or 0) * o["reach"])
                totals["redemptions"] += o["redemptions"]
                totals["stage_redeemers"] += sum(round((s["redemption_rate"] or 0) * s["reach"]) for s in o["stages"])
                totals["redeemed_elsewhere"] += sum(1 for s in o["stages"] if s["redemptions"] and not s["reach"])
                if f.channel:
                    totals["channel_reach"] += o["reach"]
                    totals["channel_redemptions"] += o["redemptions"]
    b2c = {cid for cid, c in history.contacts.items() if c.journey_model == env.model.id}
    events = [e for cid in b2c for e in history.offers[cid]]
    assert sum(e.kind == "redeemed" for e in events) > 30 and any(e.channel is None for e in events)
    assert any(e.at == periods.floor_day(e.at) and e.kind == "redeemed" for e in events)
    assert any(e.kind == "redeemed" and e.channel is not None and e.channel not in history.idents[e.contact_id] for e in events)
    assert any(history.offers[cid] for cid in history.contacts if cid not in b2c)
    keys = ("partial_reach", "partial_redeemers", "shown_again", "reached_before", "reach", "redeemers", "not_redeemed", "redemptions", "stage_redeemers",
            "redeemed_elsewhere", "channel_reach", "channel_redemptions")
    assert all(totals[k] > 5 for k in keys), totals
