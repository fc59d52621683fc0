"""Staff console: the handoff queue, conversations with their journey context, replies as an agent.

HTML pages under /staff (Jinja autoescapes everything customers wrote). Agents speak in the
customer's own channel through Rasa's HTTP API (bot/rasa_client.py); the conversation stays
paused while a person has it, and handing back resumes the bot and asks for a CSAT score.
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Flask, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from bot.console.staff.auth import (
    CSRF_FIELD,
    SessionUser,
    authenticate,
    csrf_ok,
    csrf_token,
    current_user,
    end_session,
    end_sessions_of,
    init_sessions,
    login_required,
    start_session,
    wants_json,
)
from bot.rasa_client import RasaClient, RasaError, RasaUnavailable
from bot.settings import ConsoleSettings, Settings
from journey_state.bidi import strip_bidi
from journey_state.errors import ContactNotFound, StoreUnavailable
from journey_state.hand_back import BotRuntimeError, BotStepFailed, HandBack
from journey_state.handoff import AGENT_CLAIM, agent_joined_message, closing_message, wait_minutes
from journey_state.staff_rules import (
    CHANNELS,
    InvalidStaffInput,
    LoginLimiter,
    SessionPolicy,
    safe_next,
    takeover_target,
)
from journey_state.store.handoffs import (
    ASSIGNED,
    QUEUED,
    Handoff,
    HandoffError,
    HandoffNotFound,
    HandoffStore,
    NotYourHandoff,
)
from journey_state.store.staff_sessions import StaffSessionStore

logger = logging.getLogger(__name__)

SECRET_ENV = "JOURNEYBOT_CONSOLE_SECRET"
MAX_REPLY = 4000
# Handoff ids are BIGINT: a larger number in the URL cannot even be bound as a query
# parameter (the driver raises OverflowError, a 500), so such URLs match no route (404).
HANDOFF_ID = "<int(max=9223372036854775807):handoff_id>"
RECENT_TOUCHPOINTS = 30

staff = Blueprint(
    "staff", __name__, url_prefix="/staff", template_folder="../templates", static_folder="../static/staff", static_url_path="/static"
)


def init_staff_console(app: Flask, settings: Settings, console: ConsoleSettings) -> None:
    """Configure sessions on `app` (its handoff store comes from the services) and register the console blueprint."""
    secret = console.console_secret
    if not secret:
        # Login forms opened before a restart then need a reload; `journeybot up` keeps a generated secret.
        logger.warning("%s is not set; using a random secret for this process only", SECRET_ENV)
        secret = secrets.token_urlsafe(32)
    app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME="journeybot_staff",
        SESSION_COOKIE_PATH="/staff",  # the storefront and the API never see the staff cookie
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure is also set on any request that arrived over https (directly or via a trusted proxy).
        SESSION_COOKIE_SECURE=console.secure_cookie,
    )
    _trust_proxies(app, console.trusted_proxies)
    store = app.extensions["journey_store"]
    init_sessions(app, StaffSessionStore(store.engine, SessionPolicy()))
    app.extensions["rasa_client"] = RasaClient(settings.rasa_url, console.rasa_token)
    app.extensions["staff_login_limiter"] = LoginLimiter()
    app.register_blueprint(staff)


def _trust_proxies(app: Flask, proxies: int) -> None:
    """Behind N reverse proxies, take the client address and scheme from the headers they add.

    Only when configured: otherwise X-Forwarded-For is whatever the client wrote, and the
    login limit would count failures against an address of the attacker's choosing.
    """
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]  # Flask's documented middleware hook; wsgi_app is typed as a method (python/mypy#7347)


def _handoffs() -> HandoffStore:
    return current_app.extensions["handoffs"]


def _rasa() -> RasaClient:
    return current_app.extensions["rasa_client"]


def _ending() -> HandBack:
    return HandBack(_handoffs(), _rasa())


@staff.before_request
def _check_csrf():
    # Without a session only the login form can be posted; other views then redirect to
    # the login page (or answer 401) in login_required, before doing anything.
    if request.method == "POST" and request.endpoint != "staff.login" and current_user() is None:
        return None
    if request.method == "POST" and not csrf_ok():
        if wants_json():
            return jsonify({"error": {"code": "csrf_failed", "message": "missing or wrong CSRF token; reload the page"}}), 400
        return current_app.response_class("Bad request: missing or wrong CSRF token. Reload the page and try again.", status=400, mimetype="text/plain")
    return None


@staff.app_context_processor
def _template_globals():
    return {"csrf_token": csrf_token, "csrf_field": CSRF_FIELD}


@staff.errorhandler(StoreUnavailable)
def _store_down(exc):
    logger.error("%s", exc)
    return current_app.response_class("The journey database is unavailable; try again shortly.", status=503, mimetype="text/plain")


@staff.errorhandler(ContactNotFound)
@staff.errorhandler(HandoffNotFound)
def _not_found(exc):
    if wants_json():
        return jsonify({"error": {"code": "not_found", "message": str(exc)}}), 404
    return current_app.response_class(str(exc), status=404, mimetype="text/plain")


# -- login ------------------------------------------------------------------------------------


def _client_address() -> str:
    # The TCP peer, or the client as named by the trusted proxies (JOURNEYBOT_TRUSTED_PROXIES).
    return request.remote_addr or "unknown"


@staff.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    try:
        target = safe_next(request.args.get("next"))
    except InvalidStaffInput as exc:
        # A tampered link: say so, and offer the plain form (its action drops the bad address).
        return render_template("staff/login.html", error=str(exc), next=None), 400
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        limiter: LoginLimiter = current_app.extensions["staff_login_limiter"]
        address = _client_address()
        if limiter.blocked(address, username):
            error, status = "Too many failed logins from your address. Wait a few minutes and try again.", 429
        else:
            user = authenticate(_handoffs(), username, password)
            if user is None:
                limiter.failed(address, username)
                error, status = "Wrong username or password.", 401
            else:
                limiter.succeeded(address, username)
                start_session(user)
                return redirect(target or url_for("staff.queue_page"))
    return render_template("staff/login.html", error=error, next=target), status


@staff.route("/logout", methods=["POST"])
def logout():
    end_session()  # deletes the session on the server: a copy of the cookie is worthless from now on
    return redirect(url_for("staff.login"))


# -- queue --------------------------------------------------------------------------------------


def _queue_data() -> dict[str, Any]:
    handoffs = _handoffs()
    at = datetime.now(timezone.utc)
    queued = handoffs.queue((QUEUED,))
    assigned = handoffs.queue((ASSIGNED,))
    place = handoffs.place(queued[0].id) if queued else None
    per_place = place.wait if place else handoffs.config.default_wait

    def row(h, position=0):
        return {
            "id": h.id, "contact_uid": h.contact_uid, "channel": h.channel, "sender_id": strip_bidi(h.sender_id), "trigger": h.trigger,
            "priority": h.priority, "stage": h.stage, "at_risk": h.at_risk, "status": h.status, "agent": h.agent,
            "reason": strip_bidi(h.reason), "created_at": h.created_at.isoformat(), "waiting_seconds": int(h.waiting(at).total_seconds()),
            "position": position, "estimate_minutes": wait_minutes(per_place * position) if position else 0,
        }

    return {
        "queued": [row(h, i + 1) for i, h in enumerate(queued)],
        "assigned": [row(h) for h in assigned],
    }


@staff.route("/")
@login_required()
def queue_page(user):
    return _render_queue(user)


def _render_queue(user: SessionUser, takeover_error: str | None = None, form: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "staff/queue.html", user=user, data=_queue_data(), channels=CHANNELS, takeover_error=takeover_error, form=form or {},
    )
    return page, status


@staff.route("/queue.json")
@login_required()
def queue_json(user):
    return jsonify(_queue_data())


def _fail(handoff_id: int | None, message: str, status: int) -> tuple[Response, int] | BaseResponse:
    if wants_json():
        return jsonify({"error": {"code": "rejected", "message": message}}), status
    flash(message, "error")
    target = url_for("staff.handoff_page", handoff_id=handoff_id) if handoff_id else url_for("staff.queue_page")
    return redirect(target, code=303)


def _refuse(handoff_id: int | None, exc: HandoffError, status: int = 409) -> tuple[Response, int] | BaseResponse:
    """A refused handoff operation: 404 unknown, 403 someone else's, else `status`."""
    if isinstance(exc, HandoffNotFound):
        raise exc
    return _fail(handoff_id, str(exc), 403 if isinstance(exc, NotYourHandoff) else status)


