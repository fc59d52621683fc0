"""Client for Rasa's HTTP API (`rasa run --enable-api --auth-token`): trackers, events, intents.

Used by the staff console to read a conversation and to speak in it as an agent.
Reads are retried (safe); writes are not, since Rasa may have applied them already.
"""
from __future__ import annotations

import re
import time
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from journey_state.hand_back import BotRuntimeError
from journey_state.retrying import call_with_retries

DEFAULT_TIMEOUT = (3.05, 15.0)  # (connect, read) seconds
HAND_BACK_ACTION = "action_hand_back"  # actions/hand_back.py; runs the follow-up and opens csat_form
READ_RETRIES = 2


class RasaError(BotRuntimeError):
    """Rasa could not do what was asked."""


class _Busy(Exception):
    """A gateway in front of Rasa answered 502/503/504: worth another try while retries last."""

    def __init__(self, response: requests.Response):
        super().__init__(response.status_code)
        self.response = response


class RasaUnavailable(RasaError):
    """Rasa did not answer (down, refusing connections or too slow).

    `maybe_applied`: a write reached Rasa but no answer came back in time, so Rasa may
    have applied it (sending it again could repeat it); False when it was never sent.
    """

    def __init__(self, message: str, maybe_applied: bool = False):
        super().__init__(message)
        self.maybe_applied = maybe_applied


# Rasa 3.6 does not percent-decode the conversation id in its API paths: "%2B4915..." would be
# another conversation than "+4915...". So ids are sent as they are, and only ids that need no
# encoding are accepted (journeybot's channel:sender ids always qualify).
_PATH_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,160}$")


def conversation_path(conversation_id: str) -> str:
    if not _PATH_SAFE_ID.match(conversation_id):
        # The id is not echoed: it is the part that is wrong, and it may carry markup or bidi controls.
        raise RasaRequestError("this conversation id has characters that cannot be addressed in Rasa's API", 400, "")
    return f"/conversations/{conversation_id}"


class RasaAuthError(RasaError):
    """Rasa refused the token (401/403)."""


class RasaRequestError(RasaError):
    """Rasa answered with an error status; `status` and `body` say which."""

    def __init__(self, message: str, status: int, body: str):
        super().__init__(message)
        self.status, self.body = status, body


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached Rasa (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


class RasaClient:
    def __init__(
        self, base_url: str, token: str | None, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT, session: requests.Session | None = None
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()

    # -- conversations ---------------------------------------------------------------------

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        """The conversation's tracker with all its events."""
        return self._request("GET", f"{conversation_path(conversation_id)}/tracker", params={"include_events": "ALL"}, retries=READ_RETRIES)

    def append_events(self, conversation_id: str, events: list[dict[str, Any]], deliver: bool = False) -> dict[str, Any]:
        """Append events; with `deliver`, bot events are also sent to the customer's latest channel."""
        params = {"output_channel": "latest"}
        if deliver:
            params["execute_side_effects"] = "true"
        return self._request("POST", f"{conversation_path(conversation_id)}/tracker/events", params=params, json=events)

    def say_as_agent(self, conversation_id: str, text: str, agent: str | None = None) -> dict[str, Any]:
        """Send `text` to the customer on their latest channel and log it in the tracker."""
        event: dict[str, Any] = {"event": "bot", "text": text, "timestamp": time.time()}
        if agent:
            event["metadata"] = {"agent": agent}
        return self.append_events(conversation_id, [event], deliver=True)

    def pause(self, conversation_id: str) -> dict[str, Any]:
        return self.append_events(conversation_id, [{"event": "pause", "timestamp": time.time()}])

    def resume(self, conversation_id: str) -> dict[str, Any]:
        """Resume, and listen: a paused turn ends without Rasa's action_listen, and a customer
        message after a bare resume is then predicted as the end of that turn (no answer)."""
        now = time.time()
        return self.append_events(conversation_id, [{"event": "resume", "timestamp": now},
                                                    {"event": "action", "name": "action_listen", "timestamp": now}])

    def execute(self, conversation_id: str, action: str, then_listen: bool = True) -> dict[str, Any]:
        """Run one action (e.g. a form, which then asks its first question) on the latest channel.

        Rasa's /execute runs only that action; with `then_listen`, an action_listen follows,
        as after any bot turn. Without it the RulePolicy sees the form as the latest action
        when the customer answers, predicts action_listen, and the form never gets the answer.
        """
        result = self._request(
            "POST", f"{conversation_path(conversation_id)}/execute", params={"output_channel": "latest"}, json={"name": action}
        )
        if then_listen:
            self.append_events(conversation_id, [{"event": "action", "name": "action_listen", "timestamp": time.time()}])
        return result

    def speak_after_hand_back(self, conversation_id: str) -> dict[str, Any]:
        """The bot's first turn after a person hands back: follow-up, CSAT question, form open.

        One /execute of action_hand_back, which Rasa runs under the conversation's lock and
        which ends with its own action_listen, so no customer message can land between its
        parts; it says nothing if the customer was queued for a person again meanwhile.
        """
        return self.execute(conversation_id, HAND_BACK_ACTION, then_listen=False)

    # -- plumbing ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, params: dict | None = None, json: Any = None, retries: int = 0) -> Any:
        params = dict(params or {})
        if self.token:
            params["token"] = self.token
        url = self.base_url + path

        def once() -> requests.Response:
            response = self.session.request(method, url, params=params, json=json, timeout=self.timeout)
            if response.status_code in (502, 503, 504):
                raise _Busy(response)
            return response

        def delay(exc: Exception, failures: int) -> float | None:
            transient = isinstance(exc, (requests.RequestException, _Busy))
            return 0.2 * failures if transient and failures <= retries else None

        try:
            response = call_with_retries(once, delay)
        except _Busy as busy:
            response = busy.response
        except requests.RequestException as exc:
            maybe_applied = method != "GET" and not _never_sent(exc)
            raise RasaUnavailable(f"Rasa at {self.base_url} did not answer: {type(exc).__name__}", maybe_applied) from None
        if response.status_code in (401, 403):
            raise RasaAuthError(f"Rasa refused the API token ({response.status_code}); check JOURNEYBOT_RASA_TOKEN")
        if response.status_code >= 400:
            raise RasaRequestError(f"Rasa answered {response.status_code} to {method} {path}", response.status_code, response.text[:500])
        try:
            return response.json()
        except ValueError:
            raise RasaRequestError(f"Rasa answered {method} {path} with non-JSON", response.status_code, response.text[:500]) from None
