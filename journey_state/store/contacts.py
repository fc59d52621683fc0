"""Finding, locking and creating contacts inside a transaction."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.selectable import Select

from journey_state.engine import ContactState, initial_state
from journey_state.errors import ContactNotFound
from journey_state.identifiers import MAX_EXTERNAL_ID, ChannelRef, ContactRef, Identifier  # noqa: F401 (re-exported)
from journey_state.model import JourneyModel
from journey_state.store.tables import channel_identities, contact_identifiers, contact_merges, contacts


def now() -> datetime:
    return datetime.now(timezone.utc)


def state_of(row: Row) -> ContactState:
    return ContactState(stage=row.stage, at_risk=row.at_risk, dormant=row.dormant, last_activity_at=row.last_activity_at)


def _query(ref: ContactRef) -> Select:
    if isinstance(ref, ChannelRef):
        return (
            select(contacts)
            .join(channel_identities, channel_identities.c.contact_id == contacts.c.id)
            .where(channel_identities.c.channel == ref.channel, channel_identities.c.external_id == ref.external_id)
        )
    return (
        select(contacts)
        .join(contact_identifiers, contact_identifiers.c.contact_id == contacts.c.id)
        .where(contact_identifiers.c.kind == ref.kind, contact_identifiers.c.value == ref.value)
    )


def find(conn: Connection, ref: ContactRef, lock: bool = False) -> Row | None:
    """The contact behind a channel identity or verified identifier; `lock` holds its row until commit."""
    query = _query(ref)
    if lock and conn.dialect.name != "sqlite":  # SQLite is already locked by BEGIN IMMEDIATE
        query = query.with_for_update(of=contacts)
    return conn.execute(query).first()


def by_uid(conn: Connection, uid: str, lock: bool = False) -> Row | None:
    """A contact by public id; ids of contacts merged away resolve to the survivor."""
    query = select(contacts).where(contacts.c.uid == uid)
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        survivor = conn.execute(select(contact_merges.c.survivor_id).where(contact_merges.c.merged_uid == uid)).scalar()
        if survivor is not None:
            return by_id(conn, survivor, lock)
    return row


def require(conn: Connection, uid: str, lock: bool = False) -> Row:
    """Like `by_uid`, for callers that cannot go on without the contact (ContactNotFound)."""
    row = by_uid(conn, uid, lock)
    if row is None:
        raise ContactNotFound(f"no contact with id {uid!r}")
    return row


def by_id(conn: Connection, contact_id: int, lock: bool = False) -> Row | None:
    query = select(contacts).where(contacts.c.id == contact_id)
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return conn.execute(query).first()


def create(conn: Connection, model: JourneyModel, ref: ContactRef, source: str = "conversation") -> Row:
    """A new contact in the model's initial stage, reachable through `ref`."""
    at = now()
    contact_id = conn.execute(
        insert(contacts).values(
            uid=uuid.uuid4().hex,
            journey_model=model.id,
            stage=initial_state(model).stage,
            at_risk=False,
            dormant=False,
            created_at=at,
            updated_at=at,
            last_activity_at=None,
        )
    ).inserted_primary_key[0]
    if isinstance(ref, ChannelRef):
        conn.execute(
            insert(channel_identities).values(
                contact_id=contact_id, channel=ref.channel, external_id=ref.external_id, created_at=at
            )
        )
    else:
        conn.execute(
            insert(contact_identifiers).values(
                contact_id=contact_id, kind=ref.kind, value=ref.value, verified_at=at, source=source
            )
        )
    return by_id(conn, contact_id)


def find_or_create(conn: Connection, model: JourneyModel, ref: ContactRef, source: str = "conversation") -> Row:
    row = find(conn, ref, lock=True)
    return row if row is not None else create(conn, model, ref, source)