@staff.route(f"/handoffs/{HANDOFF_ID}/claim", methods=["POST"])
@login_required()
def claim(user, handoff_id):
    try:
        h = _handoffs().claim(handoff_id, user["username"])
    except HandoffError as exc:
        return _refuse(None, exc)
    announced = _tell_customer(h, agent_joined_message(_handoffs().config, user["username"], h.channel), user["username"],
                               "Claimed, but the customer was not told you joined")
    if wants_json():
        return jsonify({"claimed": handoff_id, "agent": user["username"], "announced": announced})
    return redirect(url_for("staff.handoff_page", handoff_id=handoff_id), code=303)


@staff.route("/takeover", methods=["POST"])
@login_required()
def takeover(user):
    """An agent takes a conversation from the bot without the customer asking."""
    form = {"channel": request.form.get("channel") or "", "sender_id": request.form.get("sender_id") or ""}

    def refuse(message: str, status: int) -> tuple[Response, int] | tuple[str, int]:
        if wants_json():
            return jsonify({"error": {"code": "rejected", "message": message}}), status
        return _render_queue(user, f"Not taken over: {message}.", form, status)

    try:
        who = takeover_target(form["channel"], form["sender_id"])
    except InvalidStaffInput as exc:
        return refuse(str(exc), 422)
    outcome = _handoffs().open(who, AGENT_CLAIM, reason=f"taken over by {user['username']}", agent=user["username"])
    h = outcome.place.handoff
    if not outcome.created and h.agent != user["username"]:
        return refuse(f"that conversation already has an open handoff ({h.id}, {h.status})", 409)
    try:
        _rasa().pause(who.conversation_id)
    except RasaError as exc:
        _handoffs().close(h.id, user["username"], admin=True)
        return refuse(f"could not pause the bot: {exc}", 502)
    if outcome.created:
        _tell_customer(h, agent_joined_message(_handoffs().config, user["username"], h.channel), user["username"],
                       "Taken over, but the customer was not told you joined")
    return redirect(url_for("staff.handoff_page", handoff_id=h.id), code=303)


