"""Handoffs to people and the internal notes written about a contact, in the journey store.

States: queued -> assigned -> returned (back to the bot) | closed; a queued handoff may be
closed too. A claim is one conditional UPDATE (`... WHERE status = 'queued'`), so when two
agents claim at once exactly one row changes and exactly one agent owns the handoff, on
SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, and_, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.selectable import Select

from journey_state.errors import ContactNotFound
from journey_state.handoff import (
    AGENT_CLAIM,
    ALL_TRIGGERS,
    HandoffConfig,
    estimate_wait,
    priority_for,
    waiting_update_cutoff,
    waiting_update_due,
)
from journey_state.identifiers import ChannelRef
from journey_state.store import contacts as contact_rows
from journey_state.store.contacts import now
from journey_state.store.repository import JourneyStore
from journey_state.store.staff_tables import staff_notes
from journey_state.store.staff_users import StaffUser, StaffUsers
from journey_state.store.tables import contacts, handoffs

QUEUED, ASSIGNED, RETURNED, CLOSED = "queued", "assigned", "returned", "closed"
OPEN_STATES = (QUEUED, ASSIGNED)
MAX_NOTE = 4000
MAX_REASON = 2000


class HandoffError(ValueError):
    """A handoff operation that cannot be done; the message says why."""


class HandoffNotFound(HandoffError):
    pass


class AlreadyClaimed(HandoffError):
    pass


class HandoffClosed(HandoffError):
    pass


class NotYourHandoff(HandoffError):
    pass


class NotClaimed(HandoffError):
    pass


@dataclass(frozen=True)
class Handoff:
    id: int
    contact_id: int
    contact_uid: str
    stage: str
    at_risk: bool
    channel: str
    sender_id: str
    trigger: str
    priority: int
    status: str
    agent: str | None
    reason: str
    created_at: datetime
    claimed_at: datetime | None
    closed_at: datetime | None
    acknowledged_at: datetime | None = None  # last "still in line" update to the customer

    @property
    def conversation_id(self) -> str:
        """The Rasa conversation this handoff is about."""
        return ChannelRef(self.channel, self.sender_id).conversation_id

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    def waiting(self, at: datetime) -> timedelta:
        return (self.claimed_at or self.closed_at or at) - self.created_at


@dataclass(frozen=True)
class QueuePlace:
    handoff: Handoff
    position: int  # 1 = next to be claimed; 0 once claimed
    wait: timedelta  # estimate until an agent claims it


@dataclass(frozen=True)
class OpenOutcome:
    place: QueuePlace
    created: bool  # False: the conversation already had an open handoff


@dataclass(frozen=True)
class Note:
    id: int
    contact_id: int
    handoff_id: int | None
    author: str
    text: str
    at: datetime


def _select() -> Select:
    return select(handoffs, contacts.c.uid.label("contact_uid"), contacts.c.stage, contacts.c.at_risk).join(
        contacts, contacts.c.id == handoffs.c.contact_id
    )


def _view(row: Row) -> Handoff:
    return Handoff(
        id=row.id, contact_id=row.contact_id, contact_uid=row.contact_uid, stage=row.stage, at_risk=bool(row.at_risk),
        channel=row.channel, sender_id=row.sender_id, trigger=row.trigger, priority=row.priority, status=row.status,
        agent=row.agent, reason=row.reason or "", created_at=row.created_at, claimed_at=row.claimed_at, closed_at=row.closed_at,
        acknowledged_at=row.acknowledged_at,
    )


def get(conn: Connection, handoff_id: int) -> Handoff:
    row = conn.execute(_select().where(handoffs.c.id == handoff_id)).first()
    if row is None:
        raise HandoffNotFound(f"no handoff with id {handoff_id}")
    return _view(row)


def open_for(conn: Connection, channel: str, sender_id: str) -> Handoff | None:
    """The conversation's open (queued or assigned) handoff, if any."""
    row = conn.execute(
        _select()
        .where(handoffs.c.channel == channel, handoffs.c.sender_id == sender_id, handoffs.c.status.in_(OPEN_STATES))
        .order_by(handoffs.c.created_at.desc(), handoffs.c.id.desc())
    ).first()
    return None if row is None else _view(row)


