"""Staff console (bot/console/staff/views.py) with Flask's test client, a real store and a fake Rasa HTTP API."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from bot.console import create_app
from bot.console.staff.auth import hash_password
from bot.settings import load_settings
from journey_state.handoff import CUSTOMER_REQUEST
from journey_state.store import ChannelRef, JourneyStore, make_engine
from tests.fakes.rasa_api import FakeRasa

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def rasa():
    with FakeRasa() as fake:
        yield fake


def build_app(url, model, tmp_path, rasa, monkeypatch, **env):
    """The console on the migrated database at `url` with users ann, bob (agents) and root (admin)."""
    store = JourneyStore(make_engine(url), model)
    settings = load_settings({"JOURNEYBOT_API_TOKEN": "t", "JOURNEYBOT_VAR_DIR": str(tmp_path), "JOURNEYBOT_DATABASE_URL": url})
    monkeypatch.setenv("JOURNEYBOT_CONSOLE_SECRET", "s" * 40)
    monkeypatch.setenv("JOURNEYBOT_RASA_TOKEN", rasa.token)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app(settings, store)  # registers the staff console
    app.extensions["rasa_client"].base_url = rasa.url
    handoffs = app.extensions["handoffs"]
    handoffs.create_user("ann", hash_password(PASSWORD), "agent")
    handoffs.create_user("bob", hash_password(PASSWORD), "agent")
    handoffs.create_user("root", hash_password(PASSWORD), "admin")
    return app


@pytest.fixture
def app(migrated_url, b2c_model, tmp_path, rasa, monkeypatch):
    app = build_app(migrated_url, b2c_model, tmp_path, rasa, monkeypatch)
    yield app
    app.extensions["journey_store"].engine.dispose()


def csrf_of(client, path="/staff/login") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def login(client, username="ann", password=PASSWORD, ip="10.0.0.1"):
    token = csrf_of(client)
    return client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip})


def logged_in(app, username="ann"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client, csrf_of(client, "/staff/")


def queue_one(app, sender="cust1", text="I want a human"):
    return app.extensions["handoffs"].open(ChannelRef("rest", sender), CUSTOMER_REQUEST, reason=text).place.handoff


def test_pages_need_a_session(app):
    client = app.test_client()
    for path in ("/staff/", "/staff/handoffs/1", "/staff/users", "/staff/contacts/x"):
        response = client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert client.get("/staff/queue.json").status_code == 401
    assert client.get("/staff/handoffs/1/transcript.json").status_code == 401
    # The journey API keeps its own bearer token.
    assert client.get("/api/contacts/by-channel/rest/x").status_code == 401


# Routes anyone may call: the storefront and its widget, static files, the login form,
# logging out, and the API's health check and description; the dashboard's chart library
# is a static vendor file like staff.static. A checkout link (/c/<token>) is sent to the
# customer: its unguessable token is the credential (tests/unit/test_checkout_redirect.py).
PUBLIC_ENDPOINTS = {
    "storefront.page", "storefront.static", "storefront.widget_bundle", "static", "staff.static", "staff_dashboard.chart_bundle",
    "staff.login", "staff.logout", "api.health", "api.openapi", "checkout_redirect.open_checkout",
}


def _example_path(rule) -> str:
    return rule.build({name: 1 if "int" in type(rule._converters[name]).__name__.lower() else "x" for name in rule.arguments}, append_unknown=False)[1]


def test_every_other_route_needs_a_session_or_token(app):
    client = app.test_client()
    checked = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = _example_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({"Accept": "application/json"}, {"Accept": "application/json", "Authorization": "Bearer wrong-token"}):
                response = client.open(path, method=method, headers=headers)
                assert response.status_code in (401, 403), (method, path, headers, response.status_code)
            page = client.open(path, method=method, headers={"Accept": "text/html"})  # a browser: 401/403 or the login page
            assert page.status_code in (401, 403) or (page.status_code == 302 and "/staff/login" in page.headers["Location"]), (method, path, page.status_code)
            checked.append(f"{method} {path}")
    assert len(checked) >= 25 and "POST /staff/handoffs/1/reply" in checked and "DELETE /api/contacts/x" in checked, checked


def test_login_logout_and_generic_error(app):
    client = app.test_client()
    wrong_user = login(client, "nobody")
    wrong_password = login(client, "ann", "wrong password!")
    assert wrong_user.status_code == wrong_password.status_code == 401
    assert "Wrong username or password." in wrong_user.get_data(as_text=True)
    assert wrong_user.get_data(as_text=True) == wrong_password.get_data(as_text=True)  # nothing tells them apart
    assert login(client).status_code == 302
    assert client.get("/staff/").status_code == 200
    token = csrf_of(client, "/staff/")
    client.post("/staff/logout", data={"csrf_token": token})
    assert client.get("/staff/").status_code == 302


def test_post_without_or_with_wrong_csrf_is_rejected(app):
    h = queue_one(app)
    client, token = logged_in(app)
    assert client.post(f"/staff/handoffs/{h.id}/claim").status_code == 400
    assert client.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": "forged"}).status_code == 400
    assert app.extensions["handoffs"].get(h.id).status == "queued"
    # The login form is protected too.
    assert app.test_client().post("/staff/login", data={"username": "ann", "password": PASSWORD}).status_code == 400
    assert client.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token}).status_code == 303


def test_failed_logins_are_rate_limited_per_address_and_user_and_per_address(app):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "ann", "wrong password!", ip="10.0.1.1").status_code == 401
    # Right password, but ann is locked for a while from this address...
    assert login(client, "ann", ip="10.0.1.1").status_code == 429
    # ...not from her own, and other users at that address are not locked.
    assert login(client, "ann", ip="10.0.2.1").status_code == 302
    assert login(client, "bob", ip="10.0.1.1").status_code == 302
    for i in range(20):
        login(client, f"guess{i}", "x", ip="10.9.9.9")
    assert login(client, "bob", ip="10.9.9.9").status_code == 429  # this address is locked
    assert login(client, "bob", ip="10.9.9.10").status_code == 302


def test_disabled_users_and_roles(app):
    client, _ = logged_in(app, "ann")
    assert client.get("/staff/users").status_code == 403
    admin, token = logged_in(app, "root")
    assert admin.get("/staff/users").status_code == 200
    admin.post("/staff/users/ann/disabled", data={"disabled": "1", "csrf_token": token})
    assert client.get("/staff/").status_code == 302  # the live session ends too
    assert login(app.test_client(), "ann").status_code == 401


def age_sessions(app, idle=timedelta(0), since_login=timedelta(0)):
    """Move every stored session's last request and login into the past."""
    from journey_state.store.staff_tables import staff_sessions

    at = datetime.now(timezone.utc)
    with app.extensions["journey_store"].engine.begin() as conn:
        conn.execute(update(staff_sessions).values(seen_at=at - idle, created_at=at - since_login))


