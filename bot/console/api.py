"""Journey HTTP API routes (/api/...)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from bot.console.auth import require_token
from bot.console.errors import ApiError
from journey_state.business_events import EventValidationError, parse_event
from journey_state.store import ChannelRef, JourneyStore

api = Blueprint("api", __name__, url_prefix="/api")


def _store() -> JourneyStore:
    return current_app.extensions["journey_store"]


def _json_body():
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "malformed_json", "request body is not valid JSON")
    return body


@api.get("/health")
def health():
    return jsonify({"status": "ok"})


@api.get("/contacts/by-channel/<channel>/<path:sender_id>")
@require_token
def contact_by_channel(channel: str, sender_id: str):
    try:
        ref = ChannelRef(channel, sender_id)
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    view = _store().contact_by_identity(ref)
    if view is None:
        raise ApiError(404, "contact_not_found", f"no contact with {channel} id {sender_id!r}")
    return jsonify(view)


@api.post("/events")
@require_token
def post_event():
    try:
        event = parse_event(_json_body())
    except EventValidationError as exc:
        raise ApiError(422, "invalid_event", str(exc), {"fields": exc.problems}) from None
    outcome = _store().record_signal(event.contact, event.to_signal())
    status = 200 if outcome.duplicate else 201
    return (
        jsonify(
            {
                "idempotency_key": event.idempotency_key,
                "duplicate": outcome.duplicate,
                "contact_id": outcome.contact_uid,
                "stage": outcome.state.stage,
                "transitions": [
                    {"kind": t.kind, "from": t.from_value, "to": t.to_value, "at": t.at.isoformat(), "evidence": t.evidence.as_dict()}
                    for t in outcome.transitions
                ],
            }
        ),
        status,
    )
