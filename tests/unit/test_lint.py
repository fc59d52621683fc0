"""The tree is clean under the ruff and mypy configuration in pyproject.toml.

Both run as subprocesses of this interpreter, from the project root, so `make test` (and CI) is
still one command. `tools/lint_report.py` counts what is left per file when one of these fails.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.lint


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_ruff_finds_nothing() -> None:
    result = run_tool("ruff", "check", "--no-fix", "--output-format", "concise", ".")
    if result.returncode != 0:
        pytest.fail(f"ruff check .\n{result.stdout}{result.stderr}", pytrace=False)


def test_mypy_finds_nothing() -> None:
    # The files and per-package strictness come from [tool.mypy]; the incremental cache in
    # .mypy_cache keeps a rerun to a few seconds.
    result = run_tool("mypy")
    if result.returncode != 0:
        pytest.fail(f"mypy\n{result.stdout}{result.stderr}", pytrace=False)
