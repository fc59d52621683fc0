"""Durable WhatsApp state: each user's last inbound time, and inbound ids already processed."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from journey_state.store.channel_tables import whatsapp_inbound, whatsapp_sessions
from journey_state.store.db import READ_ONLY, shared_engine

# Meta redelivers for up to 7 days; ids older than this cannot come back.
KEEP_INBOUND_IDS = timedelta(days=14)
PRUNE_EVERY = 500


class WhatsAppStore:
    """Blocking calls (SQLAlchemy); async callers run them in a thread."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._claims = itertools.count(1)

    @classmethod
    def from_url(cls, url: str) -> WhatsAppStore:
        return cls(shared_engine(url))

    def claim(self, message_id: str, wa_id: str, now: datetime | None = None) -> bool:
        """True the first time `message_id` is seen (across processes: the primary key decides)."""
        now = now or datetime.now(timezone.utc)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(whatsapp_inbound).values(message_id=message_id, wa_id=wa_id, received_at=now))
        except IntegrityError:
            return False
        if next(self._claims) % PRUNE_EVERY == 0:
            with self.engine.begin() as conn:
                conn.execute(delete(whatsapp_inbound).where(whatsapp_inbound.c.received_at < now - KEEP_INBOUND_IDS))
        return True

    def release(self, message_id: str) -> None:
        """Forget a claim whose processing failed, so that Meta's redelivery is processed."""
        with self.engine.begin() as conn:
            conn.execute(delete(whatsapp_inbound).where(whatsapp_inbound.c.message_id == message_id))

    def touch(self, wa_id: str, provider: str, at: datetime) -> None:
        """Record an inbound message at `at`; the stored time only moves forward."""
        table = whatsapp_sessions
        for _ in range(2):
            with self.engine.begin() as conn:
                current = conn.execute(select(table.c.last_inbound_at).where(table.c.wa_id == wa_id)).scalar_one_or_none()
                if current is not None:
                    if at > current:
                        conn.execute(update(table).where(table.c.wa_id == wa_id).values(last_inbound_at=at, provider=provider))
                    return
                try:
                    with conn.begin_nested():
                        conn.execute(insert(table).values(wa_id=wa_id, provider=provider, last_inbound_at=at))
                    return
                except IntegrityError:
                    pass  # inserted concurrently: go round again and update

    def provider_of(self, wa_id: str) -> str | None:
        """Which provider (cloud | twilio) carried the user's last message."""
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            return conn.execute(select(whatsapp_sessions.c.provider).where(whatsapp_sessions.c.wa_id == wa_id)).scalar_one_or_none()

    def last_inbound(self, wa_id: str) -> datetime | None:
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            return conn.execute(select(whatsapp_sessions.c.last_inbound_at).where(whatsapp_sessions.c.wa_id == wa_id)).scalar_one_or_none()
