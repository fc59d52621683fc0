"""JSON request bodies of the journey API: parsed safely, and their string fields checked or cleaned."""
from __future__ import annotations

import json
from typing import Any

from flask import request

from bot.console.errors import ApiError
from journey_state.text import (
    MAX_JSON_DEPTH,
    TooDeep,
    clean_json,
    clean_text,
    storable_problem,
)


def json_body(invalid_code: str = "invalid_request") -> dict[str, Any]:
    """The request's JSON object; 415, 400 or 422 with a message for anything else.

    Parsed here rather than by request.get_json: that lets RecursionError (5,000 nested
    arrays) escape as a 500, and answers `null` like a syntax error.
    """
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    raw = request.get_data(cache=True)  # MAX_CONTENT_LENGTH makes an over-long body a 413 here
    try:
        body = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "malformed_json", f"request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError:  # also UnicodeDecodeError: the body is not UTF-8
        raise ApiError(400, "malformed_json", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        kind = "null" if body is None else type(body).__name__
        raise ApiError(422, invalid_code, f"(body): must be a JSON object, got {kind}", {"fields": {"(body)": "must be a JSON object"}})
    try:
        clean_json(body)  # only the depth check: fields are checked (identifiers) or cleaned (free text) one by one
    except TooDeep as exc:
        raise ApiError(422, invalid_code, f"(body): {exc}", {"fields": {"(body)": str(exc)}}) from None
    return body


def _invalid(name: str, message: str) -> ApiError:
    return ApiError(422, "invalid_request", f"{name}: {message}", {"fields": {name: message}})


def text_field(body: dict[str, Any], name: str, required: bool = True, limit: int = 500, free_text: bool = False) -> str:
    """A string field. Names and identifiers with unstorable characters are rejected; free text is cleaned."""
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _invalid(name, "must be a non-empty string")
    if len(value) > limit:
        raise _invalid(name, f"must be at most {limit} characters")
    if free_text:
        return clean_text(value).strip()
    if (problem := storable_problem(value)) is not None:
        raise _invalid(name, problem)
    return value.strip()
