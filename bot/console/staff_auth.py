"""Staff console sessions: login with hashed passwords, roles, expiry, CSRF tokens, login rate limits.

Sessions are Flask's signed cookies (secret: JOURNEYBOT_CONSOLE_SECRET). A session ends
after `STAFF_SESSION_HOURS` from login or `STAFF_IDLE_MINUTES` without a request; every
request re-checks that the user still exists and is not disabled.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from functools import wraps

from flask import current_app, jsonify, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from journey_state.store.handoffs import HandoffStore, StaffUser

ROLES = ("agent", "admin")
MIN_PASSWORD = 10
SESSION_KEY = "staff"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# A real hash to compare against when the username is unknown, so a wrong username takes
# as long as a wrong password (no user enumeration by timing).
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return generate_password_hash(password)


def authenticate(handoffs: HandoffStore, username: str, password: str) -> StaffUser | None:
    """The user if the password matches and the account is enabled; None otherwise (one answer for all failures)."""
    user = handoffs.find_user(username or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or user.disabled:
        return None
    return user


class LoginLimiter:
    """At most `limit` failed logins per key (IP, username) in `window` seconds, in this process."""

    def __init__(self, limit: int = 5, window: float = 900.0):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, at: float) -> deque:
        q = self._failures[key]
        while q and q[0] <= at - self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        at = time.monotonic()
        with self._lock:
            return any(len(self._trim(k, at)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        at = time.monotonic()
        with self._lock:
            for k in keys:
                self._trim(k, at).append(at)

    def succeeded(self, username_key: str) -> None:
        with self._lock:
            self._failures.pop(username_key, None)


def csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_ok() -> bool:
    expected = session.get(CSRF_KEY)
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def start_session(user: StaffUser) -> None:
    session.clear()
    session.permanent = True
    now = time.time()
    session[SESSION_KEY] = {"username": user.username, "role": user.role, "login_at": now, "seen_at": now}
    session[CSRF_KEY] = secrets.token_urlsafe(32)  # a new token at login (no fixation)


def current_user() -> dict | None:
    """The logged-in staff member, or None (and the session cleared) if it expired or was revoked."""
    data = session.get(SESSION_KEY)
    if not data:
        return None
    now = time.time()
    config = current_app.config
    if now - data.get("login_at", 0) > config["STAFF_SESSION_HOURS"] * 3600 or now - data.get("seen_at", 0) > config["STAFF_IDLE_MINUTES"] * 60:
        session.clear()
        return None
    user = current_app.extensions["handoffs"].find_user(data["username"])
    if user is None or user.disabled:
        session.clear()
        return None
    if now - data["seen_at"] > 30:  # refresh the idle clock without rewriting the cookie on every poll
        data["seen_at"] = now
        session[SESSION_KEY] = data
    return {"username": user.username, "role": user.role}


def wants_json() -> bool:
    return request.path.endswith(".json") or request.accept_mimetypes.best == "application/json"


def login_required(role: str | None = None):
    """Views need a live session (HTML: redirect to login; JSON: 401), and `role` if given (403)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                if wants_json():
                    return jsonify({"error": {"code": "unauthorized", "message": "log in to the staff console"}}), 401
                return redirect(url_for("staff.login", next=request.full_path if request.method == "GET" else None))
            if role is not None and user["role"] != role:
                if wants_json():
                    return jsonify({"error": {"code": "forbidden", "message": f"needs the {role} role"}}), 403
                return current_app.response_class(f"Forbidden: this page needs the {role} role.", status=403, mimetype="text/plain")
            return view(user, *args, **kwargs)

        return wrapper

    return decorate
