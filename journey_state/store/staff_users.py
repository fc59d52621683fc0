"""Staff users of the console (agents and admins), in the journey database.

Functions take an open `Connection` (inside the caller's transaction); `StaffUsers` runs
each as one unit of work of a JourneyStore, so creating a user needs no handoff settings.
Passwords arrive hashed (bot/console/staff/auth.py): nothing here sees a password.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Row

from journey_state.store.contacts import now
from journey_state.store.repository import JourneyStore
from journey_state.store.staff_tables import staff_users

ROLES = ("agent", "admin")
MAX_USERNAME = 64


class StaffUserError(ValueError):
    """A staff user that cannot be created or changed; the message says why."""


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    password_hash: str
    role: str
    created_at: datetime
    disabled: bool


def _user(row: Row) -> StaffUser:
    return StaffUser(row.id, row.username, row.password_hash, row.role, row.created_at, bool(row.disabled))


def check_username(username: str) -> str:
    name = (username or "").strip()
    if not name or len(name) > MAX_USERNAME or not all(c.isalnum() or c in "._-@" for c in name):
        raise StaffUserError(f"a username is 1-{MAX_USERNAME} letters, digits or . _ - @")
    return name


def create_user(conn: Connection, username: str, password_hash: str, role: str, at: datetime | None = None) -> StaffUser:
    name = check_username(username)
    if role not in ROLES:
        raise StaffUserError(f"unknown role {role!r} (use {' or '.join(ROLES)})")
    if find_user(conn, name) is not None:
        raise StaffUserError(f"a staff user named {name!r} already exists")
    conn.execute(insert(staff_users).values(username=name, password_hash=password_hash, role=role, created_at=at or now(), disabled=False))
    created = find_user(conn, name)
    assert created is not None  # inserted just above, in this transaction
    return created


def find_user(conn: Connection, username: str) -> StaffUser | None:
    row = conn.execute(select(staff_users).where(staff_users.c.username == (username or "").strip())).first()
    return None if row is None else _user(row)


def users(conn: Connection) -> list[StaffUser]:
    return [_user(r) for r in conn.execute(select(staff_users).order_by(staff_users.c.username))]


def set_disabled(conn: Connection, username: str, disabled: bool) -> None:
    if conn.execute(update(staff_users).where(staff_users.c.username == username).values(disabled=disabled)).rowcount != 1:
        raise StaffUserError(f"no staff user named {username!r}")


class StaffUsers:
    """Create, find, list and disable staff users; each call is one transaction of the journey store."""

    def __init__(self, store: JourneyStore):
        self.store = store

    def create(self, username: str, password_hash: str, role: str) -> StaffUser:
        return self.store.write(lambda conn: create_user(conn, username, password_hash, role))

    def find(self, username: str) -> StaffUser | None:
        with self.store.read() as conn:
            return find_user(conn, username)

    def all(self) -> list[StaffUser]:
        with self.store.read() as conn:
            return users(conn)

    def set_disabled(self, username: str, disabled: bool) -> None:
        self.store.write(lambda conn: set_disabled(conn, username, disabled))
