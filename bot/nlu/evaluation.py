"""Evaluate the trained NLU on Bitext-style CSVs and CLINC150 out-of-scope queries (`journeybot eval-nlu`).

usage:
  journeybot eval-nlu [--model models/x.tar.gz] --bitext-csv TEST.csv [--bitext-csv OTHER.csv ...] \
      --clinc-json data_full.json [--clinc-split oos_test] [--intent-map check_invoices=check_invoice] \
      [--json out.json] [--errors errors.tsv]

The model is loaded once, in-process (rasa.core.agent.Agent); every distinct utterance is parsed
once with `agent.parse_message` (same code path as the Rasa server).

Metrics per Bitext-style CSV (needs columns `utterance` and `intent`; BOM tolerated):
  accuracy, macro-F1 (sklearn, over the gold labels), fallback rate (share predicted
  `nlu_fallback` or `out_of_scope`; counted as wrong for these in-scope rows).
For the CLINC split (all rows are out of scope): share predicted `nlu_fallback` or `out_of_scope`.
"""
import argparse
import asyncio
import csv
import json
import logging
import os
import sys
import time
from collections import Counter
from typing import TypedDict

FALLBACK_INTENTS = {"nlu_fallback", "out_of_scope"}


class DatasetMetrics(TypedDict, total=False):
    """One data set's entry of the results: the gold-labelled metrics, or the out-of-scope ones."""

    rows: int
    fallback_rate: float
    accuracy: float
    macro_f1: float
    false_fallback: int
    top_confusions: list[str]
    to_fallback_or_oos: float
    top_wrong_intents: list[tuple[str, int]]


def read_bitext(path, intent_map):
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        r = {k.strip().lstrip("\ufeff"): v for k, v in r.items()}
        out.append((r["utterance"], intent_map.get(r["intent"], r["intent"])))
    return out


async def parse_all(agent, texts, progress=True):
    preds = {}
    t0 = time.time()
    for i, t in enumerate(texts):
        res = await agent.parse_message(t)
        preds[t] = _result_to_pred(res)
        if progress and (i + 1) % 2000 == 0:
            el = time.time() - t0
            print(f"  parsed {i + 1}/{len(texts)} ({(i + 1) / el:.0f}/s)", file=sys.stderr, flush=True)
    return preds


