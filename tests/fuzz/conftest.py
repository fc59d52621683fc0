"""Fixtures of the fuzz suite: one real stack per module (see harness.py)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import trained_model  # noqa: F401 (fixture: the model trained once per fingerprint)
from tests.fuzz.harness import FuzzStack, start_fuzz_stack


def pytest_collection_modifyitems(items):
    # Real processes, like tests/e2e: `-m "not e2e"` leaves the fuzz suite out as well.
    for item in items:
        if "/fuzz/" in str(item.fspath):
            item.add_marker(pytest.mark.fuzz)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def fuzz_stack(trained_model, tmp_path_factory) -> Iterator[FuzzStack]:
    stack, stop = start_fuzz_stack(trained_model, tmp_path_factory.mktemp("fuzz"))
    try:
        yield stack
    finally:
        stop()