def test_idle_sessions_expire(app):
    client, _ = logged_in(app)
    age_sessions(app, idle=timedelta(minutes=59), since_login=timedelta(minutes=59))
    assert client.get("/staff/").status_code == 200
    age_sessions(app, idle=timedelta(minutes=61), since_login=timedelta(minutes=61))
    assert client.get("/staff/").status_code == 302


def test_sessions_end_12_hours_after_login_however_busy(app):
    client, _ = logged_in(app)
    age_sessions(app, idle=timedelta(seconds=5), since_login=timedelta(hours=11, minutes=59))
    assert client.get("/staff/").status_code == 200
    age_sessions(app, idle=timedelta(seconds=5), since_login=timedelta(hours=12, minutes=1))
    assert client.get("/staff/").status_code == 302


def test_customer_html_is_escaped(app, rasa):
    h = queue_one(app, "xss", "<script>alert(1)</script>")
    rasa.events["rest:xss"] = [{"event": "user", "text": "<script>alert(2)</script>", "timestamp": 1.0}]
    client, token = logged_in(app)
    queue_html = client.get("/staff/").get_data(as_text=True)
    assert "<script>alert(1)" not in queue_html and "&lt;script&gt;alert(1)" in queue_html
    client.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token})
    page = client.get(f"/staff/handoffs/{h.id}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert(2)" in page


def test_claim_reply_handback_and_closed_reply_rejected(app, rasa):
    h = queue_one(app, "cust2")
    ann, ann_token = logged_in(app, "ann")
    bob, bob_token = logged_in(app, "bob")
    assert ann.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": ann_token}).status_code == 303
    taken = bob.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": bob_token}, headers={"Accept": "application/json"})
    assert taken.status_code == 409 and "already claimed by ann" in taken.get_json()["error"]["message"]
    not_yours = bob.post(f"/staff/handoffs/{h.id}/reply", data={"csrf_token": bob_token, "text": "hi"}, headers={"Accept": "application/json"})
    assert not_yours.status_code == 403

    assert ann.post(f"/staff/handoffs/{h.id}/reply", data={"csrf_token": ann_token, "text": "Hello, Ann here"}).status_code == 303
    method, path, query = rasa.requests[-1]
    assert (method, path) == ("POST", "/conversations/rest:cust2/tracker/events")
    assert query == {"execute_side_effects": "true", "output_channel": "latest", "token": rasa.token}
    transcript = ann.get(f"/staff/handoffs/{h.id}/transcript.json").get_json()
    assert transcript["messages"][-1] == {**transcript["messages"][-1], "from": "agent", "agent": "ann", "text": "Hello, Ann here"}

    ann.post(f"/staff/handoffs/{h.id}/notes", data={"csrf_token": ann_token, "text": "wants a refund"})
    ann.post(f"/staff/handoffs/{h.id}/stage", data={"csrf_token": ann_token, "stage": "retention", "reason": "long-time customer"})
    contact = app.extensions["journey_store"].contact(h.contact_uid)
    assert contact["stage"] == "retention" and contact["transitions"][-1]["evidence"]["source"] == "agent"

    assert ann.post(f"/staff/handoffs/{h.id}/handback", data={"csrf_token": ann_token}).status_code == 303
    # The follow-up and the CSAT question are one locked bot turn (tests/unit/test_hand_back_action.py).
    events = rasa.events["rest:cust2"][-3:]
    assert [(e["event"], e.get("name")) for e in events] == [("resume", None), ("action", "action_listen"), ("action", "action_hand_back")]

    late = ann.post(f"/staff/handoffs/{h.id}/reply", data={"csrf_token": ann_token, "text": "one more thing"}, follow_redirects=True)
    assert "was handed back to the bot" in late.get_data(as_text=True) and "your reply was not sent" in late.get_data(as_text=True)
    assert not any(e.get("text") == "one more thing" for e in rasa.events["rest:cust2"])
    history = ann.get(f"/staff/contacts/{h.contact_uid}").get_data(as_text=True)
    assert "returned" in history and "wants a refund" in history


def test_unknown_handoff_is_404_not_500(app):
    client, token = logged_in(app)
    assert client.get("/staff/handoffs/999").status_code == 404
    assert client.post("/staff/handoffs/999/reply", data={"csrf_token": token, "text": "x"}, headers={"Accept": "application/json"}).status_code == 404


def test_posts_without_a_session_go_to_login(app):
    h = queue_one(app, "nosession")
    client = app.test_client()
    response = client.post(f"/staff/handoffs/{h.id}/claim")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert client.post(f"/staff/handoffs/{h.id}/reply", headers={"Accept": "application/json"}).status_code == 401
    assert app.extensions["handoffs"].get(h.id).status == "queued"


def test_agent_takeover_pauses_the_bot(app, rasa):
    client, token = logged_in(app)
    response = client.post("/staff/takeover", data={"csrf_token": token, "channel": "rest", "sender_id": "quiet"})
    assert response.status_code == 303
    [h] = app.extensions["handoffs"].queue(("assigned",))
    assert (h.sender_id, h.trigger, h.agent) == ("quiet", "agent_claim", "ann")
    pause, joined = rasa.events["rest:quiet"][-2:]
    assert pause["event"] == "pause"
    assert (joined["event"], joined["text"], joined["metadata"]) == ("bot", "Ann from the team joined the chat.", {"agent": "ann"})


def test_the_customer_is_told_who_joined_on_claim_and_gets_a_closing_line_on_close(app, rasa):
    h = queue_one(app, "told")
    client, token = logged_in(app, "ann")
    claimed = client.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token}, headers={"Accept": "application/json"})
    assert claimed.get_json() == {"claimed": h.id, "agent": "ann", "announced": True}
    assert client.post(f"/staff/handoffs/{h.id}/close", data={"csrf_token": token}).status_code == 303
    said = [(e["text"], e.get("metadata")) for e in rasa.events["rest:told"] if e["event"] == "bot"]
    closing = app.extensions["handoffs"].config.messages["closed"]
    assert said == [("Ann from the team joined the chat.", {"agent": "ann"}), (closing, {"agent": "ann"})]
    assert app.extensions["handoffs"].get(h.id).status == "closed" and rasa.tracker("rest:told")["paused"] is False


