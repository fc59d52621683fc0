"""Text from outside made storable (journey_state/text.py), conversation ids (journey_state/identifiers.py)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_state.identifiers import ChannelRef, InvalidConversationId, addressable_sender_id, sender_on
from journey_state.text import MAX_JSON_DEPTH, REPLACEMENT, TooDeep, clean_json, clean_text, storable_problem


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def test_lone_surrogates_become_the_replacement_character_and_nul_goes():
    assert clean_text("\udc80x") == REPLACEMENT + "x"
    assert clean_text("a\ud800b\udfffc") == f"a{REPLACEMENT}b{REPLACEMENT}c"
    assert clean_text("nul\x00here\x07") == "nulhere"
    assert clean_text("tabs\tand\nlines\r\n stay") == "tabs\tand\nlines\r\n stay"
    assert clean_text("emoji 😀 and ümlauts stay") == "emoji 😀 and ümlauts stay"


def test_a_pair_from_json_is_one_character_and_stays():
    decoded = json.loads('"\\ud83d\\ude00"')
    assert clean_text(decoded) == "😀"
    assert json.loads('"\\udc80"') != clean_text(json.loads('"\\udc80"'))


@given(st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)))
def test_anything_cleaned_can_be_stored(text):
    assert storable(clean_text(text))
    assert clean_text(clean_text(text)) == clean_text(text)


def test_identifiers_are_rejected_not_cleaned():
    assert storable_problem("+4915112345678") is None
    assert "surrogate" in storable_problem("\udc80")
    assert "control" in storable_problem("a\x00b")


def test_json_is_cleaned_everywhere_keys_included():
    assert clean_json({"k\udc80": ["v\x00", {"deep": "\ud800"}], "n": 1, "b": None}) == {
        f"k{REPLACEMENT}": ["v", {"deep": REPLACEMENT}], "n": 1, "b": None}


def test_hostile_depth_is_refused_without_recursion():
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(TooDeep):
        clean_json(deep)
    ok: object = "x"
    for _ in range(MAX_JSON_DEPTH):
        ok = {"a": ok}
    assert clean_json(ok) == ok


@pytest.mark.parametrize("ref, expected", [
    (ChannelRef("whatsapp", "+4915112345678"), "whatsapp:+4915112345678"),
    (ChannelRef("telegram", "-1001234"), "telegram:-1001234"),
    (ChannelRef("socketio", "0123456789abcdef0123456789abcdef"), "socketio:0123456789abcdef0123456789abcdef"),
    (ChannelRef("rest", "alice:2"), "rest:alice:2"),
])
def test_a_conversation_id_names_its_channel(ref, expected):
    assert ref.conversation_id == expected
    assert ChannelRef.from_conversation_id(expected) == ref


def test_the_same_sender_on_two_channels_is_two_conversations():
    assert ChannelRef("rest", "+4915112345678").conversation_id != ChannelRef("whatsapp", "+4915112345678").conversation_id


@pytest.mark.parametrize("bad", ["+4915112345678", "", ":x", "Rest:x", "rest:", "a b:c", "x" * 40 + ":y"])
def test_a_bare_or_malformed_conversation_id_is_refused(bad):
    with pytest.raises(InvalidConversationId):
        ChannelRef.from_conversation_id(bad)


@pytest.mark.parametrize("bad", ["", "\udc80x", "a b", "a/b", "%2B49", "x" * 129, None, 12, ["a"], "a\x00"])
def test_sender_ids_must_need_no_encoding(bad):
    with pytest.raises(InvalidConversationId):
        addressable_sender_id(bad)


def test_outputs_take_either_form():
    assert sender_on("telegram", "telegram:123") == "123"
    assert sender_on("telegram", "123") == "123"
    assert sender_on("whatsapp", "whatsapp:+49151") == "+49151"
