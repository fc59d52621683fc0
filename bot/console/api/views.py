"""Journey HTTP API routes (/api/...)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, current_app, jsonify, request

from bot.console.api.auth import require_token
from bot.console.api.contract import Contract, served_document, template_of
from bot.console.api.request_body import json_body, text_field
from bot.console.errors import ApiError
from journey_state.business_events import EventValidationError, parse_event
from journey_state.engine import Transition
from journey_state.event_ingestion import EventIngestion
from journey_state.identifiers import ChannelRef, InvalidIdentifier, identifier
from journey_state.store import EventConflict, JourneyStore
from journey_state.text import storable_problem

api = Blueprint("api", __name__, url_prefix="/api")
_CONTACT_ID = re.compile(r"^[0-9a-f]{32}$")
OPENAPI_PATH = Path(__file__).with_name("openapi.yml")


@lru_cache(maxsize=1)
def load_openapi() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))


def _store() -> JourneyStore:
    return current_app.extensions["journey_store"]


def contract() -> Contract:
    """This app's served OpenAPI document and the checks it implies (built once per app)."""
    found = current_app.extensions.get("api_contract")
    if found is None:
        settings = current_app.extensions.get("journeybot_settings")
        store = _store()
        models = sorted(p.stem for p in settings.journeys_dir.glob("*.yml")) if settings else [store.model.id]
        document = served_document(load_openapi(), store.model.stage_ids, models, current_app.extensions["event_limits"].max_amount)
        found = current_app.extensions["api_contract"] = Contract(document)
    return found


def _conform(body: Any, code: str = "invalid_request") -> None:
    """422 for anything the document forbids that the route's own checks let through."""
    rule = request.url_rule
    problems = contract().body_problems(template_of(rule.rule), request.method, body) if rule else {}
    if problems:
        raise ApiError(422, code, "; ".join(f"{k}: {v}" for k, v in problems.items()), {"fields": problems})


@api.get("/health")
def health():
    return jsonify({"status": "ok"})


@api.get("/openapi.json")
def openapi():
    """The OpenAPI document for this API (public, like the health check)."""
    return jsonify(contract().document)


@api.get("/contacts/by-channel/<channel>/<path:sender_id>")
@require_token
def contact_by_channel(channel: str, sender_id: str) -> Response:
    _stored_id(channel, "channel")
    _stored_id(sender_id, "sender id")
    try:
        ref = ChannelRef(channel, sender_id)
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    view = _store().contact_by_identity(ref)
    if view is None:
        raise ApiError(404, "contact_not_found", f"no contact with {channel} id {sender_id!r}")
    return jsonify(view)


def _transitions(items: tuple[Transition, ...]) -> list[dict]:
    return [
        {"kind": t.kind, "from": t.from_value, "to": t.to_value, "at": t.at.isoformat(), "evidence": t.evidence.as_dict()}
        for t in items
    ]


def _stored_id(value: str, what: str) -> str:
    """A path segment used as a database key: NUL or a surrogate can match nothing, and PostgreSQL refuses NUL."""
    if storable_problem(value) is not None:
        raise ApiError(404, "contact_not_found", f"no contact with this {what}")
    return value


def _contact_id(value: str) -> str:
    """Contact ids are uuid4 hex (journey_state.store.contacts); anything else names no contact."""
    if not _CONTACT_ID.match(value):
        raise ApiError(404, "contact_not_found", "no contact with this id (contact ids are 32 hex digits)")
    return value


@api.post("/events")
@require_token
def post_event():
    body = json_body("invalid_event")
    try:
        event = parse_event(body, limits=current_app.extensions["event_limits"])
    except EventValidationError as exc:
        raise ApiError(422, "invalid_event", str(exc), {"fields": exc.problems}) from None
    _conform(body, "invalid_event")
    try:
        result = EventIngestion(_store(), current_app.extensions["programs"].loyalty).record(event)
    except EventConflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc)) from None
    outcome, points = result.event.outcome, result.points
    body = {
        "idempotency_key": event.idempotency_key,
        "duplicate": result.duplicate,
        "contact_id": outcome.contact_uid,
        "stage": outcome.state.stage,
        "transitions": _transitions(outcome.transitions),
        "loyalty_points": {"earned": points.points, "balance": points.balance},
    }
    return jsonify(body), 200 if result.duplicate else 201


@api.get("/contacts/<contact_id>")
@require_token
def get_contact(contact_id: str) -> Response:
    _contact_id(contact_id)
    return jsonify(_store().contact(contact_id))


@api.get("/contacts/<contact_id>/timeline")
@require_token
def get_timeline(contact_id: str) -> Response:
    _contact_id(contact_id)
    store = _store()
    contact = store.contact(contact_id)
    return jsonify({"contact_id": contact["id"], "stage": contact["stage"], "items": store.timeline(contact_id)})


@api.get("/contacts/<contact_id>/export")
@require_token
def export_contact(contact_id: str) -> Response:
    _contact_id(contact_id)
    return jsonify(_store().export(contact_id))


@api.delete("/contacts/<contact_id>")
@require_token
def erase_contact(contact_id: str) -> Response:
    _contact_id(contact_id)
    return jsonify(_store().erase(contact_id))


@api.post("/contacts/<contact_id>/stage")
@require_token
def override_stage(contact_id: str) -> Response:
    _contact_id(contact_id)
    body = json_body()
    stage = text_field(body, "stage", limit=64)
    agent = text_field(body, "agent", limit=64)
    reason = text_field(body, "reason", required=False, free_text=True)
    _conform(body)
    try:
        outcome = _store().override_stage(contact_id, stage, agent, reason)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc), {"fields": {"stage": str(exc)}}) from None
    return jsonify({"contact_id": outcome.contact_uid, "stage": outcome.state.stage, "transitions": _transitions(outcome.transitions)})


@api.post("/contacts/<contact_id>/identifiers")
@require_token
def verify_identifier(contact_id: str) -> Response:
    """Record a verified email or phone; merges contacts that proved the same one."""
    _contact_id(contact_id)
    body = json_body()
    kind = text_field(body, "kind", limit=16)
    value = text_field(body, "value", limit=255)
    store = _store()
    try:
        identifier(kind, value)  # its message is the specific one; the contract's comes second
        _conform(body)
        merge = store.verify_identifier_of(contact_id, kind, value)
    except InvalidIdentifier as exc:
        field = "value" if kind in ("email", "phone") else "kind"
        raise ApiError(422, "invalid_request", str(exc), {"fields": {field: str(exc)}}) from None
    survivor = merge.survivor_uid if merge else store.contact(contact_id)["id"]
    return jsonify({"contact_id": survivor, "merged": merge is not None, "merged_contact_id": merge.merged_uid if merge else None, "contact": store.contact(survivor)})