def test_a_claim_stands_when_rasa_cannot_tell_the_customer(app, rasa):
    from devtools.stack import free_port

    h = queue_one(app, "untold")
    client, token = logged_in(app, "ann")
    app.extensions["rasa_client"].base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    claimed = client.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token}, headers={"Accept": "application/json"})
    assert claimed.status_code == 200 and claimed.get_json()["announced"] is False
    assert app.extensions["handoffs"].get(h.id).status == "assigned"
    page = client.get(f"/staff/handoffs/{h.id}").get_data(as_text=True)
    assert "the customer was not told you joined" in page


def test_send_offer_delivers_and_records_it(app, rasa):
    from datetime import datetime, timezone

    from journey_state.engine import Signal, Source

    store = app.extensions["journey_store"]
    store.record_signal(ChannelRef("rest", "shopper"), Signal(id="m1", source=Source.CONVERSATION, at=datetime.now(timezone.utc), intent="ask_pricing", confidence=0.9))
    h = queue_one(app, "shopper")
    expected = app.extensions["programs"].choose_offer(h.contact_uid, "rest")
    assert expected is not None, "the demo catalog has an offer for a pricing question"
    client, token = logged_in(app)
    client.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token})
    assert client.post(f"/staff/handoffs/{h.id}/offer", data={"csrf_token": token}).status_code == 303
    assert rasa.events["rest:shopper"][-1]["text"] == expected.text
    assert [e.offer_id for e in app.extensions["programs"].offer_history(h.contact_uid)] == [expected.id]