# -- one conversation -------------------------------------------------------------------------------


def _context(h: Handoff) -> dict[str, Any]:
    store = current_app.extensions["journey_store"]
    exported = store.export(h.contact_uid)
    timeline = exported["timeline"]
    touchpoints = [t for t in timeline if t["type"] == "touchpoint"]
    stage_changes = [t for t in exported["contact"]["transitions"] if t["kind"] == "stage"]
    return {
        "contact": exported["contact"],
        "stage_evidence": stage_changes[-1]["evidence"] if stage_changes else None,
        "timeline": timeline[-40:],
        "touchpoints": touchpoints[-RECENT_TOUCHPOINTS:],
        "emotions": [t["emotion"] for t in touchpoints[-10:] if t.get("emotion")],
        "offers": exported["offers"][-10:],
        "feedback": exported["feedback"][-10:],
        "stages": list(store.model.stage_ids),
    }


def transcript(conversation_id: str) -> tuple[list[dict[str, Any]], bool, str | None]:
    """User and bot messages from Rasa's tracker; (messages, paused, problem)."""
    try:
        tracker = _rasa().tracker(conversation_id)
    except RasaError as exc:
        return [], False, str(exc)
    messages = []
    for e in tracker.get("events") or []:
        if e.get("event") in ("user", "bot") and e.get("text"):
            who = "customer" if e["event"] == "user" else ("agent" if (e.get("metadata") or {}).get("agent") else "bot")
            messages.append({
                "from": who,
                "agent": (e.get("metadata") or {}).get("agent"),
                "text": strip_bidi(e["text"]),  # the page's script uses textContent: inert HTML, but bidi controls still act
                "at": datetime.fromtimestamp(e.get("timestamp") or 0, timezone.utc).isoformat(),
                "channel": e.get("input_channel"),
            })
    return messages, bool(tracker.get("paused")), None


def _render_handoff(user: SessionUser, h: Handoff, draft: str = "", reply_error: str | None = None, status: int = 200) -> tuple[str, int]:
    messages, paused, problem = transcript(h.conversation_id)
    page = render_template(
        "staff/handoff.html", user=user, h=h, ctx=_context(h), messages=messages, paused=paused, rasa_problem=problem,
        notes=_handoffs().notes(h.contact_uid), history=_handoffs().history(h.contact_uid),
        mine=h.status == ASSIGNED and (h.agent == user["username"] or user["role"] == "admin"),
        draft=draft, reply_error=reply_error,
    )
    return page, status


