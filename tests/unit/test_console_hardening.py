"""Issue 13 hardening of the console (bot/console): headers, hostile form input, bidi text, sessions, login limits.

Flask's test client against a real migrated database and the fake Rasa HTTP API, as in
test_staff_console.py. Backend-independent behaviour runs on SQLite only; the session store
itself is tested on both backends in test_staff_sessions_store.py.
"""
from __future__ import annotations

import pytest

from tests.unit.test_staff_console import PUBLIC_ENDPOINTS, _example_path, build_app, csrf_of, logged_in, rasa  # noqa: F401

STATIC_FILES = ("/staff/static/console.css", "/staff/static/console.js", "/storefront/static/storefront.css")


@pytest.fixture
def app(sqlite_url, b2c_model, tmp_path, rasa, monkeypatch):
    from journey_state.store import migrate

    migrate.upgrade(sqlite_url)
    app = build_app(sqlite_url, b2c_model, tmp_path, rasa, monkeypatch)
    yield app
    app.extensions["journey_store"].engine.dispose()


# -- 3. security headers --------------------------------------------------------------------------


def assert_secure_headers(response, where):
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src" in csp, (where, csp)
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy"), where


def test_every_route_answers_with_the_security_headers(app):
    anonymous = app.test_client()
    agent, _ = logged_in(app, "root")  # an admin reaches every staff page
    seen = set()
    for rule in app.url_map.iter_rules():
        path = _example_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for who, client in (("anonymous", anonymous), ("admin", agent)):
                # POSTs without a CSRF token are refused before doing anything, so this changes nothing.
                response = client.open(path, method=method, headers={"Accept": "text/html"})
                where = (who, method, path, response.status_code)
                assert_secure_headers(response, where)
                if path.startswith(("/staff", "/api")) and not rule.endpoint.endswith("static") and rule.endpoint not in (
                    "staff_dashboard.chart_bundle",
                ):
                    assert response.headers.get("Cache-Control") == "no-store", where
                seen.add(rule.endpoint)
    assert seen == {rule.endpoint for rule in app.url_map.iter_rules()}
    assert len(seen) >= 30, seen


def test_pages_with_data_are_no_store_and_static_files_stay_cacheable(app):
    client, _ = logged_in(app)
    for path in ("/staff/", "/staff/queue.json", "/staff/login", "/api/health", "/staff/dashboard", "/api/contacts/x"):
        response = client.get(path, headers={"Authorization": "Bearer t"})
        assert response.headers["Cache-Control"] == "no-store", path
        assert_secure_headers(response, path)
    for path in STATIC_FILES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" not in response.headers.get("Cache-Control", ""), path
        assert_secure_headers(response, path)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert_secure_headers(missing, "404")


def test_the_storefront_keeps_its_own_policy_with_rasas_socket(app):
    response = app.test_client().get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "connect-src 'self' http://localhost:5005 ws://localhost:5005" in csp
    assert_secure_headers(response, "/")
    assert "no-store" not in response.headers.get("Cache-Control", "")  # a public shop page


# -- 1. server-side sessions ------------------------------------------------------------------------


COOKIE = "journeybot_staff"


def staff_cookie(client):
    return client.get_cookie(COOKIE, path="/staff")


def copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, staff_cookie(client).value, path="/staff")
    return other


def session_rows(app):
    from sqlalchemy import func, select

    from journey_state.store.staff_tables import staff_sessions

    with app.extensions["journey_store"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(staff_sessions)).scalar_one()


def test_logging_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(app):
    client, token = logged_in(app)
    stolen = copy_of(app, client)
    assert stolen.get("/staff/").status_code == 200
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/staff/").status_code == 302
    assert stolen.get("/staff/").status_code == 302  # the copy is worthless too
    assert stolen.get("/staff/queue.json").status_code == 401
    assert session_rows(app) == 0


