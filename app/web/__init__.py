"""Server-rendered pages for officials and supervisors.

Every POST form carries a per-session CSRF token; every page is scoped exactly like
the API, because both call the same service functions (out of scope: 404).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from functools import wraps

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from markupsafe import Markup, escape
from pydantic import ValidationError

from app.domain import permissions
from app.domain.receipt import LABELS as RECEIPT_LABELS
from app.domain.receipt import ReceiptState
from app.domain.submissions import LABELS as REPORT_LABELS
from app.domain.submissions import SubmissionState
from app.domain.workflow import STATE_LABELS, State
from app.http import http_status, refuse_control_characters
from app.schemas import describe
from app.services import inbox
from app.services.auth import session_user
from app.services.errors import NotFound, ServiceError
from app.services.scope import who
from app.web.i18n import refusal, translate

bp = Blueprint("web", __name__)


def rt():
    return current_app.extensions["rectify"]


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def lang() -> str:
    return session.get("lang", "zh")


def switched_lang() -> str | None:
    """The language the reader switched the pages to, or None: messages are then worded
    in the language they chose for their messages."""
    return session.get("lang")


def options(choices, selected) -> Markup:
    """The <option>s of a long select (a city's thousand units) as one string: a Jinja
    loop costs about ten times as much per option, the most of a task list's page."""
    return Markup(
        "".join(
            f'<option value="{escape(value)}"{" selected" if value == selected else ""}>{escape(label)}</option>'
            for value, label in choices
        )
    )


@bp.app_context_processor
def _template_globals():
    user = g.get("user")
    current = lang()  # read once: a page calls _() hundreds of times
    return {
        "csrf_token": csrf_token,
        "_": lambda text: translate(text, current),
        "refused": lambda err: refusal(err, current),
        "lang": current,
        "state_label": lambda s: translate(STATE_LABELS[State(s)], current),
        "report_state": lambda s: translate(REPORT_LABELS[SubmissionState(s)], current),
        "options": options,
        "receipt_label": lambda s: translate(RECEIPT_LABELS[ReceiptState(s)], current),
        "me": user,
        "administers": bool(user) and permissions.may_administer(who(user)),
        # counted only where a page prints it (my work, the inbox); the rest fetch it (app.js)
        "count_unread": lambda: inbox.unread_count(rt().db, user) if user else 0,
    }


@bp.before_app_request
def _load_user_and_check_csrf():
    if request.blueprint != "web":
        return None
    sid = session.get("sid")
    g.user = session_user(rt().db, sid, rt().clock()) if isinstance(sid, str) else None
    if sid is not None and g.user is None:
        session.clear()  # signed out elsewhere, password changed, too old, or deactivated
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
    refuse_control_characters()
    return None


@bp.errorhandler(ServiceError)
def _service_error(err: ServiceError):
    status = http_status(err)[0]
    return render_template("error.html", status=status, message=refusal(err, lang())), status


def login_required(view):
    @wraps(view)
    def wrapper(**kwargs):
        if g.user is None:
            return redirect(url_for("web.login", next=request.path))
        return view(**kwargs)

    return wrapper


def form_failed(err: ServiceError | ValidationError) -> None:
    """A refused form: say why on the next page. Something out of the user's scope
    stays a plain 404 (re-raised for the error page), never a hint that it exists."""
    if isinstance(err, ServiceError):
        if isinstance(err, NotFound):
            raise err
        flash(refusal(err, lang()), "refused")
    else:
        flash(translate("表单内容有误：", lang()) + describe(err), "error")


def say(text: str, category: str = "message", **values) -> None:
    """Flash a sentence of the pages in the user's language: the Chinese is the key of
    app.web.i18n.EN, and ``{name}`` places are filled in after translating."""
    flash(translate(text, lang()).format(**values), category)


def local_path(target: str) -> bool:
    """A ``next`` we may redirect to: a path on this site. Control characters and
    backslashes are refused too, since browsers and Werkzeug strip or rewrite them into
    "//other.site"."""
    return target.startswith("/") and not target.startswith("//") and not any(ch <= " " or ch == "\\" for ch in target)


def back(default: str):
    """Where a form goes after it succeeds: the page it came from, if it is ours."""
    nxt = request.form.get("next") or request.args.get("next") or ""
    return redirect(nxt if local_path(nxt) else default)


@bp.app_template_filter("china_date")
def _china_date(moment):
    """A stored instant (or its ISO text, as a kept import preview holds it) as the
    China calendar date people wrote (2022年6月20日)."""
    from app.notify import china_date

    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return china_date(moment, lang()) if moment else ""


@bp.app_template_filter("day")
def _day(day):
    """A calendar date (already a China date) as people write it."""
    from app.notify import format_day

    return format_day(day, lang()) if day else ""


@bp.app_template_filter("china_time")
def _china_time(moment):
    from app.domain.deadlines import CHINA

    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if moment else ""


from app.web import (  # noqa: E402,F401  (register routes)
    account,
    admin,
    answers,
    authoring,
    dashboard,
    drafts,
    ledger,
    plans,
    receipt,
    reports,
    spotchecks,
    work,
)
