#!/usr/bin/env python
"""Evaluate bot.nlu.emotion.EmotionClassifier on a labelled CSV (columns: text,label).

Prints accuracy, macro-F1, per-label precision/recall/F1, the confusion matrix
(rows = gold, columns = predicted) and the mean classification time per message.

    .venv/bin/python bench/emotion_eval.py [tests/data/emotion_labelled.csv] [--errors]
        [--split all|even|odd]

--errors lists the misclassified messages with their evidence; --split keeps only the
even- or odd-numbered rows (used to tune on one half and check on the other).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bot.nlu.emotion import LABELS, EmotionClassifier

DEFAULT_CSV = PROJECT_DIR / "tests" / "data" / "emotion_labelled.csv"


def load_rows(path: Path, split: str = "all") -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [(row["text"], row["label"].strip()) for row in csv.DictReader(handle)]
    if split == "even":
        rows = rows[0::2]
    elif split == "odd":
        rows = rows[1::2]
    return rows


def metrics(gold: list[str], predicted: list[str], labels=LABELS) -> dict:
    confusion = {g: dict.fromkeys(labels, 0) for g in labels}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    per_label = {}
    for label in labels:
        tp = confusion[label][label]
        predicted_n = sum(confusion[g][label] for g in labels)
        gold_n = sum(confusion[label].values())
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / gold_n if gold_n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": gold_n}
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0
    macro_f1 = sum(v["f1"] for v in per_label.values()) / len(labels)
    return {"accuracy": accuracy, "macro_f1": macro_f1, "per_label": per_label, "confusion": confusion}


def format_confusion(confusion: dict, labels=LABELS) -> str:
    width = max(len(label) for label in labels) + 2
    lines = ["gold \\ predicted".ljust(18) + "".join(label.rjust(width) for label in labels)]
    for gold in labels:
        lines.append(gold.ljust(18) + "".join(str(confusion[gold][p]).rjust(width) for p in labels))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV))
    parser.add_argument("--errors", action="store_true", help="list misclassified messages")
    parser.add_argument("--split", choices=("all", "even", "odd"), default="all")
    args = parser.parse_args(argv)

    rows = load_rows(Path(args.csv), args.split)
    classifier = EmotionClassifier()
    classifier.classify("warm-up: loads the lexicons")

    start, cpu_start = time.perf_counter(), time.process_time()
    predicted = [classifier.classify(text).label for text, _ in rows]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    gold = [label for _, label in rows]
    result = metrics(gold, predicted)

    print(f"{args.csv} ({args.split}): {len(rows)} messages")
    print(f"accuracy  {result['accuracy']:.3f}")
    print(f"macro-F1  {result['macro_f1']:.3f}")
    print(f"{'label':10s}{'precision':>10s}{'recall':>10s}{'f1':>10s}{'support':>10s}")
    for label, values in result["per_label"].items():
        print(f"{label:10s}{values['precision']:10.3f}{values['recall']:10.3f}{values['f1']:10.3f}{values['support']:10d}")
    print(format_confusion(result["confusion"]))
    n = max(len(rows), 1)
    print(f"mean time per message: {elapsed / n * 1e3:.3f} ms wall, {cpu / n * 1e3:.3f} ms CPU (first sight of each word)")
    start, cpu_start = time.perf_counter(), time.process_time()
    for text, _ in rows:
        classifier.classify(text)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"mean time per message: {elapsed / n * 1e3:.3f} ms wall, {cpu / n * 1e3:.3f} ms CPU (warm spelling cache)")

    if args.errors:
        print("\nmisclassified:")
        for (text, label), guess in zip(rows, predicted, strict=True):
            if guess != label:
                ev = classifier.explain(text)
                print(
                    f"  gold={label:8s} got={guess:8s} v={ev['valence']:+.2f} vader={ev['vader']:+.2f} "
                    f"a={ev['arousal']:.2f} ang={ev['anger_evidence']:.2f} sad={ev['sadness_evidence']:.2f} "
                    f"esc={ev['escalation']} sarc={ev['sarcasm']} emo={ev['emotions']} | {text}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
