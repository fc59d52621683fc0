"""Grouping unhandled messages by similarity (journey_state/review/grouping.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from journey_state.review.grouping import group_messages
from journey_state.store.reviews import UnhandledMessage

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def msg(i: int, text: str, intent: str | None = "nlu_fallback", confidence: float = 0.3, channel: str = "rest",
        stage: str = "awareness", minutes: int = 0) -> UnhandledMessage:
    return UnhandledMessage(i, text, intent, confidence, channel, stage, T0 + timedelta(minutes=minutes))


def texts_of(groups) -> list[set[str]]:
    return [{m.text for m in g.messages} for g in groups]


def test_rewordings_of_one_request_group_and_unrelated_messages_stay_apart():
    messages = [
        msg(1, "where is my parcel", minutes=1),
        msg(2, "wheres my parcel??", minutes=2, channel="webchat"),
        msg(3, "Where is my parcel", minutes=3, stage="purchase"),
        msg(4, "do you sell gift cards", minutes=4),
        msg(5, "do u sell giftcards", minutes=5, intent="out_of_scope", confidence=0.8),
        msg(6, "the weather in Paris tomorrow", minutes=6),
    ]
    groups = group_messages(messages)
    assert sorted(map(sorted, texts_of(groups))) == sorted(map(sorted, [
        {"where is my parcel", "wheres my parcel??", "Where is my parcel"},
        {"do you sell gift cards", "do u sell giftcards"},
        {"the weather in Paris tomorrow"},
    ]))
    parcel = next(g for g in groups if g.count == 3)
    assert parcel.texts[0] == ("Where is my parcel", 2)  # case and spaces do not make a new wording; newest spelling shown
    assert dict(parcel.channels) == {"rest": 2, "webchat": 1} and dict(parcel.stages) == {"awareness": 2, "purchase": 1}
    gifts = next(g for g in groups if g.count == 2)
    assert dict(gifts.reasons) == {"fallback": 1, "out of scope": 1}


def test_groups_are_newest_first_and_messages_within_a_group_too():
    messages = [msg(1, "cancel my box", minutes=10), msg(2, "the weather in Paris", minutes=30), msg(3, "cancel my box please", minutes=20)]
    groups = group_messages(messages)
    assert [g.messages[0].touchpoint_id for g in groups] == [2, 3]
    assert groups[1].touchpoint_ids == [3, 1]
    assert groups[0].newest == T0 + timedelta(minutes=30)


def test_low_confidence_guesses_are_offered_and_fallbacks_are_not():
    groups = group_messages([
        msg(1, "sign me up for the premium box", intent="create_account", confidence=0.41),
        msg(2, "sign me up for premium box", intent="create_account", confidence=0.38, minutes=1),
        msg(3, "sign me up for the premium box now", intent="nlu_fallback", minutes=2),
    ])
    assert len(groups) == 1 and groups[0].guesses == ["create_account"]
    assert dict(groups[0].reasons) == {"low confidence": 2, "fallback": 1}


def test_one_message_and_none_need_no_clustering():
    assert group_messages([]) == []
    [only] = group_messages([msg(1, "hello?")])
    assert only.count == 1 and only.touchpoint_ids == [1]


def test_different_requests_about_the_same_object_are_not_one_group():
    groups = group_messages([msg(1, "cancel my order"), msg(2, "i want to cancel my order", minutes=1),
                             msg(3, "my order is late", minutes=2), msg(4, "track my order", minutes=3)])
    assert sorted(map(sorted, texts_of(groups))) == sorted(map(sorted, [
        {"cancel my order", "i want to cancel my order"}, {"my order is late"}, {"track my order"},
    ]))