def _order() -> tuple[Column, Column, Column]:
    return (handoffs.c.priority, handoffs.c.created_at, handoffs.c.id)


def queue(conn: Connection, statuses: tuple[str, ...] = (QUEUED,)) -> list[Handoff]:
    """Handoffs in `statuses`, most urgent first, then longest waiting."""
    return [_view(r) for r in conn.execute(_select().where(handoffs.c.status.in_(statuses)).order_by(*_order()))]


def position(conn: Connection, h: Handoff) -> int:
    """1-based place among queued handoffs (0 if not queued)."""
    if h.status != QUEUED:
        return 0
    ahead = conn.execute(
        select(handoffs.c.id).where(
            handoffs.c.status == QUEUED,
            or_(
                handoffs.c.priority < h.priority,
                and_(handoffs.c.priority == h.priority, handoffs.c.created_at < h.created_at),
                and_(handoffs.c.priority == h.priority, handoffs.c.created_at == h.created_at, handoffs.c.id < h.id),
            ),
        )
    ).all()
    return len(ahead) + 1


def recent_waits(conn: Connection, limit: int) -> list[timedelta]:
    """How long the last `limit` claimed handoffs waited (agent takeovers never wait; left out)."""
    rows = conn.execute(
        select(handoffs.c.created_at, handoffs.c.claimed_at)
        .where(handoffs.c.claimed_at.is_not(None), handoffs.c.trigger != AGENT_CLAIM)
        .order_by(handoffs.c.claimed_at.desc())
        .limit(limit)
    ).all()
    return [r.claimed_at - r.created_at for r in rows]


def place(conn: Connection, config: HandoffConfig, h: Handoff) -> QueuePlace:
    pos = position(conn, h)
    wait = estimate_wait(recent_waits(conn, config.wait_history), pos, config.default_wait) if pos else timedelta(0)
    return QueuePlace(h, pos, wait)


def open_handoff(
    conn: Connection,
    store: JourneyStore,
    config: HandoffConfig,
    who: ChannelRef,
    trigger: str,
    reason: str = "",
    at: datetime | None = None,
    agent: str | None = None,
) -> OpenOutcome:
    """Queue the conversation for a person (or assign it to `agent` at once, for a takeover).

    A conversation has at most one open handoff: asking again returns the open one.
    """
    if trigger not in ALL_TRIGGERS:
        raise HandoffError(f"unknown trigger {trigger!r} (known: {', '.join(ALL_TRIGGERS)})")
    at = at or now()
    row = contact_rows.find_or_create(conn, store.model, who)
    row = contact_rows.by_id(conn, row.id, lock=True)  # serialises two opens for one contact
    assert row is not None  # found or created just above, in this transaction
    existing = open_for(conn, who.channel, who.external_id)
    if existing is not None:
        return OpenOutcome(place(conn, config, existing), created=False)
    values: dict[str, Any] = dict(
        contact_id=row.id, channel=who.channel, sender_id=who.external_id, trigger=trigger,
        priority=priority_for(config, row.stage, bool(row.at_risk), trigger),
        status=QUEUED, reason=(reason or "")[:MAX_REASON], created_at=at,
    )
    if agent is not None:
        values.update(status=ASSIGNED, agent=agent, claimed_at=at)
    new_id = conn.execute(insert(handoffs).values(**values)).inserted_primary_key[0]
    return OpenOutcome(place(conn, config, get(conn, new_id)), created=True)


def waiting_update(conn: Connection, config: HandoffConfig, channel: str, sender_id: str, at: datetime | None = None) -> QueuePlace | None:
    """The place and wait to tell a queued customer who just wrote, or None if not due.

    Not due: no queued handoff (a person owns the chat, or none is open), or the customer was
    updated less than `config.update_every` ago. The check and the new timestamp are one
    conditional UPDATE, so two Rasa replicas handling two messages at once update once.
    """
    at = at or now()
    h = open_for(conn, channel, sender_id)
    # Read first so most messages of a burst cost no write; the UPDATE below is the guard.
    if h is None or h.status != QUEUED or not waiting_update_due(h.acknowledged_at, at, config.update_every):
        return None
    cutoff = waiting_update_cutoff(at, config.update_every)
    changed = conn.execute(
        update(handoffs)
        .where(handoffs.c.id == h.id, handoffs.c.status == QUEUED,
               or_(handoffs.c.acknowledged_at.is_(None), handoffs.c.acknowledged_at <= cutoff))
        .values(acknowledged_at=at)
    ).rowcount
    return place(conn, config, get(conn, h.id)) if changed == 1 else None


