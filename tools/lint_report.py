"""Count what ruff and mypy still find, per file and per top-level package.

    .venv/bin/python tools/lint_report.py [--rules]

Run from anywhere; the tools run from the project root with the configuration in pyproject.toml,
exactly as tests/unit/test_lint.py runs them. The "fixable" column is what `ruff check --fix`
would change by itself (import order, pyupgrade, stale noqa); the rest needs a hand.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MYPY_ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+(?::\d+)?: error: .*\[(?P<code>[a-z-]+)\]$")


def run(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout


def ruff_findings() -> list[tuple[str, str, bool]]:
    """(path, rule, fixable) for every ruff finding."""
    found = json.loads(run("ruff", "check", "--no-fix", "--output-format", "json", ".") or "[]")
    return [
        (Path(item["filename"]).resolve().relative_to(ROOT).as_posix(), item["code"] or "syntax", bool(item["fix"]))
        for item in found
    ]


def mypy_findings() -> list[tuple[str, str]]:
    """(path, error code) for every mypy error."""
    found = []
    for line in run("mypy").splitlines():
        match = MYPY_ERROR.match(line)
        if match:
            found.append((match["path"], match["code"]))
    return found


def package(path: str) -> str:
    return path.split("/", 1)[0] if "/" in path else "."


def print_table(title: str, per_file: Counter[str], extra: Counter[str] | None = None) -> None:
    print(f"\n{title}: {sum(per_file.values())}")
    for name, count in sorted(Counter(package(path) for path in per_file.elements()).items()):
        print(f"  {name + '/':<16} {count:>5}")
    header = f"  {'count':>5}" + (f" {'fixable':>7}" if extra is not None else "") + "  file"
    print(header)
    for path, count in per_file.most_common():
        fixable = f" {extra[path]:>7}" if extra is not None else ""
        print(f"  {count:>5}{fixable}  {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rules", action="store_true", help="also count findings per ruff rule and mypy code")
    args = parser.parse_args()

    ruff = ruff_findings()
    mypy = mypy_findings()
    print_table(
        "ruff findings", Counter(path for path, _, _ in ruff), Counter(path for path, _, fixable in ruff if fixable)
    )
    print_table("mypy errors", Counter(path for path, _ in mypy))
    if args.rules:
        print("\nruff rules:")
        for rule, count in Counter(rule for _, rule, _ in ruff).most_common():
            print(f"  {count:>5}  {rule}")
        print("\nmypy codes:")
        for code, count in Counter(code for _, code in mypy).most_common():
            print(f"  {count:>5}  {code}")
    return 1 if ruff or mypy else 0


if __name__ == "__main__":
    sys.exit(main())
