#!/usr/bin/env python3
"""Generate journeybot NLU training YAML from public data sets (with leak removal).

Sources (paths are CLI arguments; nothing else is read):
  * Bitext customer-service intent detection sample, TRAIN split only (CDLA-Sharing-1.0)
  * CLINC150 `train` (filtered intents) and `oos_train` only (CC BY 3.0)
  * hand-written examples for journeybot's own intents (extra_intents.py)

Leak removal: any training utterance whose normalised form (lowercase, whitespace collapsed,
same as shared/tools/check_leaks.py) equals a held-out utterance (Bitext test/validation,
CLINC oos_test) is dropped -- this applies to augmented variants and hand-written rows too.

Winning recipe (run e9 in REPORT.md); --holdout-csv may be repeated (any CSV with an `utterance`
column: its utterances are excluded from training; the 2020 Bitext sample is passed only for that):
  python build_data.py --bitext-train TRAIN.csv --holdout-csv TEST.csv --holdout-csv VAL.csv \
      --holdout-csv TrainingdatasetBitextsample.csv --clinc-json data_full.json --out data/nlu \
      --deentity --augment 0.5 --synonyms 0.5 --paraphrases 4 --oos-per-intent 25 --seed 13
"""
import argparse
import csv
import json
import os
import random
import re
from collections import defaultdict

from extra_intents import EXTRA_INTENTS
from support_paraphrases import SUPPORT_PARAPHRASES


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip().lower())

# CLINC150 intents NOT used as out_of_scope examples because they overlap the 27 Bitext
# support intents, the shop domain (orders, payments, bills, cards, accounts, cancellations,
# rewards, shopping lists) or journeybot's own chit-chat / journey intents.
CLINC_EXCLUDED = sorted({
    # accounts / login / identity
    "account_blocked", "freeze_account", "change_user_name", "user_name", "pin_change",
    # payments, bills, cards, banking transactions
    "bill_balance", "bill_due", "pay_bill", "card_declined", "min_payment", "transactions",
    "spending_history", "balance", "transfer", "direct_deposit", "international_fees",
    "expiration_date", "new_card", "replacement_card_duration", "report_lost_card",
    "damaged_card", "report_fraud", "credit_limit", "credit_limit_change", "apr",
    "interest_rate", "routing", "order_checks",
    # orders, shipping, cancellations, shopping
    "order", "order_status", "cancel", "cancel_reservation", "shopping_list",
    "shopping_list_update",
    # loyalty / rewards (journeybot: loyalty_points)
    "redeem_rewards", "rewards_balance",
    # chit-chat covered by journeybot intents (greet, goodbye, thanks, affirm, deny, bot_challenge)
    "greeting", "goodbye", "thank_you", "yes", "no", "maybe", "are_you_a_bot",
    "what_can_i_ask_you", "repeat",
})

FILLERS_PRE = ["", "hi, ", "hello, ", "hey ", "please ", "excuse me, ", "um ", "ok so ", "good morning, "]
PREFIXES = [
    "can you tell me ", "i want to know ", "i'd like to know ", "could you help me? ",
    "can u help me? ", "i need help, ", "help me, ", "can you ask an agent ", "tell me ",
    "i have a question, ", "quick question: ", "i wonder ",
]
SUFFIXES = ["", " please", " pls", " thanks", " thank you", " asap", " now", "?", " ??", " !", " help"]
WORD_SUBS = [
    (r"\byou\b", "u"), (r"\byour\b", "ur"), (r"\bplease\b", "pls"), (r"\bwant to\b", "wanna"),
    (r"\bgoing to\b", "gonna"), (r"\bI am\b", "I'm"), (r"\bdo not\b", "don't"), (r"\bdon't\b", "dont"),
    (r"\bcan not\b", "can't"), (r"\bcan't\b", "cant"), (r"\bI\b", "i"), (r"\bI'd\b", "id"),
    (r"\bwould like to\b", "want to"), (r"\bhave to\b", "need to"), (r"\bneed to\b", "have to"),
]
KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"
SYNONYMS = [("order", "purchase"), ("invoice", "bill"), ("account", "profile"), ("refund", "reimbursement"),
            ("package", "parcel"), ("delivery", "shipment"), ("problem", "issue"), ("customer service", "customer support"),
            ("customer", "client"), ("get", "obtain"), ("want", "would like"), ("help", "assistance")]
