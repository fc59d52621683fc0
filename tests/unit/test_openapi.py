"""The OpenAPI document is served, covers every API route, and every response matches it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, RefResolver

from bot.console import create_app
from bot.console.api.views import load_openapi
from bot.settings import load_settings
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "openapi-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPEC = load_openapi()


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = RefResolver.from_schema(SPEC).resolve(node["$ref"])[1]
    return node


def _pattern(template: str) -> str:
    """A regex for a path template; {sender_id} may contain slashes, other parameters may not."""
    parts = re.split(r"(\{[^}]+\})", template)
    return "^" + "".join((".+" if p == "{sender_id}" else "[^/]+") if p.startswith("{") else re.escape(p) for p in parts) + "$"


def _operation(path: str, method: str) -> tuple[str, dict]:
    for template, item in SPEC["paths"].items():
        if re.match(_pattern(template), path) and method in item:
            return template, item[method]
    raise AssertionError(f"{method.upper()} {path} is not in the OpenAPI document")


class CheckedClient:
    """A test client that validates every response against the OpenAPI document."""

    def __init__(self, client):
        self.client = client
        self.seen: set[tuple[str, str, int]] = set()

    def request(self, method: str, path: str, **kwargs):
        response = getattr(self.client, method)(path, **kwargs)
        template, operation = _operation(path.split("?")[0], method)
        status = str(response.status_code)
        assert status in operation["responses"], f"{method.upper()} {template} answered undocumented {status}: {response.get_json()}"
        spec = _resolve(operation["responses"][status])
        schema = spec["content"]["application/json"]["schema"]
        validator = Draft202012Validator(schema, resolver=RefResolver.from_schema(SPEC))
        errors = sorted(validator.iter_errors(response.get_json()), key=str)
        assert not errors, f"{method.upper()} {template} {status}: {errors[0].message} at {list(errors[0].absolute_path)}"
        self.seen.add((template, method, response.status_code))
        return response


@pytest.fixture
def api(migrated_url):
    store = JourneyStore(make_engine(migrated_url), load_named_model(PROJECT / "data/journeys", "b2c"))
    return CheckedClient(create_app(load_settings({"JOURNEYBOT_API_TOKEN": TOKEN}), store).test_client())


def test_openapi_document_is_served_and_lists_every_route(api):
    served = api.client.get("/api/openapi.json")
    assert served.status_code == 200 and served.get_json()["openapi"].startswith("3.1")
    app_routes = {
        (re.sub(r"<(?:path:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in api.client.application.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in SPEC["paths"].items() for method in item if method != "parameters"}
    assert app_routes == documented


def test_every_response_matches_the_document(api):
    event = {"idempotency_key": "e1", "type": "order_paid", "contact": {"channel": "rest", "external_id": "u/1"}, "payload": {"order_id": "AUR-1", "amount": 29}}
    uid = api.request("post", "/api/events", headers=AUTH, json=event).get_json()["contact_id"]
    api.request("post", "/api/events", headers=AUTH, json=event)
    api.request("post", "/api/events", headers=AUTH, json={**event, "type": "order_refunded"})
    api.request("post", "/api/events", headers=AUTH, json={"type": "x"})
    api.request("post", "/api/events", headers=AUTH, data="{", content_type="application/json")
    api.request("post", "/api/events", headers=AUTH, data="a=b", content_type="application/x-www-form-urlencoded")
    api.request("post", "/api/events", headers=AUTH, json={"payload": "x" * 70_000})
    api.request("post", "/api/events", json=event)
    api.request("get", "/api/health")
    api.request("get", "/api/contacts/by-channel/rest/u/1", headers=AUTH)
    api.request("get", "/api/contacts/by-channel/rest/nobody", headers=AUTH)
    api.request("get", f"/api/contacts/{uid}", headers=AUTH)
    api.request("get", "/api/contacts/unknown", headers=AUTH)
    api.request("get", f"/api/contacts/{uid}/timeline", headers=AUTH)
    api.request("post", f"/api/contacts/{uid}/stage", headers=AUTH, json={"stage": "retention", "agent": "ana"})
    api.request("post", f"/api/contacts/{uid}/stage", headers=AUTH, json={"stage": "nope", "agent": "ana"})
    api.request("post", f"/api/contacts/{uid}/identifiers", headers=AUTH, json={"kind": "email", "value": "u1@example.com"})
    api.request("post", f"/api/contacts/{uid}/identifiers", headers=AUTH, json={"kind": "email", "value": "bad"})
    api.request("get", f"/api/contacts/{uid}/export", headers=AUTH)
    api.request("delete", f"/api/contacts/{uid}", headers=AUTH)
    api.request("delete", f"/api/contacts/{uid}", headers=AUTH)
    statuses = {status for _, _, status in api.seen}
    assert {200, 201, 400, 401, 404, 409, 413, 415, 422} <= statuses
