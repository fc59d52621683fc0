"""Fuzz every route of the console process: each `/api` route with and without the API token,
each `/staff` route logged in (admin, with the forms' CSRF token) and logged out, and the
storefront's pages. Routes come from the app's url_map at collection time (routes.py).

After every request: no 5xx, every process alive and healthy, and a refused (4xx) request
changed no stored row.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from devtools.stack import TEST_TOKENS
from tests.fuzz import strategies as hs
from tests.fuzz.harness import ADMIN, FuzzStack, StaffClient, fuzz
from tests.fuzz.routes import Route, console_routes

# The strategies hold 70 kB strings; Hypothesis warns each time it prints one.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

ROUTES = console_routes()
API_ROUTES = [r for r in ROUTES if r.rule.startswith("/api")]
PUBLIC_API = {"/api/health", "/api/openapi.json"}
STAFF_ROUTES = [r for r in ROUTES if r.rule.startswith("/staff")]
OTHER_ROUTES = [r for r in ROUTES if not r.rule.startswith(("/api", "/staff"))]
API_AUTH = {"Authorization": f"Bearer {TEST_TOKENS['JOURNEYBOT_API_TOKEN']}"}
QUERY_KEYS = ["from", "to", "channel", "model", "persona", "next", "stage", "limit", "page"]
FORM_KEYS = ["username", "password", "channel", "sender_id", "text", "stage", "reason", "disabled", "agent", "next", "label", "ids", "page"]
BODY_KEYS = ["idempotency_key", "type", "contact", "occurred_at", "payload", "stage", "agent", "reason", "kind", "value"]
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def test_routes_were_found():
    # If the url_map ever comes back empty, the parametrized tests below would silently vanish.
    assert API_ROUTES and STAFF_ROUTES, ROUTES


# -- building requests ---------------------------------------------------------------------------

dates = st.one_of(st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01", "9999-12-31", "2026-02-30", "2026-01-01T25:00",
                                   "-1", "1e9", "now", "2026-01-01T00:00:00+99:00"]), hs.hostile_text)


def path_value(converter: str, known: list[Any]):
    if converter in ("int", "integer"):
        return st.one_of(st.sampled_from(known or [1]), st.integers(0, 2**70), st.sampled_from([-1, "01", "1.5", "x"]))
    return st.one_of(st.sampled_from(known or ["c1"]), hs.hostile_text.filter(lambda t: t not in ("", ".", "..")))


def fill(route: Route, values: dict[str, Any]) -> str:
    return _PARAM.sub(lambda m: hs.path_segment(str(values[m.group(1)])), route.rule)


def query(draw) -> str:
    params = draw(st.dictionaries(st.one_of(st.sampled_from(QUERY_KEYS), hs.hostile_text),
                                  st.one_of(dates, hs.hostile_text), max_size=4))
    return "&".join(f"{hs.path_segment(k)}={hs.path_segment(v)}" for k, v in params.items())


json_body = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(BODY_KEYS), hs.hostile_text), st.one_of(hs.json_value, dates), max_size=6),
    st.fixed_dictionaries({"idempotency_key": hs.hostile_text, "type": st.sampled_from(["order_placed", "order_paid", "review_posted"]),
                           "contact": st.one_of(st.fixed_dictionaries({"channel": hs.hostile_text, "external_id": hs.hostile_text}),
                                                st.fixed_dictionaries({"email": hs.hostile_text}), hs.json_value),
                           "payload": st.one_of(st.fixed_dictionaries({"order_id": hs.hostile_text, "amount": hs.hostile_number}), hs.json_value)},
                          optional={"occurred_at": dates}),
    hs.not_an_object,
)
RAW = hs.raw_bodies({"stage": "purchase", "agent": "ann"}, "payload")


@st.composite
def api_request(draw, route: Route, known: dict[str, list[Any]]):
    path = fill(route, {name: draw(path_value(conv, known.get(name, []))) for name, conv in route.params})
    q = query(draw)
    url = path + (f"?{q}" if q else "")
    body: bytes | None = None
    headers: dict[str, Any] = {}
    if route.method in ("POST", "PUT", "PATCH", "DELETE"):
        kind = draw(st.sampled_from(["json", "json", "raw", "form"]))
        if kind == "json":
            body, headers["Content-Type"] = hs.dumps(draw(json_body)), "application/json"
        elif kind == "raw":
            body = RAW[draw(st.sampled_from(sorted(RAW)))]
            headers["Content-Type"] = draw(st.sampled_from(["application/json", *hs.WRONG_CONTENT_TYPES])).replace("\r\n", " ")
        else:
            body = hs.form_bytes(draw(st.dictionaries(st.sampled_from(BODY_KEYS), hs.hostile_text, max_size=3)))
            headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers.update({k: v for k, v in draw(hs.hostile_headers).items() if k not in ("Authorization", "Host", "Cookie", "Content-Type")})
    return url, body, headers


def send(fuzz_stack: FuzzStack, method: str, url: str, body, headers, session: requests.Session | None = None) -> requests.Response:
    http = session or requests
    return http.request(method, fuzz_stack.console + url, data=body, headers=headers, allow_redirects=False, timeout=60)


@pytest.fixture(scope="module")
def known(fuzz_stack: FuzzStack) -> dict[str, list[Any]]:
    """Ids that exist, so the fuzz reaches past "not found": a contact with a conversation and a handoff."""
    fuzz_stack.stack.say("fuzz-known", "hi")
    contact = fuzz_stack.stack.api("GET", "/api/contacts/by-channel/rest/fuzz-known").json()
    staff = StaffClient(fuzz_stack.console)
    taken = staff.http.post(f"{fuzz_stack.console}/staff/takeover", allow_redirects=False, timeout=60,
                            data={"csrf_token": staff.csrf, "channel": "rest", "sender_id": "fuzz-known"})
    assert taken.status_code in (302, 303), taken.text
    handoff_id = int(re.search(r"/handoffs/(\d+)", taken.headers["Location"]).group(1))
    uid = contact.get("contact_id") or contact.get("id")
    assert uid, contact
    return {"contact_id": [uid], "contact_uid": [uid], "id": [uid], "channel": ["rest"], "sender_id": ["fuzz-known"],
            "handoff_id": [handoff_id], "username": [ADMIN, "nobody"], "filename": ["x.js"]}


# -- /api -------------------------------------------------------------------------------------------

# Bodies each POST route accepts in shape, with hostile values, so the fuzz gets past the
# shape checks into the stores (keyed by endpoint; a route not listed gets generic bodies).
from journey_state.business_events import EVENT_TYPES  # noqa: E402 - beside the bodies it shapes

_channel = st.sampled_from(["rest", "telegram", "whatsapp", "socketio"])
ENVELOPES = {
    "api.post_event": st.fixed_dictionaries(
        {"idempotency_key": st.one_of(hs.hostile_text, st.builds(lambda: f"fuzz-{uuid.uuid4().hex}")),
         "type": st.sampled_from(sorted(EVENT_TYPES)),
         "contact": st.one_of(st.fixed_dictionaries({"channel": _channel, "external_id": st.one_of(st.just("fuzz-known"), hs.hostile_text)}),
                              st.fixed_dictionaries({"email": hs.hostile_text}), st.fixed_dictionaries({"phone": hs.hostile_text}))},
        optional={"occurred_at": dates, "payload": st.fixed_dictionaries({}, optional={
            "order_id": hs.hostile_text, "amount": hs.hostile_number, "currency": hs.hostile_text, "plan": hs.hostile_text,
            "rating": hs.hostile_number, "referral_code": hs.hostile_text, "reason": hs.hostile_text})}),
    "api.override_stage": st.fixed_dictionaries(
        {"stage": st.one_of(st.sampled_from(["awareness", "consideration", "purchase", "retention", "advocacy"]), hs.hostile_text),
         "agent": hs.hostile_text}, optional={"reason": hs.hostile_text}),
    "api.verify_identifier": st.fixed_dictionaries(
        {"kind": st.one_of(st.sampled_from(["email", "phone"]), hs.hostile_text),
         "value": st.one_of(hs.hostile_text, hs.hostile_text.map(lambda t: f"a{t}@example.com"), hs.hostile_text.map(lambda t: f"+49151{t}"))}),
}


@pytest.mark.parametrize("route", [r for r in API_ROUTES if r.endpoint in ENVELOPES], ids=str)
@fuzz(30)
@given(data=st.data())
def test_api_post_route_with_well_shaped_hostile_bodies(fuzz_stack: FuzzStack, known, route: Route, data):
    path = fill(route, {name: data.draw(st.sampled_from(known.get(name) or ["c1"])) for name, _ in route.params})
    body = hs.dumps(data.draw(ENVELOPES[route.endpoint]))
    fuzz_stack.probe(f"{route.method} {path} body {body!r:.400}", lambda: send(
        fuzz_stack, route.method, path, body, {"Content-Type": "application/json", **API_AUTH}))


# Erasure (DELETE) runs last, in its own test: erasing the known contact would leave the other
# routes only "not found" to answer.
ERASING = [r for r in API_ROUTES if r.method == "DELETE"]


@pytest.mark.parametrize("route", [r for r in API_ROUTES if r not in ERASING], ids=str)
@fuzz(12)
@given(data=st.data())
def test_api_route_with_the_token(fuzz_stack: FuzzStack, known, route: Route, data):
    url, body, headers = data.draw(api_request(route, known))
    fuzz_stack.probe(f"{route.method} {url[:300]!r} body {body!r:.300}",
                     lambda: send(fuzz_stack, route.method, url, body, {**headers, **API_AUTH}))


@pytest.mark.parametrize("route", [r for r in API_ROUTES if r.rule not in PUBLIC_API], ids=str)
@fuzz(6)
@given(data=st.data(), auth=st.one_of(st.none(), st.sampled_from(["Bearer", "Bearer wrong", "Basic YTpi", "bearer  "]),
                                      hs.hostile_text.map(lambda t: b"Bearer " + hs.header_value(t))))
def test_api_route_without_the_token(fuzz_stack: FuzzStack, known, route: Route, data, auth):
    url, body, headers = data.draw(api_request(route, known))
    if auth is not None:
        headers["Authorization"] = auth
    response = fuzz_stack.probe(f"{route.method} {url[:300]!r} without the token",
                                lambda: send(fuzz_stack, route.method, url, body, headers))
    # Never an answer with data. A 400 for a request the server cannot parse, or Werkzeug's 308
    # to the canonical URL of a path with "//" in it, is no answer either.
    assert response.status_code in (308, *range(400, 500)), response.text[:300]


# -- /staff -----------------------------------------------------------------------------------------

@st.composite
def staff_request(draw, route: Route, known: dict[str, list[Any]]):
    path = fill(route, {name: draw(path_value(conv, known.get(name, []))) for name, conv in route.params})
    q = query(draw)
    url = path + (f"?{q}" if q else "")
    form = draw(st.dictionaries(st.one_of(st.sampled_from(FORM_KEYS), hs.hostile_text),
                                st.one_of(hs.hostile_text, st.sampled_from(["rest", "fuzz-known", "purchase", "1"])), max_size=4))
    headers = {k: v for k, v in draw(hs.hostile_headers).items() if k not in ("Host", "Cookie", "Content-Type", "X-CSRF-Token")}
    headers.update(draw(st.sampled_from([{}, {"Accept": "application/json"}])))
    return url, form, headers


@pytest.fixture(scope="module")
def staff(fuzz_stack: FuzzStack, known) -> StaffClient:
    return StaffClient(fuzz_stack.console)


# Logging out ends the fuzzing admin's session; it has its own test below.
LOGGED_IN = [r for r in STAFF_ROUTES if r.endpoint != "staff.logout"]


@pytest.mark.parametrize("route", LOGGED_IN, ids=str)
@fuzz(10)
@given(data=st.data(), with_csrf=st.booleans())
def test_staff_route_logged_in(fuzz_stack: FuzzStack, known, staff: StaffClient, route: Route, data, with_csrf):
    url, form, headers = data.draw(staff_request(route, known))
    body = None
    if route.method == "POST":
        if with_csrf:
            form["csrf_token"] = staff.csrf
        body = hs.form_bytes(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = fuzz_stack.probe(f"{route.method} {url[:300]!r} form {form!r:.300} (logged in)",
                                lambda: send(fuzz_stack, route.method, url, body, headers, staff.http))
    if route.method == "POST" and not with_csrf and route.endpoint != "staff.login":
        assert response.status_code in (400, 404, 405, 413), response.text[:300]
    assert staff.logged_in(), f"{route}: the admin's session ended"


@pytest.mark.parametrize("route", STAFF_ROUTES, ids=str)
@fuzz(6)
@given(data=st.data())
def test_staff_route_logged_out(fuzz_stack: FuzzStack, known, route: Route, data):
    url, form, headers = data.draw(staff_request(route, known))
    body = hs.form_bytes(form) if route.method == "POST" else None
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = fuzz_stack.probe(f"{route.method} {url[:300]!r} form {form!r:.300} (logged out)",
                                lambda: send(fuzz_stack, route.method, url, body, headers))
    if route.endpoint not in ("staff.login", "staff.static", "staff_dashboard.chart_bundle"):
        assert response.status_code in (302, 303, 400, 401, 404, 405, 413), f"{route}: {response.status_code}"


@fuzz(15)
@given(username=hs.hostile_text, password=hs.hostile_text, next_=st.one_of(st.none(), hs.hostile_text,
       st.sampled_from(["//evil.example", "https://evil.example/", "/staff/\r\nLocation: x", "javascript:alert(1)"])))
def test_staff_login_form(fuzz_stack: FuzzStack, username, password, next_):
    http = requests.Session()
    page = http.get(f"{fuzz_stack.console}/staff/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    url = "/staff/login" + (f"?next={hs.path_segment(next_)}" if next_ is not None else "")
    body = hs.form_bytes({"username": username, "password": password, "csrf_token": token})
    response = fuzz_stack.probe(f"login {username!r:.80} next {next_!r:.80}", lambda: send(
        fuzz_stack, "POST", url, body, {"Content-Type": "application/x-www-form-urlencoded"}, http))
    assert response.status_code in (400, 401, 413, 429), response.status_code


@fuzz(5)
@given(form=st.dictionaries(st.sampled_from(FORM_KEYS), hs.hostile_text, max_size=3))
def test_staff_logout_with_hostile_forms(fuzz_stack: FuzzStack, form):
    agent = StaffClient(fuzz_stack.console)
    body = hs.form_bytes({**form, "csrf_token": agent.csrf})
    fuzz_stack.probe("logout", lambda: send(fuzz_stack, "POST", "/staff/logout", body,
                                            {"Content-Type": "application/x-www-form-urlencoded"}, agent.http))
    assert not agent.logged_in()


# -- storefront and static files -------------------------------------------------------------------------

@pytest.mark.parametrize("route", OTHER_ROUTES, ids=str)
@fuzz(6)
@given(data=st.data())
def test_other_console_route(fuzz_stack: FuzzStack, known, route: Route, data):
    url, body, headers = data.draw(api_request(route, known))
    fuzz_stack.probe(f"{route.method} {url[:300]!r}", lambda: send(fuzz_stack, route.method, url, body, headers))


@pytest.mark.parametrize("headers", [hs.HUGE_HEADER, hs.MANY_HEADERS], ids=["huge-header", "300-headers"])
@pytest.mark.parametrize("path", ["/api/health", "/api/events", "/staff/login", "/"])
def test_console_oversized_headers(fuzz_stack: FuzzStack, path, headers):
    fuzz_stack.probe(f"{path} with oversized headers", lambda: send(fuzz_stack, "GET", path, None, {**API_AUTH, **headers}))


@pytest.mark.parametrize("route", ERASING, ids=str)
@fuzz(12)
@given(data=st.data())
def test_api_erasing_route_with_the_token(fuzz_stack: FuzzStack, known, route: Route, data):
    url, body, headers = data.draw(api_request(route, known))
    fuzz_stack.probe(f"{route.method} {url[:300]!r} body {body!r:.300}",
                     lambda: send(fuzz_stack, route.method, url, body, {**headers, **API_AUTH}))


def test_no_journeybot_code_raised(fuzz_stack: FuzzStack):
    # Last in the module: whatever the requests above did, none made our own code raise.
    assert fuzz_stack.tracebacks_in_our_code() == []