def test_the_cookie_is_an_opaque_random_token_with_safe_flags(app):
    import base64
    import re

    client = app.test_client()
    response = client.post("/staff/login", data={"username": "ann", "password": "correct horse battery", "csrf_token": csrf_of(client)})
    assert response.status_code == 302
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "="))
    value = header.split(";")[0].split("=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), value
    decoded = base64.urlsafe_b64decode(value + "=")
    assert b"ann" not in decoded and b"csrf" not in decoded and b"agent" not in decoded
    flags = {f.strip().split("=")[0].lower(): f.strip() for f in header.split(";")[1:]}
    assert "httponly" in flags and flags["samesite"] == "SameSite=Lax" and flags["path"] == "Path=/staff"
    assert "expires" in flags and "secure" not in flags  # plain http in development


def test_the_cookie_is_secure_over_https_or_when_configured(app, another_app):
    def cookie_header(application, base_url):
        client = application.test_client()
        token = csrf_of_page(client.get("/staff/login", base_url=base_url))
        response = client.post("/staff/login", base_url=base_url,
                               data={"username": "ann", "password": "correct horse battery", "csrf_token": token})
        assert response.status_code == 302
        return response.headers["Set-Cookie"]

    assert "; Secure" in cookie_header(app, "https://console.example")
    assert "; Secure" not in cookie_header(app, "http://localhost")
    assert "; Secure" in cookie_header(another_app(JOURNEYBOT_CONSOLE_SECURE_COOKIE="1"), "http://localhost")


def csrf_of_page(page):
    from tests.unit.test_staff_console import CSRF

    return CSRF.search(page.get_data(as_text=True)).group(1)


@pytest.fixture
def another_app(tmp_path, b2c_model, monkeypatch):
    """Build a console with these environment variables, on its own fresh SQLite database."""
    from journey_state.store import migrate

    built = []

    class Stub:  # only the URL and token are read at start-up; these consoles never call Rasa
        url, token = "http://127.0.0.1:9", "unused"

    def make(**env):
        url = f"sqlite:///{tmp_path / f'another-{len(built)}.db'}"
        migrate.upgrade(url)
        built.append(build_app(url, b2c_model, tmp_path, Stub(), monkeypatch, **env))
        return built[-1]

    yield make
    for application in built:
        application.extensions["journey_store"].engine.dispose()


def test_logging_in_issues_a_new_token(app):
    client = app.test_client()
    token = csrf_of(client)
    before = staff_cookie(client).value
    client.post("/staff/login", data={"username": "ann", "password": "correct horse battery", "csrf_token": token})
    assert staff_cookie(client).value != before  # a cookie planted before login is not the session


def test_visitors_who_do_not_log_in_store_nothing(app):
    client = app.test_client()
    for _ in range(20):
        app.test_client().get("/staff/login")
    login_form = client.get("/staff/login")
    assert login_form.status_code == 200 and session_rows(app) == 0
    assert client.post("/staff/login", data={"username": "ann", "password": "wrong password!", "csrf_token": csrf_of(client)}).status_code == 401
    assert session_rows(app) == 0


def test_disabling_a_user_ends_all_their_sessions_for_good(app):
    ann, _ = logged_in(app, "ann")
    ann_elsewhere, _ = logged_in(app, "ann")
    admin, token = logged_in(app, "root")
    admin.post("/staff/users/ann/disabled", data={"disabled": "1", "csrf_token": token})
    admin.post("/staff/users/ann/disabled", data={"disabled": "0", "csrf_token": token})
    assert ann.get("/staff/").status_code == 302  # re-enabling does not bring the old sessions back
    assert ann_elsewhere.get("/staff/").status_code == 302
    assert admin.get("/staff/").status_code == 200


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(app):
    from sqlalchemy import update

    from bot.console.staff.auth import hash_password
    from journey_state.store.staff_tables import staff_users
    from tests.unit.test_staff_console import login

    bob, _ = logged_in(app, "bob")
    ann, _ = logged_in(app, "ann")
    with app.extensions["journey_store"].engine.begin() as conn:
        conn.execute(update(staff_users).where(staff_users.c.username == "bob").values(password_hash=hash_password("a brand new secret")))
    assert bob.get("/staff/").status_code == 302
    assert ann.get("/staff/").status_code == 200
    assert login(app.test_client(), "bob", "a brand new secret").status_code == 302


def test_a_database_outage_during_a_console_request_is_503_not_500(app):
    from sqlalchemy import text

    client, _ = logged_in(app)
    with app.extensions["journey_store"].engine.begin() as conn:
        conn.execute(text("DROP TABLE staff_sessions"))
    response = client.get("/staff/")
    assert response.status_code == 503 and "unavailable" in response.get_data(as_text=True)
    assert client.get("/staff/queue.json").status_code == 503
    assert app.test_client().get("/api/health").status_code == 200  # the API never touches staff sessions


# -- 2. login limits ------------------------------------------------------------------------------------


def attempt(client, username, password="wrong password!", ip="10.0.0.1", **headers):
    token = csrf_of(client)
    return client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip}, headers=headers)


