"""journey_state/retrying.py: the retry loop the HTTP clients share."""
from __future__ import annotations

import asyncio

import pytest

from journey_state.retrying import call_with_retries, call_with_retries_async


class Flaky:
    def __init__(self, failures: list[Exception]):
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def up_to(retries: int, transient: type[Exception] = ConnectionError):
    seen: list[tuple[str, int]] = []

    def delay(exc: Exception, failures: int) -> float | None:
        seen.append((type(exc).__name__, failures))
        return 0.5 * failures if isinstance(exc, transient) and failures <= retries else None

    return delay, seen


def test_transient_failures_are_retried_with_the_policys_waits():
    sleeps: list[float] = []
    delay, seen = up_to(2)
    attempt = Flaky([ConnectionError(), ConnectionError()])
    assert call_with_retries(attempt, delay, sleeps.append) == "done"
    assert attempt.calls == 3 and sleeps == [0.5, 1.0] and seen == [("ConnectionError", 1), ("ConnectionError", 2)]


def test_the_last_failure_is_raised_once_the_policy_gives_up():
    sleeps: list[float] = []
    delay, _ = up_to(1)
    last = ConnectionError("third")
    with pytest.raises(ConnectionError) as caught:
        call_with_retries(Flaky([ConnectionError(), last, ConnectionError()]), delay, sleeps.append)
    assert caught.value is last and sleeps == [0.5]


def test_a_failure_the_policy_does_not_retry_is_raised_at_once():
    sleeps: list[float] = []
    delay, _ = up_to(5)
    attempt = Flaky([ValueError("bad request")])
    with pytest.raises(ValueError):
        call_with_retries(attempt, delay, sleeps.append)
    assert attempt.calls == 1 and sleeps == []


def test_a_zero_wait_still_retries():
    attempt = Flaky([ConnectionError()])
    assert call_with_retries(attempt, lambda exc, n: 0.0, lambda s: None) == "done" and attempt.calls == 2


def test_the_async_loop_awaits_its_waits():
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    flaky = Flaky([ConnectionError()])

    async def attempt() -> str:
        return flaky()

    delay, _ = up_to(2)
    assert asyncio.run(call_with_retries_async(attempt, delay, sleep)) == "done"
    assert sleeps == [0.5]
