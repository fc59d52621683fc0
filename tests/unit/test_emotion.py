"""Emotion labels (bot.nlu.emotion): accuracy on a hand-labelled set, targeted cases,
odd inputs, the Rasa component, and (INTEGRATION, slow) a real trained NLU model.

tests/data/emotion_labelled.csv holds 310 hand-written coffee-shop support messages
labelled by a person before the classifier was tuned (rows 1-250 first; rows 251-310
were written and labelled blind later, to measure it on unseen text). Labels are how a
support agent would read the customer, not what the classifier says:
angry = hostile/blaming/shouting/sarcastic complaint; sad = disappointed, let down,
worried, resigned; neutral = requests and questions with no feeling shown;
happy = satisfied, grateful; excited = enthusiastic, eager, thrilled.
"""
from __future__ import annotations

import asyncio
import csv
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

import bot.nlu.emotion as emotion_module
from bot.nlu.emotion import LABELS, EmotionAnnotator, EmotionClassifier, EmotionResult

RESOURCES_AT_IMPORT = emotion_module._resources

PROJECT = Path(__file__).resolve().parents[2]
LABELLED_CSV = PROJECT / "tests" / "data" / "emotion_labelled.csv"

# Measured on the full CSV (310 rows): accuracy 0.887, macro-F1 0.886. Out-of-sample
# estimates were lower (held-out half 0.83, 60 blind rows 0.80), so the floors leave
# room for honest change but catch a real regression.
ACCURACY_FLOOR = 0.82
MACRO_F1_FLOOR = 0.82


@pytest.fixture(scope="module")
def classifier() -> EmotionClassifier:
    return EmotionClassifier()


def load_labelled() -> list[tuple[str, str]]:
    with open(LABELLED_CSV, newline="", encoding="utf-8") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def confusion_report(gold: list[str], predicted: list[str], texts: list[str]) -> str:
    confusion = Counter(zip(gold, predicted, strict=True))
    lines = ["gold \\ predicted".ljust(18) + "".join(label.rjust(9) for label in LABELS)]
    for g in LABELS:
        lines.append(g.ljust(18) + "".join(str(confusion[(g, p)]).rjust(9) for p in LABELS))
    wrong = [f"  {g:>8} -> {p:<8} {t}" for g, p, t in zip(gold, predicted, texts, strict=True) if g != p]
    return "\n".join([*lines, "misclassified:", *wrong])


def scores(gold: list[str], predicted: list[str]) -> tuple[float, float]:
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    f1s = []
    for label in LABELS:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        predicted_n = sum(p == label for p in predicted)
        gold_n = sum(g == label for g in gold)
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / gold_n if gold_n else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return accuracy, sum(f1s) / len(f1s)


# --- (a) the labelled evaluation set ------------------------------------------------------


def test_labelled_set_is_large_balanced_and_clean():
    rows = load_labelled()
    assert len(rows) >= 200
    counts = Counter(label for _, label in rows)
    assert set(counts) == set(LABELS)
    assert min(counts.values()) >= 0.15 * len(rows), counts
    texts = [text for text, _ in rows]
    assert len(set(texts)) == len(texts), "duplicate messages"
    assert all(text.strip() for text in texts)


def test_accuracy_and_macro_f1_on_labelled_set(classifier):
    rows = load_labelled()
    texts = [text for text, _ in rows]
    gold = [label for _, label in rows]
    predicted = [classifier.classify(text).label for text in texts]
    accuracy, macro_f1 = scores(gold, predicted)
    report = f"accuracy {accuracy:.3f}, macro-F1 {macro_f1:.3f}\n" + confusion_report(gold, predicted, texts)
    assert accuracy >= ACCURACY_FLOOR, report
    assert macro_f1 >= MACRO_F1_FLOOR, report


