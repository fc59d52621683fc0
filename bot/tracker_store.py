"""Rasa's SQL tracker store, without the exit on any ValueError.

`SQLTrackerStore.session_scope` turns every ValueError raised while a session is open into
"PostgreSQL schema not found" and exits the process. A UnicodeEncodeError (a ValueError) from
one message with a lone surrogate therefore stopped the Rasa server, and with it every
customer's conversation. Here only the schema check itself exits; anything else fails the one
turn that raised it. The channels clean text before it gets here (bot/channels/inbound.py);
this is the second line.

endpoints.yml names it: `tracker_store: type: bot.tracker_store.JourneybotSQLTrackerStore`.
Rasa falls back to an in-memory store, with only a warning, when that path does not import,
so tests check the class is really the one in use.
"""
from __future__ import annotations

import contextlib
from typing import Generator

from rasa.core.tracker_store import SQLTrackerStore, ensure_schema_exists
from rasa.shared.utils.cli import print_error_and_exit
from sqlalchemy.orm import Session


class JourneybotSQLTrackerStore(SQLTrackerStore):
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
