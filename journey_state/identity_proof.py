"""Applying proofs that a channel identity owns an email or phone, once per pair.

Channels prove identifiers on every message (a WhatsApp number, a signed web claim), so the
proof must be cheap when nothing is new: a process-local cache answers repeats, then one
read checks whether the identity's contact already holds the identifier; only a new proof
goes through `JourneyStore.verify_identifier`, which records it with the source as evidence
and merges with the contact that already holds it (stage and history carry over).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from journey_state.identifiers import ChannelRef, Identifier
from journey_state.store import JourneyStore, MergeResult
from journey_state.store.tables import channel_identities, contact_identifiers

# A cached proof is re-checked after this long, so that e.g. an erased contact proves again.
CACHE_TTL_S = 3600.0
CACHE_SIZE = 10_000

KNOWN, RECORDED, MERGED = "known", "recorded", "merged"


@dataclass(frozen=True)
class ProofOutcome:
    """`status`: known (held already, nothing written), recorded (new on this contact) or merged."""

    status: str
    identifier: Identifier
    merge: MergeResult | None = None


class ProofRecorder:
    """Thread-safe; blocking (async callers use a thread)."""

    def __init__(self, store: JourneyStore, ttl_s: float = CACHE_TTL_S, size: int = CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.ttl_s = ttl_s
        self.size = size
        self.clock = clock
        self._seen: OrderedDict[tuple[str, str, str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def prove(self, who: ChannelRef, ident: Identifier, source: str) -> ProofOutcome:
        """`who` proved `ident` through `source` (the channel that vouches for it)."""
        key = (who.channel, who.external_id, ident.kind, ident.value)
        if self._cached(key):
            return ProofOutcome(KNOWN, ident)
        if self._holds(who, ident):
            outcome = ProofOutcome(KNOWN, ident)
        else:
            merge = self.store.verify_identifier(who, ident.kind, ident.value, source)
            outcome = ProofOutcome(MERGED if merge else RECORDED, ident, merge)
        self._remember(key)
        return outcome

    def forget(self) -> None:
        with self._lock:
            self._seen.clear()

    def _holds(self, who: ChannelRef, ident: Identifier) -> bool:
        query = (
            select(channel_identities.c.contact_id)
            .join(contact_identifiers, contact_identifiers.c.contact_id == channel_identities.c.contact_id)
            .where(
                channel_identities.c.channel == who.channel,
                channel_identities.c.external_id == who.external_id,
                contact_identifiers.c.kind == ident.kind,
                contact_identifiers.c.value == ident.value,
            )
        )
        with self.store.read() as conn:
            return conn.execute(query).first() is not None

    def _cached(self, key: tuple[str, str, str, str]) -> bool:
        with self._lock:
            at = self._seen.get(key)
            if at is None:
                return False
            if self.clock() - at > self.ttl_s:
                del self._seen[key]
                return False
            return True

    def _remember(self, key: tuple[str, str, str, str]) -> None:
        with self._lock:
            self._seen[key] = self.clock()
            self._seen.move_to_end(key)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
