"""Staff console bugs the fuzz suite (tests/fuzz) found, each pinned by a focused test."""
from __future__ import annotations

import pytest

from tests.unit.test_staff_console import app, logged_in, queue_one, rasa  # noqa: F401 (fixtures)

TOO_BIG = 2**63  # one past SQLite's and PostgreSQL's BIGINT: the database driver cannot even bind it
HANDOFF_GETS = ("/staff/handoffs/{}", "/staff/handoffs/{}/transcript.json")
HANDOFF_POSTS = ("claim", "reply", "notes", "stage", "offer", "handback", "close")


@pytest.mark.parametrize("handoff_id", [TOO_BIG, 10**30], ids=["2**63", "10**30"])
def test_handoff_ids_past_64_bits_are_404_not_500(app, handoff_id):
    queue_one(app)
    client, token = logged_in(app)
    for path in HANDOFF_GETS:
        response = client.get(path.format(handoff_id), headers={"Accept": "application/json"})
        assert response.status_code == 404, (path, response.status_code, response.get_data(as_text=True)[:200])
    for action in HANDOFF_POSTS:
        response = client.post(f"/staff/handoffs/{handoff_id}/{action}", data={"csrf_token": token, "text": "hi"},
                               headers={"Accept": "application/json"})
        assert response.status_code == 404, (action, response.status_code)


def test_the_largest_64_bit_handoff_id_is_an_ordinary_unknown_handoff(app):
    client, _ = logged_in(app)
    response = client.get(f"/staff/handoffs/{TOO_BIG - 1}", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/staff/handoffs/1?q=" + "b" * 70_000, "/staff/contacts/a%0D%0Ab", "/staff/contacts/a%5Cb"],
                         ids=["70-kb-query", "cr-lf-in-path", "backslash-in-path"])
def test_the_login_redirect_carries_only_a_return_address_the_login_page_accepts(app, path):
    # A 70 KB query used to come back as a 70 KB Location header (clients refuse header lines
    # past 64 KiB), and a control character or backslash in the path as a link the login page
    # then refused with a 400.
    response = app.test_client().get(path)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.endswith("/staff/login"), location[:200]
    followed = app.test_client().get(location)
    assert followed.status_code == 200


def test_the_login_redirect_still_returns_to_an_ordinary_page(app):
    response = app.test_client().get("/staff/handoffs/7?tab=notes")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/login?next=/staff/handoffs/7?tab%3Dnotes")
