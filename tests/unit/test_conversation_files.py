"""The conversation suite's files are valid without starting a stack (the e2e runner trusts them)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from devtools.conversations import (
    ConversationFileError,
    check_bot_said,
    check_contact,
    check_reply,
    fill,
    load_file,
    load_pending,
    load_suite,
)

SUITE = Path(__file__).resolve().parents[1] / "conversations"
THEMES = {"pricing", "ordering", "order_support", "delivery", "feedback", "referral", "handoff",
          "repair_in_forms", "chitchat", "hostile", "journey"}


def test_the_suite_has_every_theme_and_enough_conversations():
    conversations = load_suite(SUITE)
    assert len(conversations) >= 150
    assert {c.theme for c in conversations} == THEMES
    single = [c.id for c in conversations if sum(t.kind == "say" for t in c.turns) < 2]
    assert not single, f"multi-turn: the customer speaks at least twice in {single}"
    assert max(len(c.turns) for c in conversations) <= 7  # short: the whole module runs in minutes
    assert Counter(c.theme for c in conversations).most_common()[-1][1] >= 10


def test_every_needed_feature_is_known_and_every_pending_feature_is_needed():
    needs = {n for c in load_suite(SUITE) for n in c.needs}
    pending = load_pending(SUITE)
    assert set(pending) <= needs, f"pending features no conversation needs: {set(pending) - needs}"
    # A feature nobody lists as pending must have been merged: its conversations then run as plain tests.
    assert {"forms", "clarification", "places", "buying", "waiting"} <= needs


def write(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.mark.parametrize("turn, message", [
    ({"say": "hi"}, "expected stage"),
    ({"say": "hi", "stage": "nirvana"}, "nirvana"),
    ({"say": "hi", "stage": "awareness", "hass": ["x"]}, "unknown keys"),
    ({"say": "hi", "stage": "awareness", "has": ["("]}, "pattern"),
    ({"say": 7, "stage": "awareness"}, "quote numbers"),
    ({"say": "hi", "event": "order_paid", "stage": "awareness"}, "exactly one"),
    ({"say": "hi", "stage": "awareness", "times": 0}, "times"),
])
def test_a_bad_turn_is_refused_naming_file_and_conversation(tmp_path, turn, message):
    path = write(tmp_path, {"theme": "t", "conversations": [{"id": "c1", "turns": [turn]}]})
    with pytest.raises(ConversationFileError, match=message) as info:
        load_file(path)
    assert "t.yml: c1" in str(info.value)


def test_the_agent_cannot_open_a_conversation(tmp_path):
    path = write(tmp_path, {"conversations": [{"id": "c1", "turns": [{"agent": "claim"}]}]})
    with pytest.raises(ConversationFileError, match="customer speaks first"):
        load_file(path)


def test_duplicate_ids_are_refused(tmp_path):
    body = {"conversations": [{"id": "c1", "turns": [{"say": "hi", "stage": "awareness"}]}]}
    (tmp_path / "a.yml").write_text(yaml.safe_dump(body))
    (tmp_path / "b.yml").write_text(yaml.safe_dump(body))
    with pytest.raises(ConversationFileError, match="used twice"):
        load_suite(tmp_path)


REPLY = [{"text": "Premium is €29 a month.", "buttons": [{"title": "What's included?", "payload": "/ask_features"}]},
         {"text": "Try us risk-free: your first bag free."}]


def test_reply_checks_find_each_kind_of_miss():
    assert check_reply({"has": ["€29"], "not": ["rephrase"], "buttons": ["included"]}, REPLY, None) == []
    problems = check_reply({"has": ["€12"], "any": ["basic", "house"], "not": ["risk-free"], "buttons": ["Order"],
                            "last_buttons": True, "silent": True}, REPLY, None)
    assert [p.split()[0] for p in problems] == ["expected", "reply", "reply", "reply", "no", "the"]
    assert check_reply({}, [], None) == ["expected a reply, got none"]
    assert check_reply({"silent": True}, [], None) == []
    assert check_reply({"handoff": True}, REPLY, False) == ["expected a handoff to a person"]
    assert check_reply({"handoff": False}, REPLY, True) == ["expected no handoff"]


def test_contact_and_transcript_checks():
    assert check_contact({"stage": "purchase"}, {"stage": "purchase", "at_risk": False}) == []
    assert check_contact({"stage_in": ["awareness"], "at_risk": True}, {"stage": "purchase", "at_risk": False}) == [
        "stage is 'purchase', expected one of ['awareness']", "at_risk is False, expected True"]
    assert check_contact({"stage": "awareness"}, None) == ["no contact stored for this sender"]
    assert check_bot_said({"bot_said": ["sam joined"]}, ["Sam joined the chat"]) == []
    assert check_bot_said({"bot_said": ["sam joined"]}, ["hello"]) == ["the conversation never shows /sam joined/"]


def test_captured_values_are_escaped_into_patterns():
    expect = fill({"has": ["code {code}"], "stage": "advocacy"}, {"code": "AURORA-A+B"})
    assert expect == {"has": [r"code AURORA\-A\+B"], "stage": "advocacy"}
    assert check_reply(expect, [{"text": "your code AURORA-A+B"}], None) == []
