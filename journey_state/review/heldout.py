"""Held-out evaluation text, known only by fingerprints, so that it is never exported as training data.

The evaluation sets live outside the project (../shared/eval) and the product never reads
them. `devtools/heldout_fingerprints.py` hashes their normalised utterances once, at dev
time, into `heldout_fingerprints.txt` beside this module (committed): the text itself is
not in the repository, and a customer who happened to type a test utterance is still
refused. The normalisation is the one of the project's leak check (shared/tools/check_leaks.py,
tools/nlu_data/build_data.py): entity markup removed, surrounding quotes stripped,
lowercase, whitespace collapsed, so a text refused here is one the leak check would report.
"""
from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

FINGERPRINTS = Path(__file__).with_name("heldout_fingerprints.txt")
FINGERPRINT_LENGTH = 16  # hex digits of SHA-256: 64 bits, no collision in practice at ~30k texts
_MARKUP = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACES.sub(" ", text.strip().lower())


def leak_key(text: str) -> str:
    """The text as the leak check compares it."""
    unmarked = _MARKUP.sub(lambda m: m.group(1) or m.group(2) or "", text)
    return normalise(unmarked.strip().strip("\"'"))


def fingerprint(text: str) -> str:
    return hashlib.sha256(leak_key(text).encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


class HeldOut:
    """Membership test against a set of fingerprints."""

    def __init__(self, fingerprints: frozenset[str]):
        self.fingerprints = fingerprints

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and fingerprint(text) in self.fingerprints

    @classmethod
    def from_file(cls, path: Path = FINGERPRINTS) -> HeldOut:
        lines = path.read_text(encoding="ascii").splitlines()
        return cls(frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#")))


@functools.cache
def shipped() -> HeldOut:
    """The committed fingerprints (read once per process)."""
    return HeldOut.from_file()
