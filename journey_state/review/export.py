"""Labelled messages as Rasa NLU training data (data/nlu/reviewed.yml).

One `intent:` block per label, each text once. A text is left out, and the reason
reported, when it is held-out evaluation text (journey_state/review/heldout.py), is already
in the other training files (Rasa refuses one example under two intents, and a copy under
the same intent adds nothing), has no words, is too long to be a useful example, or has a
label that is no longer an intent of the domain. When one text got two labels, the later
label wins.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from journey_state.review.heldout import HeldOut, leak_key
from journey_state.store.reviews import ReviewedExample

REVIEWED_FILE = "reviewed.yml"
MAX_EXAMPLE = 300  # characters; longer messages are several requests at once, not one example
HEADER = (
    "# Written by `journeybot nlu export-reviewed` from the labels admins gave unhandled messages\n"
    "# on the staff console's Unhandled messages page. Do not edit: the next export replaces it.\n"
)
# Characters Rasa's example syntax would read as entity markup, and controls no YAML may hold.
_MARKUP = str.maketrans({"[": "(", "]": ")", "{": "(", "}": ")"})
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Skipped:
    text: str
    label: str
    reason: str


@dataclass(frozen=True)
class Export:
    intents: dict[str, list[str]]  # label -> examples, in the order written
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def written(self) -> int:
        return sum(len(v) for v in self.intents.values())

    def yaml(self) -> str:
        lines = [HEADER.rstrip("\n"), 'version: "3.1"', "nlu:"]
        for intent in sorted(self.intents):
            lines += [f"  - intent: {intent}", "    examples: |"]
            lines += [f"      - {text}" for text in self.intents[intent]]
        return "\n".join(lines) + "\n" if self.intents else "\n".join([*lines[:-1], "nlu: []"]) + "\n"


def clean(text: str) -> str:
    """The text as one line of a block-literal example list: no markup, controls or line breaks."""
    return _SPACES.sub(" ", _CONTROLS.sub(" ", text.translate(_MARKUP))).strip()


def build_export(
    examples: Iterable[ReviewedExample], intents: Collection[str], heldout: HeldOut, known: Mapping[str, str]
) -> Export:
    """`known`: leak key -> intent of every example already in the other training files."""
    latest: dict[str, tuple[str, ReviewedExample]] = {}
    skipped: list[Skipped] = []
    for example in examples:
        text = clean(example.text)
        if not any(ch.isalnum() for ch in text):
            skipped.append(Skipped(example.text, example.label, "no words"))
        elif len(text) > MAX_EXAMPLE:
            skipped.append(Skipped(example.text, example.label, f"longer than {MAX_EXAMPLE} characters"))
        elif text in heldout or example.text in heldout:
            skipped.append(Skipped(example.text, example.label, "held-out evaluation text"))
        else:
            latest.pop(leak_key(text), None)  # re-insert: the later label wins, in its own place
            latest[leak_key(text)] = (text, example)
    out: dict[str, list[str]] = {}
    for key, (text, example) in latest.items():
        if example.label not in intents:
            skipped.append(Skipped(text, example.label, f"'{example.label}' is not an intent of the domain"))
        elif key in known:
            where = "" if known[key] == example.label else f" as '{known[key]}'"
            skipped.append(Skipped(text, example.label, f"already in the training data{where}"))
        else:
            out.setdefault(example.label, []).append(text)
    return Export(out, skipped)


def training_examples(nlu_dir: Path, exclude: str = REVIEWED_FILE) -> dict[str, str]:
    """Leak key -> intent of every example in the NLU files of `nlu_dir` except `exclude`."""
    known: dict[str, str] = {}
    for path in sorted(nlu_dir.rglob("*.yml")):
        if path.name == exclude:
            continue
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in document.get("nlu") or []:
            if isinstance(item, dict) and "intent" in item and isinstance(item.get("examples"), str):
                for line in item["examples"].splitlines():
                    if line.strip().startswith("- "):
                        known[leak_key(line.strip()[2:])] = str(item["intent"])
    return known


def domain_intents(domain_file: Path) -> list[str]:
    document: Any = yaml.safe_load(domain_file.read_text(encoding="utf-8")) or {}
    return [str(i) if not isinstance(i, dict) else str(next(iter(i))) for i in document.get("intents") or []]
