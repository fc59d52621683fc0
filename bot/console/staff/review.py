"""Staff console: the Unhandled messages page, where admins label what the bot did not understand.

Fallbacks, out-of-scope messages and low-confidence ones (journey_state/store/reviews.py),
grouped by similarity (journey_state/review/grouping.py), newest group first. One form per
group labels all its messages at once; `journeybot nlu export-reviewed` turns the labels into
training data. The label must be an intent of the domain the bot was trained with (read from
domain.yml when the console starts): anything else is a 400, never stored.
"""
from __future__ import annotations

import math
import re
from typing import Any

from flask import Blueprint, Flask, current_app, flash, jsonify, redirect, render_template, request, url_for

from bot.console.staff.auth import csrf_ok, current_user, login_required, wants_json
from bot.settings import Settings
from journey_state.review.export import domain_intents
from journey_state.review.grouping import group_messages
from journey_state.store.reviews import OUT_OF_SCOPE, ReviewError, ReviewStore

GROUPS_PER_PAGE = 20
TEXTS_SHOWN = 5
MAX_IDS = 2000  # a group holds at most the reviewed window of messages
INTENTS_KEY = "review_intents"
_ID = re.compile(r"[0-9]{1,18}")

staff_review = Blueprint("staff_review", __name__, url_prefix="/staff/review", template_folder="../templates")


def init_review(app: Flask, settings: Settings) -> None:
    """Register the page with the intents an admin may choose from (never the fallback pseudo-intent)."""
    app.extensions[INTENTS_KEY] = [i for i in domain_intents(settings.project_dir / "domain.yml") if i != "nlu_fallback"]
    app.register_blueprint(staff_review)


def _reviews() -> ReviewStore:
    return current_app.extensions["services"].reviews


def _intents() -> list[str]:
    return current_app.extensions[INTENTS_KEY]


def _bad_request(message: str) -> Any:
    if wants_json():
        return jsonify({"error": {"code": "bad_request", "message": message}}), 400
    return current_app.response_class(f"Bad request: {message}", status=400, mimetype="text/plain")


@staff_review.before_request
def _check_csrf() -> Any:
    # As on the other staff pages: without a session login_required answers first.
    if request.method == "POST" and current_user() is not None and not csrf_ok():
        return _bad_request("missing or wrong CSRF token; reload the page and try again.")
    return None


def _page_number(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
        raise ValueError("page must be a whole number from 1")
    return int(raw)


@staff_review.route("/")
@login_required(role="admin")
def page(user: dict[str, str]) -> Any:
    try:
        number = _page_number(request.args.get("page"))
    except ValueError as exc:
        return _bad_request(str(exc))
    groups = group_messages(_reviews().unhandled())
    pages = max(1, math.ceil(len(groups) / GROUPS_PER_PAGE))
    number = min(number, pages)
    shown = groups[(number - 1) * GROUPS_PER_PAGE: number * GROUPS_PER_PAGE]
    return render_template(
        "staff/review.html", user=user, groups=shown, page=number, pages=pages, total=len(groups),
        messages=sum(g.count for g in groups), intents=_intents(), out_of_scope=OUT_OF_SCOPE, texts_shown=TEXTS_SHOWN,
        threshold=current_app.extensions["journey_store"].model.min_intent_confidence,
    )


@staff_review.route("/label", methods=["POST"])
@login_required(role="admin")
def label(user: dict[str, str]) -> Any:
    value = (request.form.get("label") or "").strip()
    raw_ids = (request.form.get("ids") or "").split(",")
    if not value:
        return _bad_request("choose an intent for the group first.")
    if value not in _intents():
        shown = value if len(value) <= 64 else value[:64] + "..."
        return _bad_request(f"{shown!r} is not an intent of the domain; choose one from the list (or confirm out of scope).")
    if len(raw_ids) > MAX_IDS or not all(_ID.fullmatch(i.strip()) for i in raw_ids):
        return _bad_request("the form's message list is damaged; reload the page.")
    try:
        count = _reviews().label([int(i) for i in raw_ids], value, user["username"])
    except ReviewError as exc:
        return _bad_request(str(exc))
    if wants_json():
        return jsonify({"labelled": count, "label": value})
    what = "out of scope" if value == OUT_OF_SCOPE else f"'{value}'"
    flash(f"Labelled {count} message(s) as {what}. Run `journeybot nlu export-reviewed` and `journeybot train` to learn from them.", "info")
    back = _page_number_or_one(request.form.get("page"))
    return redirect(url_for("staff_review.page", page=back), code=303)


def _page_number_or_one(raw: str | None) -> int:
    try:
        return _page_number(raw)
    except ValueError:
        return 1
