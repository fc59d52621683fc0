"""The one retry loop of the HTTP clients (Rasa, Shopify, WhatsApp, Telegram).

Each client keeps its own rule for what may be sent again (only requests that never reached
the server, or rate limits with a short Retry-After, or GETs) and its own error translation;
the loop, the counting and the waiting are here. tenacity is not in the lock, and urllib3's
Retry can express neither those rules nor the injected sleep that the tests use.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
# The wait after the n-th failed attempt (n counts from 1), or None to give up and raise it.
Delay = Callable[[Exception, int], "float | None"]


def call_with_retries(attempt: Callable[[], T], delay: Delay, sleep: Callable[[float], object] = time.sleep) -> T:
    """`attempt()` until it returns; after each failure `delay(exc, n)` says how long to wait, or None to raise `exc`."""
    failures = 0
    while True:
        try:
            return attempt()
        except Exception as exc:
            failures += 1
            wait = delay(exc, failures)
            if wait is None:
                raise
        sleep(wait)


async def call_with_retries_async(
    attempt: Callable[[], Awaitable[T]], delay: Delay, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
) -> T:
    """call_with_retries for coroutines: the wait does not block the event loop."""
    failures = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            failures += 1
            wait = delay(exc, failures)
            if wait is None:
                raise
        await sleep(wait)