def test_rasa_down_reply_is_refused_with_the_text_kept_and_hand_back_keeps_the_handoff(app, rasa):
    from devtools.stack import free_port

    h = queue_one(app, "down")
    client, token = logged_in(app)
    client.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token})
    app.extensions["rasa_client"].base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    text = 'Your <refund> is on its way & "soon"'
    page = client.post(f"/staff/handoffs/{h.id}/reply", data={"csrf_token": token, "text": text})
    body = page.get_data(as_text=True)
    assert page.status_code == 503 and "Your reply was NOT sent" in body
    assert "&lt;refund&gt; is on its way &amp; &#34;soon&#34;</textarea>" in body  # given back, escaped
    as_json = client.post(f"/staff/handoffs/{h.id}/reply", data={"csrf_token": token, "text": text}, headers={"Accept": "application/json"})
    assert as_json.status_code == 503 and as_json.get_json()["error"]["text"] == text
    for action in ("handback", "close"):
        refused = client.post(f"/staff/handoffs/{h.id}/{action}", data={"csrf_token": token}, headers={"Accept": "application/json"})
        assert refused.status_code == 503, refused.get_data(as_text=True)
        assert app.extensions["handoffs"].get(h.id).status == "assigned"  # still the agent's, bot still paused
    assert not any(e.get("text") == text for e in rasa.events.get("rest:down", []))

    app.extensions["rasa_client"].base_url = rasa.url  # back: the same text goes out, and hand back works
    assert client.post(f"/staff/handoffs/{h.id}/reply", data={"csrf_token": token, "text": text}).status_code == 303
    assert [e["text"] for e in rasa.events["rest:down"] if e["event"] == "bot"][-1] == text
    assert client.post(f"/staff/handoffs/{h.id}/handback", data={"csrf_token": token}).status_code == 303
    assert app.extensions["handoffs"].get(h.id).status == "returned"