# --- (b) targeted cases -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("where is my order", {"neutral"}),
        ("this is the third time I'm asking, unacceptable", {"angry"}),
        ("I'm disappointed, the coffee arrived broken", {"sad", "angry"}),
        ("thanks, that helped", {"happy"}),
        ("can't wait for my first box!!!", {"excited"}),
        ("😡😡😡", {"angry"}),
        ("😍🎉", {"excited", "happy"}),
        ("Привет 你好 premium", {"neutral"}),
        # hard cases
        ("WHERE IS MY ORDER", {"angry"}),  # shouting is not a neutral question
        ("great, another delay", {"angry"}),  # sarcasm-light
        ("Perfect. Just perfect. Charged again after cancelling.", {"angry"}),
        ("thanks for nothing", {"angry"}),
        ("not happy at all", {"sad", "angry"}),  # negation
        ("not bad at all, pretty good actually", {"happy"}),
        ("I'd like to switch to decaf", {"neutral"}),  # "like" as a request
        ("please cancel my subscription", {"neutral"}),  # politeness/transaction words
        ("this is rediculous, still no coffee", {"angry"}),  # typo
        ("dissapointed with the new blend", {"sad"}),  # typo
        ("Brilliant!! The delivery came two days early!", {"excited"}),  # not sarcasm
        ("you took my money and sent nothing. scam", {"angry"}),  # negation stops at the full stop
        ("I'm DISGUSTED and FURIOUS, this is the WORST service!!!", {"angry"}),
        ("I'm a bit sad that you discontinued the Ethiopian roast", {"sad"}),
        ("so pumped to try the Kenyan beans!", {"excited"}),
        ("how do I pause my subscription?", {"neutral"}),
    ],
)
def test_targeted_examples(classifier, text, expected):
    result = classifier.classify(text)
    assert result.label in expected, (text, result)


def test_case_and_punctuation_raise_arousal(classifier):
    calm = classifier.classify("this is unacceptable")
    loud = classifier.classify("this is UNACCEPTABLE!!!")
    assert loud.arousal > calm.arousal
    assert loud.valence < 0 and calm.valence < 0


def test_anger_signal_for_the_journey_engine(classifier):
    # the at_risk signal keys on "angry" after purchase: a typical post-purchase complaint
    for text in ("I want my money back, this is a scam",
                 "are you kidding me? the box is late AGAIN",
                 "I've been waiting three weeks for my refund, this is ridiculous"):
        assert classifier.classify(text).label == "angry", text


ODD_INPUTS = [
    "",
    "   \n\t ",
    None,
    42,
    3.5,
    "?!?!",
    "!!!",
    "...",
    "\x00\x01\x02",
    "a" * 10_000,
    ("this is terrible but thanks " * 400)[:10_000],
    "😡" * 10_000,
    "🤷‍♀️👍🏽❤️",
    "日本語のテキストです",
    "مرحبا كيف حالك",
    "Привет 你好 premium",
    "x" * 25 + " " + "dissapointed" * 50,
    "\ud83d",  # lone surrogate
]


@pytest.mark.parametrize("text", ODD_INPUTS, ids=lambda t: repr(t)[:30])
def test_odd_input_never_raises_and_is_well_formed(classifier, text):
    start = time.process_time()
    result = classifier.classify(text)
    assert time.process_time() - start < 2.0
    assert isinstance(result, EmotionResult)
    assert result.label in LABELS
    assert set(result.scores) == set(LABELS)
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert all(0.0 <= v <= 1.0 for v in result.scores.values())
    assert -1.0 <= result.valence <= 1.0
    assert 0.0 <= result.arousal <= 1.0


def test_empty_and_missing_text_is_neutral(classifier):
    for text in ("", "   ", None):
        assert classifier.classify(text).label == "neutral"


