"""Write journey_state/review/heldout_fingerprints.txt from the evaluation sets (dev time only).

    .venv/bin/python -m devtools.heldout_fingerprints [--eval ../shared/eval]

Every utterance of every split that measures the model (Bitext test and validation, the
Bitext 2020 sample, CLINC150's test, validation and out-of-scope test and validation) is
hashed as journey_state.review.heldout normalises it. Rerun it when an evaluation set is
added; the product only ever reads the fingerprints.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from journey_state.review.heldout import FINGERPRINTS, fingerprint

PROJECT = Path(__file__).resolve().parents[1]
BITEXT_CSVS = (
    "bitext_intent_detection/Bitext_Sample_Customer_Service_Testing_Dataset.csv",
    "bitext_intent_detection/Bitext_Sample_Customer_Service_Validation_Dataset.csv",
    "bitext_20k_2020/TrainingdatasetBitextsample.csv",
)
CLINC_SPLITS = ("test", "val", "oos_test", "oos_val")


def heldout_texts(eval_dir: Path) -> list[str]:
    texts: list[str] = []
    for name in BITEXT_CSVS:
        with (eval_dir / name).open(encoding="utf-8-sig") as fh:
            texts += [row["utterance"] for row in csv.DictReader(fh)]
    clinc = json.loads((eval_dir / "clinc150/data_full.json").read_text(encoding="utf-8"))
    for split in CLINC_SPLITS:
        texts += [text for text, _ in clinc[split]]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, default=PROJECT.parent / "shared" / "eval")
    parser.add_argument("--out", type=Path, default=FINGERPRINTS)
    args = parser.parse_args()
    texts = heldout_texts(args.eval)
    prints = sorted({fingerprint(t) for t in texts})
    header = f"# {len(prints)} fingerprints of held-out evaluation utterances; written by devtools/heldout_fingerprints.py\n"
    args.out.write_text(header + "\n".join(prints) + "\n", encoding="ascii")
    print(f"{len(texts)} utterances, {len(prints)} fingerprints -> {args.out}")


if __name__ == "__main__":
    main()