@staff.route(f"/handoffs/{HANDOFF_ID}")
@login_required()
def handoff_page(user, handoff_id):
    return _render_handoff(user, _handoffs().get(handoff_id))


@staff.route(f"/handoffs/{HANDOFF_ID}/transcript.json")
@login_required()
def transcript_json(user, handoff_id):
    h = _handoffs().get(handoff_id)
    messages, paused, problem = transcript(h.conversation_id)
    return jsonify({"handoff": {"id": h.id, "status": h.status, "agent": h.agent}, "paused": paused, "messages": messages, "problem": problem})


@staff.route(f"/handoffs/{HANDOFF_ID}/reply", methods=["POST"])
@login_required()
def reply(user, handoff_id):
    text = (request.form.get("text") or "").strip()
    if not text:
        return _fail(handoff_id, "write a reply first", 422)
    if len(text) > MAX_REPLY:
        return _fail(handoff_id, f"a reply is at most {MAX_REPLY} characters", 422)
    try:
        h = _handoffs().check_reply(handoff_id, user["username"], admin=user["role"] == "admin")
    except HandoffError as exc:
        return _refuse(handoff_id, exc)
    try:
        _rasa().say_as_agent(h.conversation_id, text, agent=user["username"])
    except RasaError as exc:
        return _not_delivered(user, h, text, exc)
    if wants_json():
        return jsonify({"sent": True})
    return redirect(url_for("staff.handoff_page", handoff_id=handoff_id), code=303)


def _not_delivered(user: SessionUser, h: Handoff, text: str, exc: RasaError) -> tuple[Response, int] | tuple[str, int]:
    """Rasa did not take the reply: say so plainly and give the text back, never drop it.

    Nothing is queued to be sent later: the agent decides whether the words still fit once
    the bot server is back (the customer may have written meanwhile).
    """
    if isinstance(exc, RasaUnavailable) and exc.maybe_applied:
        message, status = (f"Rasa did not confirm your reply in time ({exc}); it may still reach the customer. "
                           "Check the transcript before sending it again; your text is kept below."), 504
    elif isinstance(exc, RasaUnavailable):
        message, status = (f"Your reply was NOT sent: the bot server is not answering ({exc}). "
                           "Your text is kept below; send it again when the server is back."), 503
    else:
        message, status = f"Your reply was NOT sent: {exc}. Your text is kept below.", 502
    logger.warning("reply in handoff %s not delivered: %s", h.id, exc)
    if wants_json():
        return jsonify({"error": {"code": "not_delivered", "message": message, "text": text}}), status
    return _render_handoff(user, h, draft=text, reply_error=message, status=status)


def _rasa_down_status(exc: BotRuntimeError) -> int:
    return 503 if isinstance(exc, RasaUnavailable) else 502


@staff.route(f"/handoffs/{HANDOFF_ID}/notes", methods=["POST"])
@login_required()
def add_note(user, handoff_id):
    h = _handoffs().get(handoff_id)
    try:
        _handoffs().add_note(h.contact_uid, user["username"], request.form.get("text") or "", handoff_id)
    except HandoffError as exc:
        return _refuse(handoff_id, exc, 422)
    return redirect(url_for("staff.handoff_page", handoff_id=handoff_id), code=303)


@staff.route(f"/handoffs/{HANDOFF_ID}/stage", methods=["POST"])
@login_required()
def override_stage(user, handoff_id):
    h = _handoffs().get(handoff_id)
    stage = request.form.get("stage") or ""
    reason = (request.form.get("reason") or "").strip()[:500]
    try:
        current_app.extensions["journey_store"].override_stage(h.contact_uid, stage, user["username"], reason)
    except ValueError as exc:
        return _fail(handoff_id, str(exc), 422)
    flash(f"Stage set to {stage}.", "info")
    return redirect(url_for("staff.handoff_page", handoff_id=handoff_id), code=303)


