"""Staff console sessions: login with hashed passwords, roles, server-side sessions, CSRF tokens.

Sessions live in the journey database (journey_state/store/staff_sessions.py); the cookie
holds only a random token. A session ends on logout, 12 hours after login, 60 minutes after
the last request (journey_state.staff_rules.SessionPolicy), when its user is disabled or
deleted, or when the user's password changes; every request re-reads the user, so a role
change applies at once.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import wraps
from typing import Any, TypedDict, cast

from flask import Flask, Request, Response, current_app, jsonify, redirect, request, session, url_for
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.security import check_password_hash, generate_password_hash

from journey_state.errors import StoreUnavailable
from journey_state.secret_compare import same_secret
from journey_state.staff_rules import InvalidStaffInput, safe_next
from journey_state.store.contacts import now
from journey_state.store.handoffs import HandoffStore
from journey_state.store.staff_sessions import StaffSessionStore, is_token, new_token
from journey_state.store.staff_users import StaffUser

logger = logging.getLogger(__name__)

ROLES = ("agent", "admin")
MIN_PASSWORD = 10
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSIONS = "staff_sessions"  # app.extensions key of the StaffSessionStore


class SessionUser(TypedDict):
    """The logged-in staff member as a session knows them (and as views and templates get them)."""

    username: str
    role: str


@functools.cache
def _dummy_hash() -> str:
    """A real hash to compare against when the username is unknown, so a wrong username takes
    as long as a wrong password (no user enumeration by timing); made on first use, since
    hashing at import slowed every process that imports the console (`create-user` too)."""
    return generate_password_hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return generate_password_hash(password)


def authenticate(handoffs: HandoffStore, username: str, password: str) -> StaffUser | None:
    """The user if the password matches and the account is enabled; None otherwise (one answer for all failures)."""
    user = handoffs.find_user(username or "")
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or user.disabled:
        return None
    return user


# -- sessions -----------------------------------------------------------------------------------


class StaffSession(SessionMixin):
    """Flask's `session` for the console, loaded from the store on first use.

    Loading lazily keeps requests that never touch the session (static files, the API,
    the storefront) off the database, and lets a database outage surface inside the view,
    where the console answers 503, instead of while Flask sets up the request.

    Before login nothing is stored: the cookie's token is a nonce and the login form's CSRF
    token is an HMAC of it, so anonymous visitors cannot fill the sessions table.
    """

    def __init__(self, store: StaffSessionStore, secret: str, cookie: str | None):
        self._store, self._secret, self._cookie = store, secret, cookie
        self._data: dict[str, Any] | None = None
        self.user: SessionUser | None = None
        self.token: str | None = None  # the cookie value to keep (anonymous nonce or session token)
        self.seen_at: datetime | None = None
        self.cookie_action: str | None = None  # "set" | "delete" | None
        self.modified = False
        self.accessed = False

    # MutableMapping over the loaded data
    def _loaded(self) -> dict[str, Any]:
        self.accessed = True
        if self._data is None:
            self._load()
        assert self._data is not None  # _load always fills it
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._loaded()[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._loaded()[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def _load(self) -> None:
        live = self._store.load(self._cookie) if self._cookie else None
        if live is not None:
            self.user = {"username": live.username, "role": live.role}
            self.token, self.seen_at, self._data = live.token, live.seen_at, dict(live.data)
            return
        self._anonymous(self._cookie if is_token(self._cookie) else None)

    def _anonymous(self, nonce: str | None) -> None:
        self.user, self.seen_at = None, None
        if nonce is None:
            nonce, self.cookie_action = new_token(), "set"
        self.token = nonce
        self._data = {CSRF_KEY: self._login_csrf(nonce)}

    def _login_csrf(self, nonce: str) -> str:
        mac = hmac.new(self._secret.encode(), b"staff-login-csrf:" + nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    @property
    def logged_in(self) -> bool:
        self._loaded()
        return self.user is not None

    def log_in(self, user: StaffUser) -> None:
        """Replace whatever session this browser had by a new one for `user` (a new token: no fixation)."""
        self._loaded()
        if self.user is not None:
            assert self.token is not None  # a logged-in session has its token
            self._store.end(self.token)
        data = {CSRF_KEY: secrets.token_urlsafe(32)}
        self.token = self._store.create(user, data)
        self.user, self.seen_at, self._data = {"username": user.username, "role": user.role}, now(), data
        self.cookie_action, self.modified = "set", False

    def log_out(self) -> None:
        self._loaded()
        if self.user is not None:
            assert self.token is not None  # a logged-in session has its token
            self._store.end(self.token)
        self._anonymous(None)
        self.cookie_action, self.modified = "delete", False


class StaffSessionInterface(SessionInterface):
    """Flask sessions backed by the journey database instead of a signed cookie.

    Flask's default cookie is signed, not encrypted: anyone holding it can read it, and a
    copy stays valid until it expires, whatever logout did. Flask-Session would need a new
    package (and Flask-SQLAlchemy for a SQL backend) and knows nothing of our users, so it
    could not end a disabled user's sessions or notice a password change; this interface
    uses the store's own engine and tables.
    """

    def open_session(self, app: Flask, request: Request) -> StaffSession:
        store: StaffSessionStore = app.extensions[SESSIONS]
        secret = app.secret_key
        assert isinstance(secret, str)  # the console sets its secret as text
        return StaffSession(store, secret, request.cookies.get(self.get_cookie_name(app)))

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, StaffSession)  # open_session always opens one
        if not session.accessed:
            return
        response.vary.add("Cookie")
        name, path = self.get_cookie_name(app), self.get_cookie_path(app)
        if session.cookie_action == "delete":
            response.delete_cookie(name, path=path, domain=self.get_cookie_domain(app), secure=self._secure(app),
                                   httponly=True, samesite=self.get_cookie_samesite(app))
            return
        if session.user is not None:
            self._store_changes(app, session)
        if session.cookie_action == "set":
            assert session.token is not None  # "set" is decided together with a token
            expires = app.extensions[SESSIONS].policy.expires_at(session.seen_at) if session.user is not None else None
            response.set_cookie(name, session.token, expires=expires, path=path, domain=self.get_cookie_domain(app),
                                secure=self._secure(app), httponly=True, samesite=self.get_cookie_samesite(app))

    @staticmethod
    def _store_changes(app: Flask, session: StaffSession) -> None:
        store: StaffSessionStore = app.extensions[SESSIONS]
        at = now()
        assert session.token is not None and session.seen_at is not None  # called for logged-in sessions only
        touch = session.cookie_action != "set" and store.policy.touch_due(session.seen_at, at)
        if not (session.modified or touch):
            return
        try:
            store.save(session.token, dict(session) if session.modified else None, at if touch else None)
        except StoreUnavailable as exc:
            # The response is ready; losing a flash message or one idle-clock tick is better than a 500.
            logger.warning("staff session not saved: %s", exc)

    def _secure(self, app: Flask) -> bool:
        return self.get_cookie_secure(app) or request.is_secure


def init_sessions(app: Flask, store: StaffSessionStore) -> None:
    app.extensions[SESSIONS] = store
    app.session_interface = StaffSessionInterface()
    _dummy_hash()  # at the console's start, so the first unknown username is not slower than the rest


def staff_session() -> StaffSession:
    """Flask's `session`, which StaffSessionInterface always opens as a StaffSession."""
    return cast(StaffSession, session)


