"""JSON errors for the API: every 4xx/5xx under /api is {"error": {...}}."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from journey_state.errors import ContactNotFound, StoreUnavailable

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


# Headers an HTTP error must keep when it becomes JSON: 405 has to say what is allowed.
KEPT_HEADERS = ("Allow", "Retry-After")


def _wants_html() -> bool:
    """Staff pages are read in a browser: their errors stay HTML (JSON endpoints end in .json)."""
    return request.path.startswith("/staff") and not request.path.endswith(".json") and request.accept_mimetypes.best != "application/json"


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body: dict[str, dict[str, Any]] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="journeybot"'
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        messages = {
            413: "request body too large",
            404: "no such endpoint",
            405: "method not allowed on this endpoint",
        }
        if _wants_html():
            return exc.get_response()  # werkzeug's HTML page, with its headers (Allow on a 405)
        response = error_response(exc.code or 500, code, messages.get(exc.code or 500, exc.description or exc.name))
        for name, value in exc.get_headers():
            if name in KEPT_HEADERS:
                response.headers[name] = value
        return response

    @app.errorhandler(ContactNotFound)
    def _no_contact(exc: ContactNotFound) -> Response:
        return error_response(404, "contact_not_found", str(exc))

    @app.errorhandler(StoreUnavailable)
    def _store_down(exc: StoreUnavailable) -> Response:
        logger.error("%s", exc)
        return error_response(503, "store_unavailable", "the journey database is unavailable; try again shortly")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error; see the console log")
