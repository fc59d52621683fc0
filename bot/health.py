"""Waiting for journeybot's processes to answer their health checks.

One loop for `journeybot announce` (after `journeybot up`), the test stack (devtools/stack.py)
and the benchmarks, so a change in how readiness is judged reaches all of them.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import requests

from bot.settings import Settings

PROBE_TIMEOUT_S = 2.0


def health_urls(settings: Settings) -> dict[str, str]:
    """Each process's health URL: Rasa's root, the action server's /health, the console's /api/health."""
    return {
        "rasa": f"{settings.rasa_url}/",
        "actions": f"{settings.actions_url}/health",
        "console": f"{settings.console_url}/api/health",
    }


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=PROBE_TIMEOUT_S).status_code == 200
    except requests.RequestException:
        return False


def wait_until_healthy(
    urls: Mapping[str, str],
    timeout: float,
    interval: float = 0.5,
    still_running: Callable[[str], None] | None = None,
) -> list[str]:
    """Poll every URL until it answers 200 or `timeout` passes; the names that never answered (empty: all up).

    `still_running(name)` is called before each probe and may raise, so a caller that started
    the process stops waiting as soon as it has exited instead of at the deadline.
    """
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending:
        for name, url in list(pending.items()):
            if still_running is not None:
                still_running(name)
            if _answers(url):
                del pending[name]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(interval)
    return sorted(pending)