def test_a_wrong_password_flood_from_other_addresses_does_not_lock_the_user_out(app):
    flood = app.test_client()
    for i in range(8):
        for _ in range(5):
            attempt(flood, "ann", ip=f"198.51.100.{i}")
    assert attempt(flood, "ann", "correct horse battery", ip="198.51.100.3").status_code == 429
    assert attempt(app.test_client(), "ann", "correct horse battery", ip="203.0.113.7").status_code == 302


def test_x_forwarded_for_is_ignored_unless_a_proxy_is_trusted(app):
    client = app.test_client()
    for i in range(5):  # a new "client" per attempt, as the attacker claims
        assert attempt(client, "ann", ip="10.0.0.9", **{"X-Forwarded-For": f"192.0.2.{i}"}).status_code == 401
    assert attempt(client, "ann", "correct horse battery", ip="10.0.0.9", **{"X-Forwarded-For": "192.0.2.99"}).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(another_app):
    proxied = another_app(JOURNEYBOT_TRUSTED_PROXIES="1")
    client = proxied.test_client()
    for _ in range(5):
        attempt(client, "ann", ip="10.0.0.1", **{"X-Forwarded-For": "192.0.2.50"})
    assert attempt(client, "ann", "correct horse battery", ip="10.0.0.1", **{"X-Forwarded-For": "192.0.2.50"}).status_code == 429
    # Another client through the same proxy is not locked out; the proxy appends the peer it
    # saw, so only the last entry counts and a forged first entry changes nothing.
    assert attempt(client, "ann", "correct horse battery", ip="10.0.0.1",
                   **{"X-Forwarded-For": "192.0.2.50, 192.0.2.51"}).status_code == 302
    https = proxied.test_client().get("/staff/login", headers={"X-Forwarded-Proto": "https"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert "; Secure" in https.headers["Set-Cookie"]


@pytest.mark.parametrize("bad", ["-1", "yes", "99"])
def test_a_bad_trusted_proxies_setting_stops_start_up_naming_it(another_app, bad):
    with pytest.raises(SystemExit, match="JOURNEYBOT_TRUSTED_PROXIES"):
        another_app(JOURNEYBOT_TRUSTED_PROXIES=bad)


# -- 4. hostile form and query input is a 4xx with a message --------------------------------------------


@pytest.mark.parametrize("target", ["/staff/\r\nSet-Cookie: evil=1", "/staff/%0d%0aX: y", "//evil.example/", "https://evil.example/staff",
                                    "/\\evil.example", "/staff\\..\\x"],
                         ids=["crlf", "encoded-crlf", "protocol-relative", "absolute", "backslash", "backslash-path"])
def test_a_login_link_with_a_bad_next_is_a_400_with_a_message(app, target):
    from urllib.parse import quote, unquote

    query = "next=" + quote(unquote(target), safe="")
    client = app.test_client()
    page = client.get(f"/staff/login?{query}")
    assert page.status_code == 400
    body = page.get_data(as_text=True)
    assert "the return address in this link was refused" in body and 'action="/staff/login"' in body
    posted = client.post(f"/staff/login?{query}", data={"username": "ann", "password": "correct horse battery", "csrf_token": csrf_of(client)})
    assert posted.status_code == 400 and "Location" not in posted.headers
    assert client.get("/staff/").status_code == 302  # not logged in


def test_a_login_link_to_a_console_page_returns_there(app):
    client = app.test_client()
    token = csrf_of(client, "/staff/login?next=/staff/dashboard%3Ffrom%3D2026-03-02")
    response = client.post("/staff/login?next=/staff/dashboard%3Ffrom%3D2026-03-02",
                           data={"username": "ann", "password": "correct horse battery", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/staff/dashboard?from=2026-03-02"


@pytest.mark.parametrize("channel, sender, status, message", [
    ("x" * 5000, "alice", 422, "unknown channel"),
    ("pigeon", "alice", 422, "choose one of rest, socketio, telegram, whatsapp"),
    ("rest", "a" * 5000, 422, "a sender id is 1-128 characters"),
    ("rest", "bob\r\nsmith", 422, "letters, digits and _ . @ + -"),
    ("rest", "", 422, "give the channel and the sender id"),
], ids=["long-channel", "unknown-channel", "long-sender", "crlf-sender", "no-sender"])
def test_takeover_with_a_bad_channel_or_sender_is_a_4xx_with_the_message_on_the_page(app, channel, sender, status, message):
    client, token = logged_in(app)
    response = client.post("/staff/takeover", data={"csrf_token": token, "channel": channel, "sender_id": sender})
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert 'id="takeover-error"' in body and message in body and "http-equiv=\"refresh\"" not in body
    as_json = client.post("/staff/takeover", data={"csrf_token": token, "channel": channel, "sender_id": sender},
                          headers={"Accept": "application/json"})
    assert as_json.status_code == status and message in as_json.get_json()["error"]["message"]
    assert app.extensions["handoffs"].queue(("queued", "assigned")) == []


# -- 5. bidi controls in customer text --------------------------------------------------------------------


RLO = "\u202e"


def no_bidi(text: str) -> bool:
    from journey_state.bidi import BIDI_CONTROLS

    return not any(c in BIDI_CONTROLS for c in text)


def test_bidi_controls_in_customer_text_never_reach_a_console_page(app, rasa):
    from datetime import datetime, timezone

    from journey_state.engine import Signal, Source
    from journey_state.handoff import CUSTOMER_REQUEST
    from journey_state.identifiers import ChannelRef
    from journey_state.store import Touch

    store, handoffs = app.extensions["journey_store"], app.extensions["handoffs"]
    who = ChannelRef("rest", "mallory")
    legacy = ChannelRef("rest", f"mallory{RLO}gnp.exe")  # stored before channels refused such sender ids
    at = datetime.now(timezone.utc)
    store.record_signal(who, Signal(id="m1", source=Source.CONVERSATION, at=at, intent="complaint", emotion="angry", excerpt=f"refund {RLO}005 now"),
                        Touch("rest", "m1", "complaint", 0.9, "angry", f"refund {RLO}005 now"))
    h = handoffs.open(who, CUSTOMER_REQUEST, reason=f"I want {RLO}a human").place.handoff
    handoffs.add_note(h.contact_uid, "ann", f"customer wrote {RLO}this", h.id)
    store.record_signal(legacy, Signal(id="m2", source=Source.CONVERSATION, at=at, intent="greet"), Touch("rest", "m2", "greet", 0.9, None, "hi"))
    rasa.events[who.conversation_id] = [{"event": "user", "text": f"my order {RLO}24001-RUA", "timestamp": 1.0}]
    client, _ = logged_in(app, "root")
    pages = {
        "queue": client.get("/staff/"),
        "queue.json": client.get("/staff/queue.json"),
        "handoff": client.get(f"/staff/handoffs/{h.id}"),
        "transcript.json": client.get(f"/staff/handoffs/{h.id}/transcript.json"),
        "contact": client.get(f"/staff/contacts/{h.contact_uid}"),
        "legacy contact": client.get(f"/staff/contacts/{store.contact_by_identity(legacy)['id']}"),
    }
    for name, response in pages.items():
        body = response.get_data(as_text=True)
        assert response.status_code == 200, name
        assert no_bidi(body) and "\\u202e" not in body.lower(), name
    handoff = pages["handoff"].get_data(as_text=True)
    assert '<bdi class="text">my order 24001-RUA</bdi>' in handoff  # isolated, and the text itself is kept
    assert "<bdi>refund 005 now</bdi>" in handoff
    assert "mallorygnp.exe" in pages["legacy contact"].get_data(as_text=True)
    assert pages["transcript.json"].get_json()["messages"][0]["text"] == "my order 24001-RUA"
    assert pages["queue.json"].get_json()["queued"][0]["reason"] == "I want a human"


def test_bidi_controls_never_reach_the_downloaded_journey_map(app):
    from datetime import datetime, timedelta, timezone

    from journey_state.engine import Signal, Source
    from journey_state.identifiers import ChannelRef
    from journey_state.store import Touch

    store = app.extensions["journey_store"]
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    for i, intent in enumerate(("greet", "complaint")):
        store.record_signal(ChannelRef("rest", "carol"), Signal(id=f"c{i}", source=Source.CONVERSATION, at=at + timedelta(minutes=i), intent=intent),
                            Touch("rest", f"c{i}", intent, 0.9, "angry", f"the bag {RLO}was torn"))
    client, _ = logged_in(app)
    day = at.date()
    export = client.get("/staff/dashboard/journey-map.html", query_string={"from": str(day), "to": str(day + timedelta(days=1))})
    assert export.status_code == 200
    body = export.get_data(as_text=True)
    assert "the bag was torn" in body and no_bidi(body)
