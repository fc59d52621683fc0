"""Telegram channel state in the journey database: update de-duplication and button payloads.

Both survive a Rasa restart and work across processes: a claimed update id is a primary-key
row (concurrent retries race on the insert, exactly one wins), and a long button payload is
stored under a key derived from the payload itself, so the same payload always gets the same
`callback_data` and a pressed button resolves however old its message is.
"""
from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from journey_state.store.channel_tables import telegram_callbacks, telegram_updates
from journey_state.store.db import READ_ONLY, shared_engine
from journey_state.store.errors import unavailable_as_error

CALLBACK_DATA_MAX_BYTES = 64  # Bot API limit for InlineKeyboardButton.callback_data
CALLBACK_PREFIX = "jb:"  # marks a stored payload; 3 + 43 base64url chars of sha256 = 46 bytes
UPDATE_RETENTION = timedelta(days=7)  # Telegram gives up on an undelivered update after 24 h
PRUNE_EVERY = 256
TELEGRAM_STATE = "telegram state unavailable"
LRU_SIZE = 1024


def callback_key(payload: str) -> str:
    digest = hashlib.sha256(payload.encode("utf-8")).digest()
    return CALLBACK_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def fits_callback_data(payload: str) -> bool:
    """A payload that can be sent as is: short enough and not mistakable for a stored key."""
    return len(payload.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES and not payload.startswith(CALLBACK_PREFIX)


class TelegramState:
    """Synchronous store; the channel calls it through `asyncio.to_thread`."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._payloads: OrderedDict[str, str] = OrderedDict()
        self._claims = 0

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = shared_engine(self.database_url)
            return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def claim_update(self, bot_id: str, update_id: int) -> bool:
        """True the first time this update is seen; False for a redelivery."""
        now = datetime.now(timezone.utc)
        try:
            with unavailable_as_error(TELEGRAM_STATE), self.engine.begin() as conn:
                conn.execute(insert(telegram_updates).values(bot_id=bot_id, update_id=update_id, received_at=now))
        except IntegrityError:
            return False
        self._claims += 1
        if self._claims % PRUNE_EVERY == 1:
            self._prune(now - UPDATE_RETENTION)
        return True

    def _prune(self, before: datetime) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(telegram_updates).where(telegram_updates.c.received_at < before))
        except OperationalError:
            pass  # pruning is housekeeping; the next round retries

    def callback_data(self, payload: str) -> str:
        """What to put in `callback_data` for this payload (stores it if it is too long)."""
        if fits_callback_data(payload):
            return payload
        key = callback_key(payload)
        with self._lock:
            if key in self._payloads:
                self._payloads.move_to_end(key)
                return key
        try:
            with unavailable_as_error(TELEGRAM_STATE), self.engine.begin() as conn:
                found = conn.execute(select(telegram_callbacks.c.key).where(telegram_callbacks.c.key == key)).first()
                if found is None:
                    conn.execute(insert(telegram_callbacks).values(key=key, payload=payload,
                                                                   created_at=datetime.now(timezone.utc)))
        except IntegrityError:
            pass  # another process stored the same payload under the same key
        self._remember(key, payload)
        return key

    def payload_for(self, data: str) -> str | None:
        """The payload a pressed button stands for; None if a stored key is unknown."""
        if not data.startswith(CALLBACK_PREFIX):
            return data
        with self._lock:
            if data in self._payloads:
                self._payloads.move_to_end(data)
                return self._payloads[data]
        with unavailable_as_error(TELEGRAM_STATE), self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            payload = conn.execute(select(telegram_callbacks.c.payload)
                                   .where(telegram_callbacks.c.key == data)).scalar()
        if payload is not None:
            self._remember(data, payload)
        return payload

    def _remember(self, key: str, payload: str) -> None:
        with self._lock:
            self._payloads[key] = payload
            self._payloads.move_to_end(key)
            while len(self._payloads) > LRU_SIZE:
                self._payloads.popitem(last=False)
