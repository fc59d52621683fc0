"""Staff console sessions kept in the journey database (table staff_sessions, revision 0011).

The browser holds a random token and nothing else; the row, keyed by the token's SHA-256,
holds the user and the session's data (CSRF token, flash messages). A session is valid only
while it has not expired (journey_state.staff_rules.SessionPolicy), its user exists and is
enabled, and the user's password is the one they logged in with. Ending a session deletes
its row, so a copied cookie stops working everywhere at once.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from journey_state.staff_rules import SessionPolicy
from journey_state.store.contacts import now
from journey_state.store.db import READ_ONLY, connect_waiting
from journey_state.store.errors import unavailable_as_error
from journey_state.store.staff_tables import staff_sessions, staff_users
from journey_state.store.staff_users import StaffUser

STAFF_SESSIONS = "staff sessions unavailable"
TOKEN_BYTES = 32
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(value: str | None) -> bool:
    return bool(value and _TOKEN.match(value))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def credential_stamp(password_hash: str) -> str:
    return _digest(password_hash)


@dataclass(frozen=True)
class LiveSession:
    token: str
    username: str
    role: str
    data: dict[str, Any]
    created_at: datetime
    seen_at: datetime


class StaffSessionStore:
    """Create, read, refresh and end staff sessions; each call is one transaction."""

    def __init__(self, engine: Engine, policy: SessionPolicy | None = None):
        self.engine = engine
        self.policy = policy or SessionPolicy()

    def create(self, user: StaffUser, data: dict[str, Any], at: datetime | None = None) -> str:
        """A new session for `user` (the caller checked the password); returns the token for the cookie."""
        at = at or now()
        token = new_token()
        with self._write() as conn:
            self._purge(conn, at)
            conn.execute(insert(staff_sessions).values(
                id=_digest(token), user_id=user.id, credential=credential_stamp(user.password_hash),
                data=json.dumps(data), created_at=at, seen_at=at,
            ))
        return token

    def load(self, token: str, at: datetime | None = None) -> LiveSession | None:
        """The live session behind `token`, or None; an expired or revoked one is deleted on the way."""
        if not is_token(token):
            return None
        at = at or now()
        query = (
            select(staff_sessions, staff_users.c.username, staff_users.c.role, staff_users.c.disabled, staff_users.c.password_hash)
            .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
            .where(staff_sessions.c.id == _digest(token))
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        if self.policy.expired(row.created_at, row.seen_at, at) or row.disabled or row.credential != credential_stamp(row.password_hash):
            self.end(token)
            return None
        return LiveSession(token, row.username, row.role, json.loads(row.data), row.created_at, row.seen_at)

    def save(self, token: str, data: dict[str, Any] | None = None, seen_at: datetime | None = None) -> None:
        """Store changed session data and/or the time of the latest request."""
        values: dict[str, Any] = {}
        if data is not None:
            values["data"] = json.dumps(data)
        if seen_at is not None:
            values["seen_at"] = seen_at
        if values:
            with self._write() as conn:
                conn.execute(update(staff_sessions).where(staff_sessions.c.id == _digest(token)).values(**values))

    def end(self, token: str) -> None:
        with self._write() as conn:
            conn.execute(delete(staff_sessions).where(staff_sessions.c.id == _digest(token)))

    def end_all_for(self, username: str) -> int:
        """End every session of `username` (disabled, or credentials changed); returns how many."""
        users = select(staff_users.c.id).where(staff_users.c.username == username).scalar_subquery()
        with self._write() as conn:
            ended: int = conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == users)).rowcount
            return ended

    def _purge(self, conn: Connection, at: datetime) -> None:
        # Sessions nobody ends (the browser was closed) are dropped when someone logs in.
        conn.execute(delete(staff_sessions).where(or_(
            staff_sessions.c.seen_at <= at - self.policy.idle,
            staff_sessions.c.created_at <= at - self.policy.absolute,
        )))

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with unavailable_as_error(STAFF_SESSIONS), connect_waiting(self.engine) as conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with unavailable_as_error(STAFF_SESSIONS), connect_waiting(self.engine).execution_options(**{READ_ONLY: True}) as conn:
            yield conn
