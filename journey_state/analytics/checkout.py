"""Checkout links sent in the period and what became of them: the step between "decides to buy" and a paid order.

The funnel's purchase stage counts contacts who asked to buy; this says how many of their
links were opened, paid or left to time out, per product. Links are counted by when they
were sent (half-open period), filtered by the contact's journey model and persona and by the
channel the link was sent on. A link sent in the period and paid after it counts as paid:
the outcome belongs to the send. Still `open` are those neither paid nor timed out yet.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from journey_state.analytics._sql import rate
from journey_state.analytics.filters import Filters
from journey_state.store.checkout_tables import checkout_links
from journey_state.store.tables import contacts


def compute(conn: Connection, f: Filters) -> dict[str, Any]:
    cl, c = checkout_links.c, contacts.c

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = (
        select(cl.product, func.count(), count(cl.opened_at.is_not(None)), count(cl.paid_at.is_not(None)),
               count(cl.timed_out_at.is_not(None)), func.coalesce(func.sum(cl.sent_count), 0))
        .join(contacts, contacts.c.id == cl.contact_id)
        .where(c.journey_model == f.model, cl.created_at >= f.start, cl.created_at < f.end)
        .group_by(cl.product)
        .order_by(cl.product)
    )
    if f.channel is not None:
        query = query.where(cl.channel == f.channel)
    if f.persona is not None:
        query = query.where(c.persona == f.persona)
    products = []
    for product, sent, opened, paid, timed_out, deliveries in conn.execute(query).all():
        products.append({"product": product, "sent": sent, "resent": int(deliveries) - sent, "opened": int(opened),
                         "paid": int(paid), "timed_out": int(timed_out), "open": sent - int(paid) - int(timed_out)})
    totals = {key: sum(p[key] for p in products) for key in ("sent", "resent", "opened", "paid", "timed_out", "open")}
    return {
        **totals,
        "open_rate": rate(totals["opened"], totals["sent"]),
        "paid_rate": rate(totals["paid"], totals["sent"]),
        "products": products,
        "empty": totals["sent"] == 0,
    }
