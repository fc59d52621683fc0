"""Read models: a contact's journey, its timeline, and a full export."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, column, inspect, select, table
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from journey_state.identifiers import ChannelRef
from journey_state.model import JourneyModel
from journey_state.store.tables import (
    business_events,
    channel_identities,
    contact_identifiers,
    contact_merges,
    feedback,
    handoffs,
    loyalty_ledger,
    offer_events,
    referral_attributions,
    referral_codes,
    touchpoints,
    transitions,
)

RASA_EVENTS = table("events", column("id"), column("sender_id"), column("type_name"), column("timestamp"), column("data"))


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _transition(t: Row) -> dict[str, Any]:
    return {
        "kind": t.kind,
        "from": t.from_value,
        "to": t.to_value,
        "at": iso(t.at),
        "evidence": {
            "signal_type": t.signal_type,
            "source": t.source,
            "signal_id": t.signal_id,
            "excerpt": t.excerpt,
            "confidence": t.confidence,
            "rule": t.rule,
        },
    }


def identities(conn: Connection, contact_id: int) -> list[dict[str, str]]:
    rows = conn.execute(
        select(channel_identities.c.channel, channel_identities.c.external_id)
        .where(channel_identities.c.contact_id == contact_id)
        .order_by(channel_identities.c.id)
    ).all()
    return [{"channel": c, "external_id": e} for c, e in rows]


def conversation_ids(conn: Connection, contact_id: int) -> list[str]:
    """The contact's Rasa conversations: one per channel identity ("whatsapp:+4915...")."""
    return [ChannelRef(i["channel"], i["external_id"]).conversation_id for i in identities(conn, contact_id)]


def contact_view(conn: Connection, model: JourneyModel, row: Row) -> dict[str, Any]:
    """The contact's current journey with every transition and its evidence."""
    history = conn.execute(
        # Application order, so each from→to follows the previous one even when a late
        # business event carries an earlier occurred_at.
        select(transitions).where(transitions.c.contact_id == row.id).order_by(transitions.c.id)
    ).all()
    stage = model.stage(row.stage) if model.has_stage(row.stage) else None
    points = conn.execute(select(loyalty_ledger.c.points).where(loyalty_ledger.c.contact_id == row.id)).scalars().all()
    return {
        "id": row.uid,
        "journey_model": row.journey_model,
        "stage": row.stage,
        "stage_label": stage.label if stage else row.stage,
        "at_risk": bool(row.at_risk),
        "dormant": bool(row.dormant),
        "persona": row.persona,
        "created_at": iso(row.created_at),
        "last_activity_at": iso(row.last_activity_at),
        "identities": identities(conn, row.id),
        "identifiers": [
            {"kind": k, "value": v}
            for k, v in conn.execute(
                select(contact_identifiers.c.kind, contact_identifiers.c.value)
                .where(contact_identifiers.c.contact_id == row.id)
                .order_by(contact_identifiers.c.id)
            ).all()
        ],
        "loyalty_points": sum(points),
        "transitions": [_transition(t) for t in history],
    }


def _rows(conn: Connection, tbl: Table, contact_id: int, order_by: ColumnElement) -> list[Row]:
    rows: list[Row] = conn.execute(select(tbl).where(tbl.c.contact_id == contact_id).order_by(order_by, tbl.c.id)).all()
    return rows


def timeline(conn: Connection, row: Row) -> list[dict[str, Any]]:
    """Touchpoints, transitions, business events, offers, feedback and handoffs, oldest first."""
    items: list[tuple[datetime, int, dict[str, Any]]] = []

    def add(at: datetime, order: int, item: dict[str, Any]) -> None:
        items.append((at, order, {"at": iso(at), **item}))

    for t in _rows(conn, touchpoints, row.id, touchpoints.c.at):
        add(t.at, 0, {"type": "touchpoint", "channel": t.channel, "message_id": t.message_id, "intent": t.intent,
                      "confidence": t.confidence, "emotion": t.emotion, "stage": t.stage, "excerpt": t.excerpt})
    for e in _rows(conn, business_events, row.id, business_events.c.occurred_at):
        add(e.occurred_at, 0, {"type": "business_event", "event_type": e.type, "idempotency_key": e.idempotency_key, "payload": e.payload})
    for t in _rows(conn, transitions, row.id, transitions.c.at):
        add(t.at, 1, {"type": "transition", **_transition(t)})
    for o in _rows(conn, offer_events, row.id, offer_events.c.at):
        add(o.at, 2, {"type": f"offer_{o.kind}", "offer_id": o.offer_id, "stage": o.stage, "channel": o.channel})
    for f in _rows(conn, feedback, row.id, feedback.c.at):
        add(f.at, 2, {"type": "feedback", "kind": f.kind, "score": f.score, "comment": f.comment, "stage": f.stage, "channel": f.channel})
    for h in _rows(conn, handoffs, row.id, handoffs.c.created_at):
        add(h.created_at, 2, {"type": "handoff", "handoff_id": h.id, "trigger": h.trigger, "status": h.status, "priority": h.priority,
                              "agent": h.agent, "channel": h.channel, "claimed_at": iso(h.claimed_at), "closed_at": iso(h.closed_at)})
    items.sort(key=lambda item: (item[0], item[1]))
    return [item for _, _, item in items]


def conversation_events(conn: Connection, sender_ids: list[str]) -> list[dict[str, Any]]:
    """Rasa's stored events of these conversations (same database), if Rasa's table exists."""
    if not sender_ids or not inspect(conn).has_table("events"):
        return []
    rows = conn.execute(
        select(RASA_EVENTS.c.sender_id, RASA_EVENTS.c.type_name, RASA_EVENTS.c.timestamp, RASA_EVENTS.c.data)
        .where(RASA_EVENTS.c.sender_id.in_(sender_ids))
        .order_by(RASA_EVENTS.c.timestamp, RASA_EVENTS.c.id)
    ).all()
    return [{"sender_id": s, "type": t, "timestamp": ts, "data": d} for s, t, ts, d in rows]


def export(conn: Connection, model: JourneyModel, row: Row) -> dict[str, Any]:
    """Everything held about the contact, as plain JSON-able data."""

    def plain(tbl: Table, order_by: ColumnElement, where: ColumnElement | None = None) -> list[dict[str, Any]]:
        query = select(tbl).where(where if where is not None else tbl.c.contact_id == row.id).order_by(order_by, tbl.c.id)
        return [
            {k: (iso(v) if isinstance(v, datetime) else v) for k, v in r._mapping.items() if k not in ("contact_id",)}
            for r in conn.execute(query).all()
        ]

    codes = conn.execute(select(referral_codes.c.id).where(referral_codes.c.contact_id == row.id)).scalars().all()
    return {
        "contact": contact_view(conn, model, row),
        "timeline": timeline(conn, row),
        "business_events": plain(business_events, business_events.c.occurred_at),
        "feedback": plain(feedback, feedback.c.at),
        "offers": plain(offer_events, offer_events.c.at),
        "referral_codes": plain(referral_codes, referral_codes.c.created_at),
        "referrals_made": plain(referral_attributions, referral_attributions.c.at, referral_attributions.c.code_id.in_(codes)),
        "referred_by": plain(referral_attributions, referral_attributions.c.at, referral_attributions.c.referred_contact_id == row.id),
        "loyalty_ledger": plain(loyalty_ledger, loyalty_ledger.c.at),
        "handoffs": plain(handoffs, handoffs.c.created_at),
        "merges": plain(contact_merges, contact_merges.c.at, contact_merges.c.survivor_id == row.id),
        "conversations": conversation_events(conn, conversation_ids(conn, row.id)),
    }