def _result_to_pred(res):
    intent = res.get("intent") or {}
    # classifier's own ranking without the FallbackClassifier's entry (for threshold sweeps)
    rank = [r for r in res.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    top = [(r["name"], float(r["confidence"])) for r in rank[:2]] + [(None, 0.0)] * 2
    return (intent.get("name"), float(intent.get("confidence") or 0.0), top[0], top[1])


def _batched_diet_process(self, messages):
    """DIETClassifier.process, but one TF inference call per chunk instead of per message."""
    from rasa.shared.nlu.constants import INTENT
    model_data = self._create_model_data(messages, training=False)
    out = self.model.run_inference(model_data, batch_size=256, output_keys_expected=["i_scores"])
    for i, message in enumerate(messages):
        label, ranking = self._predict_label({"i_scores": out["i_scores"][i:i + 1]})
        message.set(INTENT, label, add_to_output=True)
        message.set("intent_ranking", ranking, add_to_output=True)
    return messages


def parse_batched(agent, texts, chunk=1000):
    """Run the model's NLU graph node by node on whole chunks of messages.

    Follows the predict graph's `messages` chain (message converter -> tokenizer -> featurizers ->
    classifiers -> fallback -> regex handler) and calls each component's own function on a list.
    Only used for pipelines without entity extraction; checked against parse_message by --verify.
    """
    from rasa.core.channels.channel import UserMessage
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier
    runner = agent.processor.graph_runner
    schema = agent.processor.model_metadata.predict_schema.nodes
    order, prev = [], "__message__"
    while True:
        nxt = [n for n, sn in schema.items() if sn.needs.get("messages") == prev]
        if not nxt:
            break
        order.append(nxt[0])
        prev = nxt[0]
    nodes = [runner._instantiated_nodes[n] for n in order]
    for node in nodes:
        comp = node._component
        if isinstance(comp, DIETClassifier):
            if comp.component_config.get("entity_recognition"):
                raise RuntimeError("batched mode does not support DIET entity recognition; use --no-batch")
            comp.process = _batched_diet_process.__get__(comp)
    preds = {}
    for start in range(0, len(texts), chunk):
        msgs = [UserMessage(t) for t in texts[start:start + chunk]]
        for node in nodes:
            msgs = getattr(node._component, node._fn_name)(messages=msgs)
        for t, m in zip(texts[start:start + chunk], msgs, strict=False):
            preds[t] = _result_to_pred(m.as_dict(only_output_properties=True))
        print(f"  parsed {min(start + chunk, len(texts))}/{len(texts)}", file=sys.stderr, flush=True)
    return preds


def main(argv=None):
    ap = argparse.ArgumentParser(prog="journeybot eval-nlu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="default: the model for the current config and data (trained if missing)")
    ap.add_argument("--bitext-csv", action="append", default=[])
    ap.add_argument("--clinc-json", default=None)
    ap.add_argument("--clinc-split", default="oos_test")
    ap.add_argument("--intent-map", action="append", default=[], help="GOLD=OURS, e.g. check_invoices=check_invoice")
    ap.add_argument("--json", default=None, help="write metrics as JSON here")
    ap.add_argument("--errors", default=None, help="write misclassified rows (TSV) here")
    ap.add_argument("--dump-preds", default=None,
                    help="write every row as TSV: dataset, gold, predicted, conf, raw top1, conf1, top2, conf2, text")
    ap.add_argument("--no-batch", action="store_true",
                    help="parse every utterance with agent.parse_message (slow, exact server code path)")
    ap.add_argument("--verify", type=int, default=200,
                    help="batched mode: re-parse this many utterances with parse_message and compare")
    a = ap.parse_args(argv)
    if not a.bitext_csv and not a.clinc_json:
        ap.error("give at least one --bitext-csv or --clinc-json file to evaluate on")
    for path in [*a.bitext_csv, *([a.clinc_json] if a.clinc_json else [])]:
        if not os.path.isfile(path):
            ap.error(f"no such file: {path}")
    if a.model is None:
        from pathlib import Path

        from bot.training import ensure_model

        project = Path(__file__).resolve().parent.parent
        a.model = str(ensure_model(project, project / "models"))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=logging.WARNING)
    from sklearn.metrics import accuracy_score, f1_score
    intent_map = dict(m.split("=", 1) for m in a.intent_map)

    datasets = []  # (name, [(text, gold or None)])
    for p in a.bitext_csv:
        datasets.append((os.path.basename(p), read_bitext(p, intent_map)))
    if a.clinc_json:
        with open(a.clinc_json, encoding="utf-8") as f:
            clinc = json.load(f)
        datasets.append((f"clinc150:{a.clinc_split}", [(t, None) for t, _ in clinc[a.clinc_split]]))

    t_start = time.time()
    from rasa.core.agent import Agent
    agent = Agent.load(a.model)
    try:  # Rasa 3.6 logs every parse at debug level through structlog: silence it
        import structlog
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    except Exception:  # noqa: BLE001 - quieter logs only; structlog may be absent or changed
        pass
    t_loaded = time.time()
    texts = sorted({t for _, rows in datasets for t, _ in rows})
    verify = None
    if a.no_batch:
        preds = asyncio.run(parse_all(agent, texts))
    else:
        import random
        sample = random.Random(0).sample(texts, min(a.verify, len(texts)))
        ref = asyncio.run(parse_all(agent, sample, progress=False)) if sample else {}
        preds = parse_batched(agent, texts)
        bad = [t for t in sample if ref[t][0] != preds[t][0] or abs(ref[t][1] - preds[t][1]) > 1e-3]
        verify = {"checked": len(sample), "mismatches": len(bad)}
        print(f"verify: {len(bad)}/{len(sample)} batched predictions differ from parse_message", file=sys.stderr)
        for t in bad[:5]:
            print(f"  MISMATCH {t!r}: parse_message={ref[t][:2]} batched={preds[t][:2]}", file=sys.stderr)
    t_parsed = time.time()

    results = {"model": a.model, "load_seconds": round(t_loaded - t_start, 1),
               "parse_seconds": round(t_parsed - t_loaded, 1), "distinct_utterances": len(texts),
               "mode": "parse_message" if a.no_batch else "batched", "verify": verify, "datasets": {}}
    errf = open(a.errors, "w") if a.errors else None  # noqa: SIM115 - written across the loop below, closed after it
    for name, rows in datasets:
        pred = [preds[t][0] for t, _ in rows]
        fb = sum(p in FALLBACK_INTENTS for p in pred)
        m: DatasetMetrics = {"rows": len(rows), "fallback_rate": round(fb / len(rows), 4)}
        if rows[0][1] is not None:
            gold = [g for _, g in rows]
            labels = sorted(set(gold))
            m["accuracy"] = round(accuracy_score(gold, pred), 4)
            m["macro_f1"] = round(f1_score(gold, pred, labels=labels, average="macro", zero_division=0), 4)
            m["false_fallback"] = fb
            m["top_confusions"] = [f"{g}->{p}: {n}" for (g, p), n in
                                   Counter((g, p) for g, p in zip(gold, pred, strict=False) if g != p).most_common(8)]
        else:
            m["to_fallback_or_oos"] = round(fb / len(rows), 4)
            m["top_wrong_intents"] = Counter(p for p in pred if p not in FALLBACK_INTENTS).most_common(8)
        if errf:
            for t, g in rows:
                p, c = preds[t][:2]
                if (g is None and p not in FALLBACK_INTENTS) or (g is not None and p != g):
                    errf.write(f"{name}\t{g}\t{p}\t{c:.3f}\t{t}\n")
        results["datasets"][name] = m
    if a.dump_preds:
        with open(a.dump_preds, "w") as f:
            for name, rows in datasets:
                for t, g in rows:
                    p, c, (n1, c1), (n2, c2) = preds[t]
                    f.write(f"{name}\t{g}\t{p}\t{c:.4f}\t{n1}\t{c1:.4f}\t{n2}\t{c2:.4f}\t{t}\n")
    if errf:
        errf.close()

    print(f"model: {a.model}  mode: {results['mode']}  verify: {verify}")
    print(f"load {results['load_seconds']}s, parsed {len(texts)} distinct utterances in "
          f"{results['parse_seconds']}s ({len(texts) / max(t_parsed - t_loaded, 1e-9):.0f}/s)")
    for name, m in results["datasets"].items():
        if "accuracy" in m:
            print(f"{name:60s} rows={m['rows']:6d} acc={m['accuracy']:.4f} macroF1={m['macro_f1']:.4f} "
                  f"fallback={m['fallback_rate']:.4f} ({m['false_fallback']})")
            print(f"    top confusions: {'; '.join(m['top_confusions'][:5])}")
        else:
            print(f"{name:60s} rows={m['rows']:6d} to fallback/out_of_scope={m['to_fallback_or_oos']:.4f}")
            print(f"    top wrong intents: {m['top_wrong_intents'][:6]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
