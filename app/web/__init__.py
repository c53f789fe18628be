"""Server-rendered pages: sign-in and the plan/task overview.

Every POST form carries a per-session CSRF token; every page is scoped exactly like
the API (the same service functions do the scoping).
"""

from __future__ import annotations

import hmac
import secrets
from functools import wraps

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for

from app.domain.workflow import STATE_LABELS, State
from app.models import User
from app.schemas import TaskQuery
from app.services import plans, tasks
from app.services.auth import authenticate

bp = Blueprint("web", __name__)


def _rt():
    return current_app.extensions["rectify"]


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.app_context_processor
def _template_globals():
    return {"csrf_token": csrf_token, "state_label": lambda s: STATE_LABELS[State(s)], "me": g.get("user")}


@bp.before_app_request
def _load_user_and_check_csrf():
    if request.blueprint != "web":
        return None
    uid = session.get("uid")
    g.user = _rt().db.session().get(User, uid) if uid else None
    if g.user is not None and not g.user.active:
        session.clear()
        g.user = None
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
    return None


def login_required(view):
    @wraps(view)
    def wrapper(**kwargs):
        if g.user is None:
            return redirect(url_for("web.login", next=request.path))
        return view(**kwargs)

    return wrapper


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        rt = _rt()
        username = request.form.get("username", "").strip()
        now = rt.clock()
        if not rt.login_limiter.allow(username, now):
            error = "登录失败次数过多，请 15 分钟后再试。"
        else:
            user = authenticate(rt.db, username, request.form.get("password", ""))
            if user is None:
                rt.login_limiter.fail(username, now)
                error = "用户名或密码不正确。"
            else:
                session.clear()
                session["uid"] = user.id
                nxt = request.args.get("next", "")
                return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else url_for("web.index"))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("web.login"))


@bp.get("/")
@login_required
def index():
    rt = _rt()
    now = rt.clock()
    try:
        q = TaskQuery.model_validate(request.args.to_dict())
    except ValueError:
        q = TaskQuery()
    views, total = tasks.list_tasks(rt.db, g.user, q, now)
    return render_template(
        "index.html",
        plans=plans.list_plans(rt.db, g.user, now),
        tasks=views,
        total=total,
        query=q,
        states=list(State),
    )
