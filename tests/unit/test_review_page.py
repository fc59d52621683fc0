"""The staff console's Unhandled messages page (bot/console/staff/review.py) with Flask's test client and a real store."""
from __future__ import annotations

import re

import pytest

from bot.console.staff.review import GROUPS_PER_PAGE
from tests.unit.review_helpers import say
from tests.unit.test_staff_console import build_app, csrf_of, logged_in, rasa  # noqa: F401  # rasa: the fixture

IDS = re.compile(r'name="ids" value="([0-9,]+)"')


@pytest.fixture
def app(migrated_url, b2c_model, tmp_path, rasa, monkeypatch):
    app = build_app(migrated_url, b2c_model, tmp_path, rasa, monkeypatch)
    yield app
    app.extensions["journey_store"].engine.dispose()


@pytest.fixture
def admin(app):
    client, token = logged_in(app, "root")
    return client, token


def conversation(app):
    return app.extensions["services"].conversation


def test_only_admins_see_the_page_and_the_nav_link(app, admin):
    agent, _ = logged_in(app, "ann")
    assert agent.get("/staff/review/").status_code == 403
    assert "Unhandled messages" not in agent.get("/staff/").get_data(as_text=True)
    client, _ = admin
    assert 'href="/staff/review/"' in client.get("/staff/").get_data(as_text=True)
    page = client.get("/staff/review/")
    assert page.status_code == 200 and "Nothing to review." in page.get_data(as_text=True)


def test_groups_show_counts_channels_stages_and_one_click_labels_a_group(app, admin):
    client, token = admin
    say(conversation(app), "ann", "where is my parcel", "nlu_fallback", 0.3, minutes=1)
    say(conversation(app), "ben", "wheres my parcel??", "nlu_fallback", 0.3, minutes=2, channel="webchat")
    say(conversation(app), "cara", "is it sunny in Lima", "out_of_scope", 0.9, minutes=3)
    say(conversation(app), "dan", "track it", "track_order", 0.95, minutes=4)  # understood
    html = " ".join(client.get("/staff/review/").get_data(as_text=True).split())
    assert "3 message(s) in 2 group(s)." in html and "track it" not in html
    assert html.index("is it sunny in Lima") < html.index("wheres my parcel??")  # newest group first
    assert "channels: webchat 1, rest 1" in html and "fallback 2" in html and "stages: awareness 2" in html
    oos_ids, parcel_ids = IDS.findall(html)[::2]  # each group has two forms with the same ids
    response = client.post("/staff/review/label", data={"csrf_token": token, "ids": parcel_ids, "label": "track_order", "page": "1"})
    assert response.status_code == 303
    after = client.get("/staff/review/").get_data(as_text=True)
    assert "Labelled 2 message(s) as &#39;track_order&#39;" in after and "where is my parcel" not in after
    assert client.post("/staff/review/label", data={"csrf_token": token, "ids": oos_ids, "label": "out_of_scope"}).status_code == 303
    examples = app.extensions["services"].reviews.examples()
    assert sorted((e.text, e.label) for e in examples) == [
        ("is it sunny in Lima", "out_of_scope"), ("where is my parcel", "track_order"), ("wheres my parcel??", "track_order"),
    ]


def test_labels_not_in_the_domain_and_damaged_forms_are_400_and_store_nothing(app, admin):
    client, token = admin
    say(conversation(app), "ann", "where is my parcel", "nlu_fallback", 0.3)
    [ids] = IDS.findall(client.get("/staff/review/").get_data(as_text=True))[:1]
    cases = {
        "not_an_intent": ({"label": "not_an_intent", "ids": ids}, "'not_an_intent' is not an intent of the domain"),
        "fallback": ({"label": "nlu_fallback", "ids": ids}, "is not an intent of the domain"),
        "huge": ({"label": "x" * 10_000, "ids": ids}, "is not an intent of the domain"),
        "empty": ({"label": "", "ids": ids}, "choose an intent"),
        "ids": ({"label": "track_order", "ids": "1,<script>"}, "damaged"),
        "no ids": ({"label": "track_order", "ids": ""}, "damaged"),
        "gone": ({"label": "track_order", "ids": "999999"}, "none of these messages exists"),
    }
    for name, (form, message) in cases.items():
        response = client.post("/staff/review/label", data={"csrf_token": token, **form})
        assert response.status_code == 400 and message in response.get_data(as_text=True), name
        assert len(response.get_data(as_text=True)) < 400, name  # the message, not the 10,000 characters back
    assert client.post("/staff/review/label", data={"label": "track_order", "ids": ids}).status_code == 400  # no CSRF token
    json = client.post("/staff/review/label", data={"csrf_token": token, "label": "nope", "ids": ids}, headers={"Accept": "application/json"})
    assert json.status_code == 400 and json.get_json()["error"]["code"] == "bad_request"
    assert app.extensions["services"].reviews.examples() == []


def test_customer_text_is_escaped_however_odd(app, admin):
    client, _ = admin
    say(conversation(app), "ann", "<script>alert(1)</script> where's my box", "nlu_fallback", 0.3)
    say(conversation(app), "ben", "x" * 10_000, "nlu_fallback", 0.3, minutes=1)
    say(conversation(app), "cara", "\u202eevil\u202c {{ 7*7 }} \U0001f600", "nlu_fallback", 0.3, minutes=2)
    page = client.get("/staff/review/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "x" * 500 in html and "x" * 501 not in html  # stored as a 500-character excerpt
    assert "\u202e" not in html and "{{ 7*7 }}" in html and "49" not in html


def test_pages_are_paginated_newest_first_and_a_bad_page_is_400(app, admin):
    client, _ = admin
    words = ["apple", "zebra", "guitar", "volcano", "pencil", "harbour", "quartz", "meadow", "lantern", "tundra", "falcon",
             "origami", "saffron", "igloo", "jasmine", "kettle", "nebula", "walrus", "yodel", "bamboo", "cactus", "dynamo"]
    for i, word in enumerate(words):
        say(conversation(app), f"c{i}", f"{word} {word}", "nlu_fallback", 0.3, minutes=i)
    first = client.get("/staff/review/").get_data(as_text=True)
    second = client.get("/staff/review/?page=2").get_data(as_text=True)
    assert len(words) > GROUPS_PER_PAGE
    assert "page 1 of 2" in first and "dynamo dynamo" in first and "apple apple" not in first
    assert "apple apple" in second and "dynamo dynamo" not in second and 'rel="prev"' in second
    assert "page 2 of 2" in client.get("/staff/review/?page=99").get_data(as_text=True)  # past the end: the last page
    for bad in ("0", "-1", "abc", "1e9", "\u0661", "9" * 40):
        response = client.get(f"/staff/review/?page={bad}")
        assert response.status_code == 400 and "page must be a whole number" in response.get_data(as_text=True), bad


def test_the_csrf_token_of_the_page_is_the_sessions(app, admin):
    client, token = admin
    assert csrf_of(client, "/staff/review/") == token
