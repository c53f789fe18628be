"""Sign in, sign out, password change, language switch."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for

from app.models import User
from app.services import org
from app.services.auth import authenticate, password_fingerprint
from app.services.errors import ServiceError
from app.web import back, bp, local_path, login_required, rt


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        runtime = rt()
        username = request.form.get("username", "").strip()
        now = runtime.clock()
        if not runtime.login_limiter.allow(username, now):
            error = "登录失败次数过多，请 15 分钟后再试。"
        else:
            user = authenticate(runtime.db, username, request.form.get("password", ""))
            if user is None:
                runtime.login_limiter.fail(username, now)
                error = "用户名或密码不正确。"
            else:
                keep_lang = session.get("lang")
                session.clear()
                session["uid"] = user.id
                session["pw"] = password_fingerprint(user)
                if keep_lang:
                    session["lang"] = keep_lang
                return back(url_for("web.index"))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("web.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    error = None
    if request.method == "POST":
        try:
            org.change_password(
                rt().db,
                g.user,
                request.form.get("current", ""),
                request.form.get("new", ""),
                request.form.get("repeat", ""),
            )
        except ServiceError as err:
            error = err.message
        else:
            session["pw"] = password_fingerprint(rt().db.session().get(User, g.user.id))
            flash("密码已修改。")
            return redirect(url_for("web.index"))
    return render_template("password.html", error=error), (422 if error else 200)


@bp.get("/lang/<code>")
def switch_lang(code: str):
    session["lang"] = "en" if code == "en" else "zh"
    nxt = request.args.get("next", "")
    return redirect(nxt if local_path(nxt) else url_for("web.index"))