def test_rasa_timeout_on_a_reply_warns_it_may_have_been_delivered(app, rasa, monkeypatch):
    import requests

    h = queue_one(app, "slow")
    client, token = logged_in(app)
    client.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token})
    session = app.extensions["rasa_client"].session
    original = session.request

    def slow(method, url, **kwargs):
        if method == "POST":
            raise requests.ReadTimeout("read timed out")
        return original(method, url, **kwargs)

    monkeypatch.setattr(session, "request", slow)
    response = client.post(f"/staff/handoffs/{h.id}/reply", data={"csrf_token": token, "text": "hello"}, headers={"Accept": "application/json"})
    assert response.status_code == 504
    error = response.get_json()["error"]
    assert "may still reach the customer" in error["message"] and error["text"] == "hello"


@pytest.mark.parametrize("channel, sender", [("whatsapp", "+4915112345678"), ("telegram", "-1001234567"), ("socketio", "0123456789abcdef0123456789abcdef")])
def test_replies_reach_the_conversation_of_real_sender_shapes(app, rasa, channel, sender):
    """Rasa 3.6 does not decode '%2B' in its paths: an encoded '+' once sent replies to a new, empty conversation."""
    h = app.extensions["handoffs"].open(ChannelRef(channel, sender), CUSTOMER_REQUEST, reason="help").place.handoff
    ann, token = logged_in(app, "ann")
    assert ann.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token}).status_code == 303
    assert ann.post(f"/staff/handoffs/{h.id}/reply", data={"csrf_token": token, "text": "Hello, Ann here"}).status_code == 303
    assert ann.post(f"/staff/handoffs/{h.id}/handback", data={"csrf_token": token}).status_code == 303
    assert set(rasa.events) == {f"{channel}:{sender}"}, list(rasa.events)
    events = rasa.events[f"{channel}:{sender}"]
    assert [e["text"] for e in events if e["event"] == "bot"][:2] == ["Ann from the team joined the chat.", "Hello, Ann here"]
    assert rasa.tracker(f"{channel}:{sender}")["paused"] is False


def test_a_customer_queued_again_during_the_hand_back_gets_no_follow_up_or_csat(app, rasa, monkeypatch):
    """Soak finding: the CSAT question went out while the conversation was paused again.

    The console sends no bot text of its own after the resume: the one action it runs decides
    under Rasa's lock (tests/e2e/test_handoff.py runs it on a really paused tracker)."""
    h = queue_one(app, "cust-again")
    ann, token = logged_in(app, "ann")
    assert ann.post(f"/staff/handoffs/{h.id}/claim", data={"csrf_token": token}).status_code == 303
    handoffs = app.extensions["handoffs"]
    hand_back = handoffs.hand_back

    def customer_asks_again_meanwhile(*args, **kwargs):
        returned = hand_back(*args, **kwargs)
        # What Rasa logs when the customer's next message queues them for a person again.
        rasa.events["rest:cust-again"] += [{"event": "user", "text": "a human please"}, {"event": "pause"}]
        return returned

    monkeypatch.setattr(handoffs, "hand_back", customer_asks_again_meanwhile)
    assert ann.post(f"/staff/handoffs/{h.id}/handback", data={"csrf_token": token}).status_code == 303
    after_resume = rasa.events["rest:cust-again"][-5:]
    assert [(e["event"], e.get("name")) for e in after_resume] == [
        ("resume", None), ("action", "action_listen"), ("user", None), ("pause", None), ("action", "action_hand_back")]
    assert rasa.tracker("rest:cust-again")["paused"] is True