def claim(conn: Connection, handoff_id: int, agent: str, at: datetime | None = None) -> Handoff:
    """Assign a queued handoff to `agent`; AlreadyClaimed if someone else was first."""
    changed = conn.execute(
        update(handoffs)
        .where(handoffs.c.id == handoff_id, handoffs.c.status == QUEUED)
        .values(status=ASSIGNED, agent=agent, claimed_at=at or now())
    ).rowcount
    h = get(conn, handoff_id)
    if changed != 1:
        if h.status == ASSIGNED:
            raise AlreadyClaimed(f"handoff {handoff_id} was already claimed by {h.agent}")
        raise HandoffClosed(f"handoff {handoff_id} is {h.status}; it cannot be claimed")
    return h


def check_reply(conn: Connection, handoff_id: int, agent: str, admin: bool = False) -> Handoff:
    """The handoff if `agent` may reply in it now; otherwise a HandoffError saying why."""
    h = get(conn, handoff_id)
    if h.status in (RETURNED, CLOSED):
        when = h.closed_at.strftime("%Y-%m-%d %H:%M UTC") if h.closed_at else "earlier"
        verb = "handed back to the bot" if h.status == RETURNED else "closed"
        raise HandoffClosed(f"this conversation was {verb} at {when}; your reply was not sent. Claim a new handoff to talk to the customer again.")
    if h.status == QUEUED:
        raise NotClaimed(f"claim handoff {handoff_id} before replying")
    if h.agent != agent and not admin:
        raise NotYourHandoff(f"handoff {handoff_id} belongs to {h.agent}")
    return h


def check_finish(conn: Connection, handoff_id: int, status: str, agent: str, admin: bool = False) -> Handoff:
    """The handoff if `agent` may finish it as `status` now; otherwise a HandoffError saying why."""
    if status not in (RETURNED, CLOSED):
        raise HandoffError(f"cannot finish a handoff as {status!r}")
    h = get(conn, handoff_id)
    allowed = (ASSIGNED,) if status == RETURNED else OPEN_STATES
    if h.status not in allowed:
        raise HandoffClosed(f"handoff {handoff_id} is {h.status}; it cannot be {'handed back' if status == RETURNED else 'closed'}")
    if h.status == ASSIGNED and h.agent != agent and not admin:
        raise NotYourHandoff(f"handoff {handoff_id} belongs to {h.agent}")
    return h


def finish(conn: Connection, handoff_id: int, status: str, agent: str, admin: bool = False, at: datetime | None = None) -> Handoff:
    """Hand back to the bot (returned, from assigned) or close (from queued or assigned)."""
    h = check_finish(conn, handoff_id, status, agent, admin)
    changed = conn.execute(
        update(handoffs)
        .where(handoffs.c.id == handoff_id, handoffs.c.status == h.status)
        .values(status=status, closed_at=at or now())
    ).rowcount
    if changed != 1:
        raise HandoffClosed(f"handoff {handoff_id} changed meanwhile; reload")
    return get(conn, handoff_id)


def history(conn: Connection, contact_id: int) -> list[Handoff]:
    return [_view(r) for r in conn.execute(_select().where(handoffs.c.contact_id == contact_id).order_by(handoffs.c.created_at.desc(), handoffs.c.id.desc()))]


# -- notes ------------------------------------------------------------------------------------


def add_note(conn: Connection, contact_id: int, author: str, text: str, handoff_id: int | None = None, at: datetime | None = None) -> Note:
    text = (text or "").strip()
    if not text:
        raise HandoffError("a note cannot be empty")
    if len(text) > MAX_NOTE:
        raise HandoffError(f"a note is at most {MAX_NOTE} characters")
    at = at or now()
    new_id = conn.execute(
        insert(staff_notes).values(contact_id=contact_id, handoff_id=handoff_id, author=author, text=text, at=at)
    ).inserted_primary_key[0]
    return Note(new_id, contact_id, handoff_id, author, text, at)


