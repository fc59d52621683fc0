"""The review loop's store and export: unhandled messages, labels, reviewed.yml, the held-out refusal."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main
from bot.services import build
from bot.settings import load_settings
from bot.training import fingerprint
from journey_state.identifiers import ChannelRef
from journey_state.review.export import REVIEWED_FILE, build_export, clean, domain_intents, training_examples
from journey_state.review.heldout import HeldOut, shipped
from journey_state.review.heldout import fingerprint as heldout_fingerprint
from journey_state.store import JourneyStore, make_engine
from journey_state.store.reviews import ReviewedExample, ReviewError
from tests.unit.review_helpers import say

PROJECT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
INTENTS = ["track_order", "cancel_order", "out_of_scope"]
# One utterance of the Bitext *test* split, quoted so the test shows that the committed
# fingerprints cover the real evaluation set (the set itself is never read by tests).
BITEXT_TEST_UTTERANCE = "help to cancel purchase 00004587345"


@pytest.fixture
def services(migrated_url, b2c_model, tmp_path):
    settings = load_settings({"JOURNEYBOT_API_TOKEN": "t", "JOURNEYBOT_VAR_DIR": str(tmp_path), "JOURNEYBOT_DATABASE_URL": migrated_url})
    built = build(settings, store=JourneyStore(make_engine(migrated_url), b2c_model))
    yield built
    built.close()


def ex(text: str, label: str, minutes: int = 0) -> ReviewedExample:
    return ReviewedExample(text, label, T0 + timedelta(minutes=minutes))


# -- store ------------------------------------------------------------------------------------------


def test_fallbacks_out_of_scope_and_low_confidence_are_unhandled_and_labels_remove_them(services):
    conv = services.conversation
    say(conv, "ann", "my parcel went walkabout", "nlu_fallback", 0.3, minutes=1)
    say(conv, "ann", "what is the capital of peru", "out_of_scope", 0.9, minutes=2)
    say(conv, "ben", "sign me up for premium", "create_account", 0.45, minutes=3, channel="webchat")
    say(conv, "ben", "where is my order", "track_order", 0.97, minutes=4)  # understood: not listed
    say(conv, "ben", "thanks", "thanks", 0.6, minutes=5)  # exactly at min_intent_confidence (0.6): it counted
    listed = services.reviews.unhandled()
    assert [(m.text, m.reason, m.channel) for m in listed] == [
        ("sign me up for premium", "low confidence", "webchat"),
        ("what is the capital of peru", "out of scope", "rest"),
        ("my parcel went walkabout", "fallback", "rest"),
    ]
    assert all(m.stage for m in listed)

    assert services.reviews.label([listed[2].touchpoint_id, 10**12], "track_order", "root") == 1  # unknown ids ignored
    assert [m.text for m in services.reviews.unhandled()] == ["sign me up for premium", "what is the capital of peru"]
    services.reviews.label([listed[2].touchpoint_id], "complaint", "root")  # relabelled: the later label replaces it
    assert [(e.text, e.label) for e in services.reviews.examples()] == [("my parcel went walkabout", "complaint")]
    with pytest.raises(ReviewError, match="none of these messages exists"):
        services.reviews.label([10**12], "track_order", "root")


def test_erasing_a_contact_erases_its_labels(services):
    say(services.conversation, "cara", "my parcel went walkabout", "nlu_fallback", 0.3)
    [m] = services.reviews.unhandled()
    services.reviews.label([m.touchpoint_id], "track_order", "root")
    contact = services.store.contact_by_identity(ChannelRef("rest", "cara"))
    assert contact is not None
    services.store.erase(contact["id"])
    assert services.reviews.examples() == []


# -- export -----------------------------------------------------------------------------------------


def test_export_dedupes_the_later_label_wins_and_known_examples_are_skipped():
    export = build_export(
        [ex("Where is my parcel", "cancel_order"), ex("where  is my PARCEL", "track_order", 1), ex("wheres my parcel", "track_order", 2),
         ex("is it sunny in Lima", "out_of_scope", 3), ex("track my order", "cancel_order", 4), ex("track my order please", "track_order", 5)],
        INTENTS, HeldOut(frozenset()), {"track my order": "track_order", "track my order please": "track_order"},
    )
    assert export.intents == {"track_order": ["where is my PARCEL", "wheres my parcel"], "out_of_scope": ["is it sunny in Lima"]}
    assert [(s.text, s.reason) for s in export.skipped] == [
        ("track my order", "already in the training data as 'track_order'"),
        ("track my order please", "already in the training data"),
    ]
    document = yaml.safe_load(export.yaml())
    assert document["version"] == "3.1"
    assert [(i["intent"], i["examples"]) for i in document["nlu"]] == [
        ("out_of_scope", "- is it sunny in Lima\n"), ("track_order", "- where is my PARCEL\n- wheres my parcel\n"),
    ]


def test_held_out_text_is_refused_even_quoted_or_respaced():
    heldout = HeldOut(frozenset({heldout_fingerprint("Where can I see my invoice?")}))
    export = build_export(
        [ex('"where can I   see my INVOICE?"', "track_order"), ex("my invoice is wrong", "track_order", 1)], INTENTS, heldout, {},
    )
    assert export.intents == {"track_order": ["my invoice is wrong"]}
    assert [(s.text, s.reason) for s in export.skipped] == [('"where can I   see my INVOICE?"', "held-out evaluation text")]


def test_the_committed_fingerprints_cover_the_evaluation_sets():
    prints = shipped()
    assert len(prints.fingerprints) > 29_000  # Bitext test, validation and 2020 sample; CLINC test/val and out-of-scope
    assert BITEXT_TEST_UTTERANCE in prints and BITEXT_TEST_UTTERANCE.upper() in prints
    assert "help to cancel purchase 00004587346" not in prints


def test_odd_text_becomes_one_plain_example_line_or_is_skipped():
    assert clean("see [this](track_order)\n{x}\u2028\x00 now\t ") == "see (this)(track_order) (x) now"
    export = build_export([ex("!!! ???", "track_order"), ex("a" * 301, "track_order", 1), ex("hi [there]", "greet", 2)],
                          INTENTS, HeldOut(frozenset()), {})
    assert export.intents == {}
    assert [s.reason for s in export.skipped] == ["no words", "longer than 300 characters", "'greet' is not an intent of the domain"]
    assert yaml.safe_load(export.yaml()) == {"version": "3.1", "nlu": []}


def test_project_files_are_read_for_intents_and_known_examples():
    intents = domain_intents(PROJECT / "domain.yml")
    assert {"track_order", "out_of_scope", "refer_friend"} <= set(intents)
    known = training_examples(PROJECT / "data/nlu")
    assert known["yes"] == "affirm"


# -- the command ------------------------------------------------------------------------------------


def test_export_reviewed_writes_rasa_nlu_data_that_changes_the_model_fingerprint(services, migrated_url, tmp_path, monkeypatch):
    conv = services.conversation
    say(conv, "ann", "my parcel went walkabout", "nlu_fallback", 0.3, minutes=1)
    say(conv, "ben", "my parcel went walkabout!", "nlu_fallback", 0.3, minutes=2)
    say(conv, "cara", BITEXT_TEST_UTTERANCE, "cancel_order", 0.4, minutes=3)
    say(conv, "dan", "what is the capital of peru", "out_of_scope", 0.9, minutes=4)
    unhandled = services.reviews.unhandled()
    by_text = {m.text: m.touchpoint_id for m in unhandled}
    services.reviews.label([by_text["my parcel went walkabout"], by_text["my parcel went walkabout!"]], "track_order", "root")
    services.reviews.label([by_text[BITEXT_TEST_UTTERANCE]], "cancel_order", "root")
    services.reviews.label([by_text["what is the capital of peru"]], "out_of_scope", "root")

    project = tmp_path / "project"
    project.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy(PROJECT / name, project / name)
    shutil.copytree(PROJECT / "data", project / "data", ignore=shutil.ignore_patterns(REVIEWED_FILE))
    before = fingerprint(project)
    monkeypatch.setenv("JOURNEYBOT_PROJECT_DIR", str(project))
    monkeypatch.setenv("JOURNEYBOT_DATABASE_URL", migrated_url)
    monkeypatch.setenv("JOURNEYBOT_VAR_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(main, ["nlu", "export-reviewed"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"skipped (held-out evaluation text): '{BITEXT_TEST_UTTERANCE}' [cancel_order]" in result.output
    assert "wrote 3 example(s)" in result.output

    written = project / "data/nlu" / REVIEWED_FILE
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().read(written)
    assert sorted((m.get("intent"), m.get("text")) for m in data.training_examples) == [
        ("out_of_scope", "what is the capital of peru"), ("track_order", "my parcel went walkabout"), ("track_order", "my parcel went walkabout!"),
    ]
    assert BITEXT_TEST_UTTERANCE not in written.read_text()
    assert fingerprint(project) != before, "the next `journeybot train` must retrain with the reviewed examples"
