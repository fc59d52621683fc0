"""Rules of the staff console that do not depend on the web framework.

Which conversation an agent may take over, where a login may send the browser next, how
failed logins are limited, and when a staff session expires. The console (bot/console)
only reads the request and applies these.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from journey_state.identifiers import ChannelRef, InvalidConversationId, addressable_sender_id

# The input channel names journeybot's connectors report (Rasa's REST channel, the web chat,
# which keeps Rasa's "socketio" name, Telegram, and WhatsApp through either provider).
CHANNELS = ("rest", "socketio", "telegram", "whatsapp")
MAX_NEXT = 2000
CONSOLE_ROOT = "/staff"


class InvalidStaffInput(ValueError):
    """Form or query input the console refuses; the message says what is allowed."""


def takeover_target(channel: str, sender_id: str) -> ChannelRef:
    """The conversation an agent asked to take over, or InvalidStaffInput saying what is wrong."""
    channel, sender_id = (channel or "").strip(), (sender_id or "").strip()
    if not channel or not sender_id:
        raise InvalidStaffInput("give the channel and the sender id of the conversation to take over")
    if channel not in CHANNELS:
        raise InvalidStaffInput(f"unknown channel {_shown(channel)}; choose one of {', '.join(CHANNELS)}")
    try:
        # The same rule every channel applies: ids that Rasa's API can address unencoded.
        return ChannelRef(channel, addressable_sender_id(sender_id))
    except InvalidConversationId as exc:
        raise InvalidStaffInput(f"{exc} (this one has {len(sender_id)} characters)") from None


def safe_next(target: str | None) -> str | None:
    """The console page to go to after logging in; None if none was asked for.

    Only a path of this console (same site, relative): anything else could send a freshly
    logged-in agent to another site, and CR/LF would split the Location header.
    """
    if not target:
        return None
    problem = _next_problem(target)
    if problem:
        raise InvalidStaffInput(f"the return address in this link was refused ({problem}); after logging in you go to the queue")
    return target


def _next_problem(target: str) -> str | None:
    if len(target) > MAX_NEXT:
        return f"longer than {MAX_NEXT} characters"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "it contains control characters"
    # Browsers read a backslash as a slash, so "/\\evil.example" is "//evil.example".
    if "\\" in target:
        return "it contains a backslash"
    if target.startswith("//") or not (target == CONSOLE_ROOT or target.startswith((CONSOLE_ROOT + "/", CONSOLE_ROOT + "?"))):
        return f"only pages under {CONSOLE_ROOT}/ are allowed"
    return None


def _shown(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


# -- failed logins ----------------------------------------------------------------------------


def address_key(address: str | None) -> str:
    """The rate-limit key for a peer address: IPv4 as is, IPv6 by its /64 (one subscriber's block)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return f"addr:{address or 'unknown'}"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


class LoginLimiter:
    """Failed logins limited per address and per address and username, never per username alone.

    A limit on the username alone would let anyone lock a colleague out by typing wrong
    passwords for them; keyed by address, the flood only locks the flooding address.
    In-process, like the console (one process).
    """

    SWEEP_AT = 10_000  # keys kept before expired ones are dropped

    def __init__(self, per_address: int = 20, per_user: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.per_address, self.per_user, self.window = per_address, per_user, window
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    @staticmethod
    def _keys(address: str | None, username: str) -> tuple[str, str]:
        addr = address_key(address)
        return addr, f"{addr}|user:{(username or '').strip().lower()}"

    def _count(self, key: str, at: float) -> int:
        q = self._failures.get(key)
        if q is None:
            return 0
        while q and q[0] <= at - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
            return 0
        return len(q)

    def blocked(self, address: str | None, username: str) -> bool:
        addr, user = self._keys(address, username)
        at = self._clock()
        with self._lock:
            return self._count(addr, at) >= self.per_address or self._count(user, at) >= self.per_user

    def failed(self, address: str | None, username: str) -> None:
        at = self._clock()
        with self._lock:
            if len(self._failures) >= self.SWEEP_AT:
                for key in list(self._failures):
                    self._count(key, at)
            for key in self._keys(address, username):
                self._failures[key].append(at)

    def succeeded(self, address: str | None, username: str) -> None:
        # Only this address's count for this user: a valid login must not reset the address's
        # own count, or one known account would let an address guess everyone else's.
        with self._lock:
            self._failures.pop(self._keys(address, username)[1], None)


# -- sessions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    """A staff session ends `absolute` after login or `idle` after its last request."""

    absolute: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(minutes=60)
    # The last-seen time is written at most this often, not on every 2-second transcript poll.
    touch_every: timedelta = timedelta(seconds=30)

    def expired(self, created_at: datetime, seen_at: datetime, at: datetime) -> bool:
        return at - created_at >= self.absolute or at - seen_at >= self.idle

    def touch_due(self, seen_at: datetime, at: datetime) -> bool:
        return at - seen_at >= self.touch_every

    def expires_at(self, created_at: datetime) -> datetime:
        return created_at + self.absolute