def notes(conn: Connection, contact_id: int) -> list[Note]:
    rows = conn.execute(select(staff_notes).where(staff_notes.c.contact_id == contact_id).order_by(staff_notes.c.at, staff_notes.c.id))
    return [Note(r.id, r.contact_id, r.handoff_id, r.author, r.text, r.at) for r in rows]


class HandoffStore:
    """Handoffs and notes; each call is one transaction of the journey store."""

    def __init__(self, store: JourneyStore, config: HandoffConfig):
        self.store = store
        self.config = config
        self.staff = StaffUsers(store)

    def open(self, who: ChannelRef, trigger: str, reason: str = "", at: datetime | None = None, agent: str | None = None) -> OpenOutcome:
        return self.store.write(lambda conn: open_handoff(conn, self.store, self.config, who, trigger, reason, at, agent))

    def get(self, handoff_id: int) -> Handoff:
        with self.store.read() as conn:
            return get(conn, handoff_id)

    def place(self, handoff_id: int) -> QueuePlace:
        with self.store.read() as conn:
            return place(conn, self.config, get(conn, handoff_id))

    def open_for(self, channel: str, sender_id: str) -> Handoff | None:
        with self.store.read() as conn:
            return open_for(conn, channel, sender_id)

    def queue(self, statuses: tuple[str, ...] = (QUEUED,)) -> list[Handoff]:
        with self.store.read() as conn:
            return queue(conn, statuses)

    def waiting_update(self, channel: str, sender_id: str, at: datetime | None = None) -> QueuePlace | None:
        return self.store.write(lambda conn: waiting_update(conn, self.config, channel, sender_id, at))

    def claim(self, handoff_id: int, agent: str) -> Handoff:
        return self.store.write(lambda conn: claim(conn, handoff_id, agent))

    def check_reply(self, handoff_id: int, agent: str, admin: bool = False) -> Handoff:
        with self.store.read() as conn:
            return check_reply(conn, handoff_id, agent, admin)

    def check_finish(self, handoff_id: int, status: str, agent: str, admin: bool = False) -> Handoff:
        with self.store.read() as conn:
            return check_finish(conn, handoff_id, status, agent, admin)

    def hand_back(self, handoff_id: int, agent: str, admin: bool = False) -> Handoff:
        return self.store.write(lambda conn: finish(conn, handoff_id, RETURNED, agent, admin))

    def close(self, handoff_id: int, agent: str, admin: bool = False) -> Handoff:
        return self.store.write(lambda conn: finish(conn, handoff_id, CLOSED, agent, admin))

    def history(self, contact_uid: str) -> list[Handoff]:
        with self.store.read() as conn:
            return history(conn, self._contact_id(conn, contact_uid))

    def add_note(self, contact_uid: str, author: str, text: str, handoff_id: int | None = None) -> Note:
        return self.store.write(lambda conn: add_note(conn, self._contact_id(conn, contact_uid), author, text, handoff_id))

    def notes(self, contact_uid: str) -> list[Note]:
        with self.store.read() as conn:
            return notes(conn, self._contact_id(conn, contact_uid))

    # Staff users live in journey_state/store/staff_users.py; these keep the console's and
    # the CLI's calls working until they hold a StaffUsers of their own.

    def create_user(self, username: str, password_hash: str, role: str) -> StaffUser:
        return self.staff.create(username, password_hash, role)

    def find_user(self, username: str) -> StaffUser | None:
        return self.staff.find(username)

    def users(self) -> list[StaffUser]:
        return self.staff.all()

    def set_disabled(self, username: str, disabled: bool) -> None:
        self.staff.set_disabled(username, disabled)

    @staticmethod
    def _contact_id(conn: Connection, contact_uid: str) -> int:
        row = contact_rows.by_uid(conn, contact_uid)
        if row is None:
            raise ContactNotFound(f"no contact with id {contact_uid!r}")
        contact_id: int = row.id
        return contact_id