@staff.route(f"/handoffs/{HANDOFF_ID}/offer", methods=["POST"])
@login_required()
def send_offer(user, handoff_id):
    """Send the offer the journey rules pick for this contact now (and record it as shown)."""
    programs = current_app.extensions["programs"]
    try:
        h = _handoffs().check_reply(handoff_id, user["username"], admin=user["role"] == "admin")
    except HandoffError as exc:
        return _refuse(handoff_id, exc)
    offer = programs.choose_offer(h.contact_uid, h.channel)
    if offer is None:
        return _fail(handoff_id, "no offer is eligible for this customer right now", 409)
    try:
        _rasa().say_as_agent(h.conversation_id, offer.text, agent=user["username"])
    except RasaError as exc:
        return _fail(handoff_id, f"the offer was not delivered: {exc}", 502)
    programs.record_offer_shown(h.contact_uid, offer.id, h.channel)
    flash(f"Offer {offer.id} sent.", "info")
    return redirect(url_for("staff.handoff_page", handoff_id=handoff_id), code=303)


@staff.route(f"/handoffs/{HANDOFF_ID}/handback", methods=["POST"])
@login_required()
def hand_back(user, handoff_id):
    """Back to the bot: it follows up for the stage and asks for a CSAT score (journey_state.hand_back)."""
    try:
        _ending().hand_back(handoff_id, user["username"], admin=user["role"] == "admin")
    except HandoffError as exc:
        return _refuse(handoff_id, exc)
    except BotStepFailed as exc:
        if exc.step == "resume":
            return _fail(handoff_id, f"Not handed back: the bot could not be resumed ({exc.cause}). "
                                     "The conversation is still yours; try again in a moment.", _rasa_down_status(exc.cause))
        return _fail(handoff_id, f"Handed back to the bot, but the follow-up or the CSAT question was not sent: {exc.cause}",
                     _rasa_down_status(exc.cause))
    return redirect(url_for("staff.queue_page"), code=303)


@staff.route(f"/handoffs/{HANDOFF_ID}/close", methods=["POST"])
@login_required()
def close(user, handoff_id):
    """Close without asking for feedback; the bot is resumed so the customer is not left unanswered."""
    try:
        h = _ending().close(handoff_id, user["username"], admin=user["role"] == "admin")
    except HandoffError as exc:
        return _refuse(handoff_id, exc)
    except BotStepFailed as exc:
        return _fail(handoff_id, f"Not closed: the bot could not be resumed ({exc.cause}); try again in a moment.",
                     _rasa_down_status(exc.cause))
    _tell_customer(h, closing_message(_handoffs().config, h.channel), user["username"], "Closed, but the customer did not get the closing line")
    return redirect(url_for("staff.queue_page"), code=303)


def _tell_customer(h: Handoff, text: str, agent: str, failed: str) -> bool:
    """Say `text` to the customer for the console (who joined, the closing line); False if Rasa did not take it.

    The claim or close itself stands either way: the agent is warned and can write to the customer.
    """
    try:
        _rasa().say_as_agent(h.conversation_id, text, agent=agent)
    except RasaError as exc:
        logger.warning("handoff %s: %s: %s", h.id, failed, exc)
        flash(f"{failed}: {exc}.", "error")
        return False
    return True


@staff.route("/contacts/<contact_uid>")
@login_required()
def contact_page(user, contact_uid):
    contact = current_app.extensions["journey_store"].contact(contact_uid)
    return render_template(
        "staff/contact.html", user=user, contact=contact, history=_handoffs().history(contact_uid), notes=_handoffs().notes(contact_uid)
    )


# -- admin ------------------------------------------------------------------------------------------


@staff.route("/users")
@login_required(role="admin")
def users_page(user):
    return render_template("staff/users.html", user=user, users=_handoffs().users())


@staff.route("/users/<username>/disabled", methods=["POST"])
@login_required(role="admin")
def set_disabled(user, username):
    disabled = request.form.get("disabled") == "1"
    if username == user["username"] and disabled:
        flash("You cannot disable yourself.", "error")
    else:
        try:
            _handoffs().set_disabled(username, disabled)
        except ValueError as exc:
            flash(str(exc), "error")
        else:
            if disabled:  # also checked on every request; deleting them keeps re-enabling from reviving them
                end_sessions_of(username)
    return redirect(url_for("staff.users_page"), code=303)


def minutes_since(iso_or_dt: str | datetime) -> int:
    at = iso_or_dt if isinstance(iso_or_dt, datetime) else datetime.fromisoformat(iso_or_dt)
    return int((datetime.now(timezone.utc) - at).total_seconds() // 60)


staff.add_app_template_filter(minutes_since, "minutes_since")