ENTITY_PATTERNS = [
    (r"\b(order|purchase)\s+(number\s+|no\.?\s*|#\s*)?\d{5,}", r"my \1"),
    (r"\b(invoice|bill)s?\s+(number\s+|#\s*)?\d+", r"my \1"),
    (r"\s*\b(from|of|for)\s+(Mr\.|Ms\.|Mrs\.|Miss)\s+[A-Z][a-z]+", ""),
    (r"\s*\b(of|for)\s+\$\s?\d[\d,.]*", ""), (r"\s*\$\s?\d[\d,.]*", ""),
    (r"\s*\b(of|for)\s+\d[\d,.]*\s+(dollars|euros|pounds)", ""),
    (r"\b(Gold|Platinum|Premium|Pro|Standard|Freemium|free|Basic)\s+(account|profile)", r"\2"),
]


def deentity(text):
    """Generic variant without order numbers, invoice numbers, person names, amounts, plan names."""
    t = text
    for pat, rep in ENTITY_PATTERNS:
        t = re.sub(pat, rep, t)
    t = re.sub(r"\bmy my\b", "my", t)
    return re.sub(r"\s+", " ", t).strip()


def synonym_swap(text, rng):
    t = text
    for a, b in SYNONYMS:
        if rng.random() < 0.5:
            if re.search(rf"\b{a}", t):
                t = re.sub(rf"\b{a}", b, t)
            elif re.search(rf"\b{b}", t):
                t = re.sub(rf"\b{b}", a, t)
    return t


def typo(word, rng):
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(["swap", "drop", "dup", "sub", "ins"])
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "dup":
        return word[:i] + word[i] + word[i:]
    if op == "sub":
        return word[:i] + rng.choice(KEYBOARD) + word[i + 1:]
    return word[:i] + rng.choice(KEYBOARD) + word[i:]


def augment(text, rng):
    """One noisy variant: casing, contractions/slang, typos, fillers, politeness prefixes."""
    t = text
    for pat, rep in WORD_SUBS:
        if rng.random() < 0.3:
            t = re.sub(pat, rep, t)
    if rng.random() < 0.3:
        t = rng.choice(PREFIXES) + t[0].lower() + t[1:]
    words = t.split()
    n_typos = rng.choice([0, 1, 1, 1, 2])
    for _ in range(n_typos):
        j = rng.randrange(len(words))
        words[j] = typo(words[j], rng)
    t = " ".join(words)
    if rng.random() < 0.3:
        t = t.rstrip("?.!") + rng.choice(SUFFIXES)
    if rng.random() < 0.2:
        t = rng.choice(FILLERS_PRE) + t
    r = rng.random()
    if r < 0.4:
        t = t.lower()
    elif r < 0.45:
        t = t.upper()
    return t


