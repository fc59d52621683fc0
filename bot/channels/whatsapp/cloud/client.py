"""Client for the WhatsApp Cloud API (Meta Graph API): sends messages from one phone number."""
from __future__ import annotations

import logging
from typing import Any

import requests
import urllib3

from journey_state.retrying import call_with_retries

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v21.0"
# Graph error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
OUTSIDE_WINDOW_CODES = {131047}  # "Re-engagement message": more than 24 h since the user wrote
RATE_LIMIT_CODES = {4, 80007, 130429, 131048, 131056}
AUTH_CODES = {0, 190}


class GraphError(Exception):
    """The Graph API refused or failed a request."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None, trace_id: str | None = None):
        super().__init__(message)
        self.status, self.code, self.trace_id = status, code, trace_id


class GraphUnavailable(GraphError):
    """Network failure, timeout or 5xx: the message may or may not have been sent."""


class GraphAuthError(GraphError):
    """The access token is missing, expired or lacks permission."""


class GraphRateLimited(GraphError):
    """Too many messages; retried a few times before this is raised."""


class OutsideWindow(GraphError):
    """The user last wrote more than 24 hours ago: only a template may be sent."""


class GraphRejected(GraphError):
    """The request was understood and refused (bad recipient, invalid message...)."""


class WhatsAppGraphClient:
    """POST {base_url}/{version}/{phone_number_id}/messages with a Bearer token (never logged).

    Sending is not idempotent, so only requests that certainly did not reach Meta
    (connection refused, 429 rate limits) are retried; read timeouts and 5xx are not.
    """

    def __init__(self, phone_number_id: str, access_token: str, *, base_url: str = DEFAULT_BASE_URL,
                 version: str = DEFAULT_VERSION, timeout: float = 10.0, retries: int = 2, backoff: float = 0.5,
                 session: requests.Session | None = None):
        self.phone_number_id = phone_number_id
        self._token = access_token
        self.url = f"{base_url.rstrip('/')}/{version.strip('/')}/{phone_number_id}/messages"
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._session = session or requests.Session()

    def __repr__(self) -> str:  # keeps the token out of logs and tracebacks
        return f"WhatsAppGraphClient(url={self.url!r})"

    def send(self, to: str, message: dict[str, Any]) -> str:
        """Send one message object (text, interactive, template...) to `to` (E.164); returns its wamid."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to.lstrip("+"), **message}
        data = self._post(body)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise GraphError(f"unexpected Graph response without a message id: {str(data)[:200]}") from None

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"}

        def once() -> dict[str, Any]:
            try:
                response = self._session.post(self.url, json=body, headers=headers, timeout=self.timeout)
            except requests.ConnectionError:
                raise  # a connect timeout is one too: it never carried the request
            except requests.Timeout:
                raise GraphUnavailable(f"WhatsApp Graph API timed out after {self.timeout}s") from None
            if response.status_code < 300:
                try:
                    return response.json()
                except ValueError:
                    raise GraphError("Graph API answered with non-JSON", response.status_code) from None
            error = _error_of(response)
            if isinstance(error, GraphRateLimited):
                raise _RateLimited(error, response)
            raise error

        def delay(exc: Exception, failures: int) -> float | None:
            if failures > self.retries:
                return None
            if isinstance(exc, requests.ConnectionError) and _never_sent(exc):
                return self.backoff * failures
            if isinstance(exc, _RateLimited):
                return _retry_after(exc.response, self.backoff * failures)
            return None

        try:
            return call_with_retries(once, delay)
        except requests.ConnectionError as exc:
            raise GraphUnavailable(f"WhatsApp Graph API unreachable at {self.url}: {type(exc).__name__}") from None
        except _RateLimited as limited:
            raise limited.error from None


class _RateLimited(Exception):
    """A rate limit (GraphRateLimited) with the response whose Retry-After says how long to wait."""

    def __init__(self, error: GraphRateLimited, response: requests.Response):
        super().__init__(str(error))
        self.error, self.response = error, response


def _never_sent(exc: requests.ConnectionError) -> bool:
    # Refused or timed-out connects never carried the request; a dropped connection may have.
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _error_of(response: requests.Response) -> GraphError:
    status = response.status_code
    try:
        err = response.json().get("error") or {}
    except (ValueError, AttributeError):
        err = {}
    code = err.get("code") if isinstance(err.get("code"), int) else None
    detail = ((err.get("error_data") or {}).get("details") if isinstance(err.get("error_data"), dict) else None)
    message = f"Graph API {status}: {err.get('message') or response.reason}" + (f" ({detail})" if detail else "")
    if code is not None:
        message += f" [code {code}]"
    trace = err.get("fbtrace_id")
    if code in OUTSIDE_WINDOW_CODES:
        return OutsideWindow(message, status, code, trace)
    if status == 429 or code in RATE_LIMIT_CODES:
        return GraphRateLimited(message, status, code, trace)
    if status in (401, 403) or code in AUTH_CODES:
        return GraphAuthError(message, status, code, trace)
    if status >= 500:
        return GraphUnavailable(message, status, code, trace)
    return GraphRejected(message, status, code, trace)


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("Retry-After", default)), 10.0)
    except ValueError:
        return default
