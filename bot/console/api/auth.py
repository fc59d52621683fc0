"""Bearer-token authentication for the journey API."""
from __future__ import annotations

from functools import wraps

from flask import current_app, request

from bot.console.errors import ApiError
from journey_state.secret_compare import same_secret


def require_token(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        expected = current_app.config["JOURNEYBOT_API_TOKEN"]
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if not header:
            raise ApiError(401, "unauthorized", "missing Authorization header; send 'Authorization: Bearer <token>'")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(401, "unauthorized", "Authorization header must be 'Bearer <token>'")
        if not expected or not same_secret(given.strip(), expected):
            raise ApiError(401, "unauthorized", "invalid API token")
        return view(*args, **kwargs)

    return wrapper
