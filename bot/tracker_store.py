"""Rasa's SQL tracker store, without the exit on any ValueError and through database restarts.

`SQLTrackerStore.session_scope` turns every ValueError raised while a session is open into
"PostgreSQL schema not found" and exits the process. A UnicodeEncodeError (a ValueError) from
one message with a lone surrogate therefore stopped the Rasa server, and with it every
customer's conversation. Here only the schema check itself exits; anything else fails the one
turn that raised it. The channels clean text before it gets here (bot/channels/inbound.py);
this is the second line.

A database restart: Rasa's engine has no pre-ping, so the first use of each pooled connection
after PostgreSQL restarted fails. Rasa wraps every tracker store in a FailSafeTrackerStore,
which answers a failed `retrieve` with None: Rasa then handles the message on a brand-new,
empty, *unpaused* tracker (the bot answers a customer a person is talking to, and forgets
the conversation), and a failed `save` goes to memory only. So this store pings connections
before use and retries operations that failed because the database went away, for a few
seconds, before giving up.

endpoints.yml names it: `tracker_store: type: bot.tracker_store.JourneybotSQLTrackerStore`.
Rasa falls back to an in-memory store, with only a warning, when that path does not import,
so tests check the class is really the one in use.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import (
    SQLTrackerStore,
    create_engine_kwargs,
    ensure_schema_exists,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.cli import print_error_and_exit
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A PostgreSQL restart on one machine takes 1-3 s; a failover longer. Past this, Rasa's own
# fallback applies (logged as an error by FailSafeTrackerStore).
RETRY_FOR_S = 30.0
FIRST_DELAY_S, MAX_DELAY_S = 0.2, 2.0


def database_went_away(exc: BaseException) -> bool:
    """A failure that another attempt on a fresh connection can cure (connection lost or refused)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError)


class JourneybotSQLTrackerStore(SQLTrackerStore):
    retry_for_s = RETRY_FOR_S
    engine: sa.engine.Engine  # SQLTrackerStore's, replaced in __init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name != "sqlite":
            # Rasa's engine, rebuilt with pre-ping: a connection PostgreSQL closed is replaced
            # at checkout instead of failing the turn that drew it from the pool.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
            self.sessionmaker = sessionmaker(bind=self.engine)

    @contextlib.contextmanager
    def session_scope(self) -> Generator[Session, None, None]:
        session = self.sessionmaker()
        try:
            try:
                ensure_schema_exists(session)
            except ValueError as exc:
                print_error_and_exit(f"Requested PostgreSQL schema '{exc}' was not found in the database; "
                                     f"create it or unset the schema environment variable. Exiting.")
            yield session
        finally:
            session.close()

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        # Hand-written rather than tenacity (not in the lock): one loop, async sleeps so the
        # server keeps serving other conversations while this one waits for the database.
        deadline = time.monotonic() + self.retry_for_s
        delay = FIRST_DELAY_S
        while True:
            try:
                return await attempt()
            except DBAPIError as exc:
                if not database_went_away(exc) or time.monotonic() + delay > deadline:
                    raise
                logger.warning("tracker store: %s failed (%s); retrying in %.1f s", what, str(exc.orig).strip().splitlines()[0] if exc.orig else exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_S)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        return await self._retrying("retrieve", lambda: SQLTrackerStore.retrieve(self, sender_id))

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        return await self._retrying("retrieve", lambda: SQLTrackerStore.retrieve_full_tracker(self, conversation_id))

    async def save(self, tracker: DialogueStateTracker) -> None:
        # Safe to repeat: a save that failed committed nothing, and each attempt stores only
        # the events the database does not have yet (Rasa counts them in the same session).
        await self._retrying("save", lambda: SQLTrackerStore.save(self, tracker))

    async def keys(self) -> Iterable[str]:
        return await self._retrying("keys", lambda: SQLTrackerStore.keys(self))