def test_deterministic_and_thread_safe(classifier):
    texts = [text for text, _ in load_labelled()]
    first = [classifier.classify(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        again = list(pool.map(EmotionClassifier().classify, texts))
    assert first == again


def test_fast_enough(classifier):
    texts = [text for text, _ in load_labelled()]
    classifier.classify("warm up")
    start = time.process_time()
    for text in texts:
        classifier.classify(text)
    per_message = (time.process_time() - start) / len(texts)
    # typically ~0.2 ms of CPU; the bound is loose because the CI machine is shared
    assert per_message < 0.005, f"{per_message * 1e3:.2f} ms per message"


def test_vader_package_state_is_not_modified(classifier):
    classifier.classify("warm up: builds the customised analyser")
    from vaderSentiment import vaderSentiment as vader

    fresh = vader.SentimentIntensityAnalyzer()
    assert fresh.lexicon["holiday"] == 1.7  # neutralised only in our own instance
    assert "😡" in fresh.emojis
    assert not any(key.startswith("xxphrase") for key in fresh.lexicon)
    assert "can't wait" not in vader.SPECIAL_CASES


def test_lexicons_load_lazily_not_at_import():
    # recorded when this test module was imported, before anything classified
    assert RESOURCES_AT_IMPORT is None, "lexicons must load on first use, not at import"
    EmotionClassifier().classify("hi")
    assert emotion_module._resources is not None


# --- (c) the Rasa component ---------------------------------------------------------------


def make_annotator(tmp_path) -> EmotionAnnotator:
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    return EmotionAnnotator.create(
        {**EmotionAnnotator.get_default_config()},
        LocalModelStorage(tmp_path),
        Resource("emotion"),
        ExecutionContext(GraphSchema({}), "1"),
    )


def test_component_adds_emotion_to_output_properties(tmp_path):
    from rasa.shared.nlu.training_data.message import Message

    annotator = make_annotator(tmp_path)
    messages = [
        Message(data={"text": "this is UNACCEPTABLE, where is my refund?!"}),
        Message(data={"text": "where is my order"}),
        Message(data={"text": ""}),
        Message(data={}),  # no text at all
    ]
    out = annotator.process(messages)
    assert out is messages

    parsed = out[0].as_dict(only_output_properties=True)
    assert parsed["emotion"]["label"] == "angry"
    assert set(parsed["emotion"]) == {"label", "scores", "valence", "arousal"}
    assert set(parsed["emotion"]["scores"]) == set(LABELS)
    assert parsed["emotion"]["valence"] < 0
    assert out[1].as_dict(only_output_properties=True)["emotion"]["label"] == "neutral"
    assert out[2].get("emotion")["label"] == "neutral"
    assert out[3].get("emotion")["label"] == "neutral"


def test_component_passes_training_data_through(tmp_path):
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = TrainingData([Message(data={"text": "hello", "intent": "greet"})])
    assert make_annotator(tmp_path).process_training_data(data) is data
    assert data.training_examples[0].get("emotion") is None


def test_component_is_registered_as_a_non_trainable_entity_extractor():
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe

    registered = DefaultV1Recipe._from_registry("bot.nlu.emotion.EmotionAnnotator")
    assert registered.clazz is EmotionAnnotator
    assert registered.is_trainable is False
    assert DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR in registered.types


# --- (d) INTEGRATION: a real Rasa NLU model (slow, ~30-60 s) ------------------------------

NLU_DATA = """\
version: "3.1"
nlu:
- intent: complaint
  examples: |
    - my order is late
    - the beans arrived damaged
    - I was charged twice
    - where is my refund
    - the grinder is broken
- intent: greet
  examples: |
    - hello
    - hi there
    - good morning
    - hey
- intent: ask_price
  examples: |
    - how much is premium
    - what does the basic plan cost
    - price of the house blend
    - is shipping free
"""


def test_INTEGRATION_trained_rasa_model_returns_emotion(tmp_path, monkeypatch):
    """INTEGRATION (slow): train a tiny NLU model with the component, then parse via Agent."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    monkeypatch.chdir(tmp_path)  # Rasa writes .rasa/ relative to the working directory
    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "cache"))
    monkeypatch.setenv("RASA_TELEMETRY_ENABLED", "false")
    config = {
        "recipe": "default.v1",
        "language": "en",
        "assistant_id": "emotion_test",
        "pipeline": [
            {"name": "WhitespaceTokenizer"},
            {"name": "CountVectorsFeaturizer"},
            {"name": "DIETClassifier", "epochs": 5, "entity_recognition": False, "random_seed": 1,
             "constrain_similarities": True, "evaluate_every_number_of_epochs": 5},
            {"name": "bot.nlu.emotion.EmotionAnnotator"},
        ],
    }
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (tmp_path / "nlu.yml").write_text(NLU_DATA, encoding="utf-8")

    model_path = train_nlu(
        config=str(tmp_path / "config.yml"),
        nlu_data=str(tmp_path / "nlu.yml"),
        output=str(tmp_path / "models"),
        fixed_model_name="emotion",
    )
    assert model_path and Path(model_path).exists()

    agent = Agent.load(model_path)
    text = "this is UNACCEPTABLE, where is my refund?!"
    parsed = asyncio.run(agent.parse_message(text))
    assert parsed["text"] == text
    assert parsed["intent"]["name"] in {"complaint", "greet", "ask_price"}
    assert parsed["emotion"]["label"] == "angry"
    assert set(parsed["emotion"]["scores"]) == set(LABELS)

    calm = asyncio.run(agent.parse_message("how much is premium"))
    assert calm["emotion"]["label"] == "neutral"