def write_yaml(path, header, intents):
    with open(path, "w", encoding="utf-8") as f:
        f.write(header.rstrip() + "\n")
        f.write('version: "3.1"\nnlu:\n')
        for intent in sorted(intents):
            f.write(f"  - intent: {intent}\n    examples: |\n")
            for ex in intents[intent]:
                # Rasa's block-literal examples: no quoting needed, but avoid entity brackets
                ex = ex.replace("[", "(").replace("]", ")").replace("{", "(").replace("}", ")")
                f.write(f"      - {ex}\n")
    return sum(len(v) for v in intents.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bitext-train", required=True)
    ap.add_argument("--holdout-csv", action="append", default=[], help="Bitext test/validation CSVs (leak removal)")
    ap.add_argument("--clinc-json", required=True)
    ap.add_argument("--out", default="data/nlu")
    ap.add_argument("--bitext-per-intent", type=int, default=0, help="subsample Bitext per intent (0 = all)")
    ap.add_argument("--augment", type=float, default=0.0, help="noisy variants per Bitext row (e.g. 0.5, 1, 2)")
    ap.add_argument("--oos-per-intent", type=int, default=15, help="CLINC train utterances per kept intent (0 = no out_of_scope from CLINC train)")
    ap.add_argument("--no-oos", action="store_true", help="do not write an out_of_scope intent at all")
    ap.add_argument("--no-extra", action="store_true", help="omit hand-written journeybot intents")
    ap.add_argument("--deentity", action="store_true", help="add entity-free variants of Bitext rows (no order numbers/names/amounts)")
    ap.add_argument("--synonyms", type=float, default=0.0, help="probability that a noisy variant also gets synonym swaps")
    ap.add_argument("--paraphrases", type=int, default=0, help="add hand-written support paraphrases, each with this many noisy variants (-1 = off)")
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)

    with open(a.clinc_json, encoding="utf-8") as fh:
        clinc = json.load(fh)
    held = set()
    for f in a.holdout_csv:
        with open(f, encoding="utf-8-sig") as fh:
            held |= {norm(r["utterance"]) for r in csv.DictReader(fh)}
    held |= {norm(t) for t, _ in clinc["oos_test"]}
    seen = set(held)  # also dedupes across files (Rasa rejects duplicates across intents)
    stats = defaultdict(int)

    def keep(text):
        n = norm(text)
        if n in held:
            stats["dropped_leak"] += 1
            return False
        if n in seen:
            stats["dropped_dup"] += 1
            return False
        seen.add(n)
        return True

    # --- hand-written journeybot intents first (they win duplicate conflicts)
    extra = defaultdict(list)
    if not a.no_extra:
        for intent, exs in EXTRA_INTENTS.items():
            extra[intent] = [e for e in exs if keep(e)]

    # --- Bitext train
    with open(a.bitext_train, encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    by_intent = defaultdict(list)
    for r in rows:
        by_intent[r["intent"]].append(r["utterance"].strip())
    bitext = defaultdict(list)
    for intent, utts in by_intent.items():
        utts = [u for u in utts if keep(u)]
        if a.bitext_per_intent and len(utts) > a.bitext_per_intent:
            for u in utts:
                seen.discard(norm(u))
            utts = rng.sample(utts, a.bitext_per_intent)
            for u in utts:
                seen.add(norm(u))
        bitext[intent] = list(utts)
        if a.deentity:
            for u in list(utts):
                v = deentity(u)
                if v != u and keep(v):
                    bitext[intent].append(v)
                    stats["bitext_deentity"] += 1
            utts = list(bitext[intent])
        n_aug = int(a.augment * len(utts) + 0.5)
        tries = 0
        added = 0
        while added < n_aug and tries < n_aug * 5:
            tries += 1
            v = rng.choice(utts)
            if rng.random() < a.synonyms:
                v = synonym_swap(v, rng)
            v = augment(v, rng)
            if keep(v):
                bitext[intent].append(v)
                added += 1
        stats["bitext_aug"] += added

    # --- hand-written support paraphrases (+ noisy variants)
    para = defaultdict(list)
    if a.paraphrases >= 0:
        for intent, exs in SUPPORT_PARAPHRASES.items():
            para[intent] = [e for e in exs if keep(e)]
            for e in exs:
                for _ in range(a.paraphrases):
                    v = augment(synonym_swap(e, rng) if rng.random() < a.synonyms else e, rng)
                    if keep(v):
                        para[intent].append(v)

    # --- CLINC out_of_scope
    oos = defaultdict(list)
    excluded_used = []
    if not a.no_oos:
        for t, _ in clinc["oos_train"]:
            if keep(t):
                oos["out_of_scope"].append(t)
        if a.oos_per_intent:
            per = defaultdict(list)
            for t, i in clinc["train"]:
                per[i].append(t)
            for i in sorted(per):
                if i in CLINC_EXCLUDED:
                    excluded_used.append(i)
                    continue
                for t in rng.sample(per[i], min(a.oos_per_intent, len(per[i]))):
                    if keep(t):
                        oos["out_of_scope"].append(t)

    bitext_hdr = (
        "# DERIVED DATA -- generated by build_data.py; do not edit by hand.\n"
        "# Source: Bitext Sample Customer Service Intent Detection dataset, TRAIN split\n"
        "#   (bitext/customer-support-intent-detection-training-dataset), (c) Bitext Innovations.\n"
        "# Licence: Community Data License Agreement - Sharing, Version 1.0 (CDLA-Sharing-1.0).\n"
        "#   This derived data is shared under CDLA-Sharing-1.0; see data/ATTRIBUTION.md.\n"
        "# Changes: utterances equal (normalised) to Bitext test/validation or CLINC150 oos_test\n"
        f"#   removed; per-intent subsample={a.bitext_per_intent or 'all'}; programmatic noisy variants\n"
        f"#   (typos, casing, contractions, fillers, politeness prefixes) ratio={a.augment}, seed={a.seed}.\n"
    )
    oos_hdr = (
        "# DERIVED DATA -- generated by build_data.py; do not edit by hand.\n"
        "# Source: CLINC150 (Larson et al., 2019, clinc/oos-eval data_full.json), splits `oos_train` and\n"
        "#   `train` (only intents not related to customer service; excluded intents listed in\n"
        "#   data/ATTRIBUTION.md). Licence: Creative Commons Attribution 3.0 (CC BY 3.0).\n"
        f"# Changes: relabelled as out_of_scope; {a.oos_per_intent} random utterances per kept intent, seed={a.seed}.\n"
    )
    extra_hdr = (
        "# Hand-written examples for journeybot's own intents (Aurora Coffee Club); not derived data.\n"
    )
    n_b = write_yaml(os.path.join(a.out, "bitext_support.yml"), bitext_hdr, bitext)
    n_o = write_yaml(os.path.join(a.out, "out_of_scope.yml"), oos_hdr, oos) if oos else 0
    if not oos and os.path.exists(os.path.join(a.out, "out_of_scope.yml")):
        os.remove(os.path.join(a.out, "out_of_scope.yml"))
    para_hdr = ("# Hand-written paraphrases for the Bitext support intents (journeybot team; not derived data),\n"
                f"# plus programmatic noisy variants ({a.paraphrases} per example, seed={a.seed}).\n")
    n_p = write_yaml(os.path.join(a.out, "support_handwritten.yml"), para_hdr, para) if para else 0
    n_e = write_yaml(os.path.join(a.out, "journeybot_extra.yml"), extra_hdr, extra) if extra else 0

    # data/ATTRIBUTION.md, beside the licence texts in data/licenses/ (Rasa reads only YAML in data/nlu).
    with open(os.path.join(a.out, "..", "ATTRIBUTION.md"), "w") as f:
        f.write(f"""# Attribution for derived NLU training data

`bitext_support.yml` is derived from the **Bitext Sample Customer Service Intent Detection
dataset** (training split), (c) Bitext Innovations International, published by Bitext in
`bitext/customer-support-intent-detection-training-dataset`, licensed under the
**Community Data License Agreement - Sharing, Version 1.0** (CDLA-Sharing-1.0,
https://cdla.dev/sharing-1-0/). Derived data published from it must be shared under the same
licence, with this notice and a copy of the licence text.
Changes: held-out (test/validation) duplicates removed, optional per-intent subsampling,
programmatic noisy variants (typos, casing, contractions, filler words, politeness prefixes).

`out_of_scope.yml` is derived from **CLINC150** (Stefan Larson et al., "An Evaluation Dataset
for Intent Classification and Out-of-Scope Prediction", EMNLP-IJCNLP 2019; clinc/oos-eval),
licensed under **Creative Commons Attribution 3.0** (CC BY 3.0,
https://creativecommons.org/licenses/by/3.0/). Only the `oos_train` split and the `train`
split of the following non-customer-service intents were used, relabelled `out_of_scope`.
Changes: relabelled, subsampled ({a.oos_per_intent} per intent), held-out duplicates removed.
CLINC intents excluded (overlap with customer service / shop / chit-chat):
{", ".join(CLINC_EXCLUDED)}

`journeybot_extra.yml` is hand-written by the journeybot team (no external source).
""")
    print(f"bitext examples: {n_b} (deentity {stats['bitext_deentity']}, aug {stats['bitext_aug']}), "
          f"support paraphrases: {n_p}, out_of_scope: {n_o}, extra: {n_e}; "
          f"dropped leaks {stats['dropped_leak']}, dropped duplicates {stats['dropped_dup']}")


if __name__ == "__main__":
    main()