def start_session(user: StaffUser) -> None:
    staff_session().log_in(user)


def end_session() -> None:
    staff_session().log_out()


def end_sessions_of(username: str) -> int:
    return current_app.extensions[SESSIONS].end_all_for(username)


def csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_ok() -> bool:
    expected = session.get(CSRF_KEY)
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return isinstance(expected, str) and bool(expected) and same_secret(given, expected)


def current_user() -> SessionUser | None:
    """The logged-in staff member, or None (no session, or it expired or was revoked)."""
    current = staff_session()
    # logged_in loads the session; only then is `user` known.
    return current.user.copy() if current.logged_in and current.user is not None else None


def wants_json() -> bool:
    return request.path.endswith(".json") or request.accept_mimetypes.best == "application/json"


def _return_address() -> str | None:
    """This page, for after the login, if the login page will accept it as its `next`.

    Otherwise none: a 70 KB query would make a Location header clients refuse to read, and a
    path with control characters a login link that answers 400.
    """
    if request.method != "GET":
        return None
    try:
        return safe_next(request.full_path)
    except InvalidStaffInput:
        return None


def login_required(role: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Views need a live session (HTML: redirect to login; JSON: 401), and `role` if given (403)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                if wants_json():
                    return jsonify({"error": {"code": "unauthorized", "message": "log in to the staff console"}}), 401
                return redirect(url_for("staff.login", next=_return_address()))
            if role is not None and user["role"] != role:
                if wants_json():
                    return jsonify({"error": {"code": "forbidden", "message": f"needs the {role} role"}}), 403
                return current_app.response_class(f"Forbidden: this page needs the {role} role.", status=403, mimetype="text/plain")
            return view(user, *args, **kwargs)

        return wrapper

    return decorate
