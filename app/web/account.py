"""Sign in, sign out, password change, language switch, notification settings."""

from __future__ import annotations

from flask import g, redirect, render_template, request, session, url_for
from pydantic import ValidationError

from app.domain.events import EVENT_KINDS, MODES, modes_of
from app.http import http_status
from app.models import User
from app.schemas import PreferencesIn
from app.services import org
from app.services.auth import end_session, sign_in, start_session
from app.services.errors import ServiceError
from app.web import back, bp, form_failed, lang, local_path, login_required, rt, say
from app.web.i18n import refusal

EVENT_LABELS = {
    "assigned": "新任务交办到本单位",
    "rectified": "任务已整改，等待核实",
    "rejected": "任务被退回整改",
    "verified": "任务已核实",
    "closed": "任务已销号",
    "reopened": "任务被重新打开",
    "extension_requested": "有延期申请待审批",
    "extension_decided": "延期申请已审批",
    "report_submitted": "有报送待审核",
    "report_returned": "报送被退回",
    "report_accepted": "报送已审核通过",
    "urged": "任务被催办",
    "withdrawn": "任务被撤销",
    "deadline_changed": "整改时限被修改",
    "lookback_confirmed": "回头看确认整改到位",
    "rebound": "回头看发现问题反弹",
    "declined": "任务被拒收，待下发单位决定",
    "insisted": "拒收的任务被维持交办",
    "narrowed": "任务的整改范围被调整",
    "reassigned": "任务转办",
}
MODE_LABELS = {
    "off": "不接收",
    "inbox": "仅站内消息",
    "digest": "站内消息 + 每日汇总邮件",
    "mail": "站内消息 + 邮件（工作时间发送）",
    "instant": "站内消息 + 邮件（立即发送）",
}


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico where nothing names an icon (a photo or a file opened
    on its own): send them to the pages' icon rather than a 404."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        runtime = rt()
        username = request.form.get("username", "").strip()
        try:
            user = sign_in(
                runtime.db,
                runtime.login_throttle,
                username,
                request.form.get("password", ""),
                request.remote_addr or "",
            )
        except ServiceError as err:
            return render_template("login.html", error=refusal(err, lang())), http_status(err)[0]
        _begin_session(user)
        return back(url_for("web.index"))
    return render_template("login.html", error=None)


def _begin_session(user) -> None:
    """A fresh session (new id, new CSRF token) for ``user``, keeping the language."""
    keep_lang = session.get("lang")
    session.clear()
    session["sid"] = start_session(rt().db, user, rt().clock())
    if keep_lang:
        session["lang"] = keep_lang


@bp.post("/logout")
def logout():
    if "sid" in session:
        end_session(rt().db, session["sid"])
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
            error = refusal(err, lang())
        else:
            _begin_session(g.user)  # the change ended every session of the user, this one too
            say("密码已修改。")
            return redirect(url_for("web.index"))
    return render_template("password.html", error=error), (422 if error else 200)


@bp.route("/account/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    """What each kind of workflow event brings this user, and in which language."""
    if request.method == "POST":
        form = request.form
        try:
            data = PreferencesIn.model_validate(
                {
                    "notify_email": form.get("notify_email") == "1",
                    "digest": form.get("digest") == "1",
                    "lang": form.get("lang", "zh"),
                    "events": {k: form[f"event_{k}"] for k in EVENT_KINDS if f"event_{k}" in form},
                },
                strict=False,
            )
        except ValidationError as err:
            form_failed(err)
        else:
            org.set_preferences(rt().db, g.user, data.notify_email, data.digest, data.events, data.lang)
            say("消息设置已保存。")
        return redirect(url_for("web.preferences"))
    me = rt().db.session().get(User, g.user.id)
    return render_template(
        "preferences.html",
        modes=modes_of(me.event_prefs, me.notify_email, me.digest),
        kinds=EVENT_LABELS,
        mode_labels={m: MODE_LABELS[m] for m in MODES},
        user=me,
    )


@bp.get("/lang/<code>")
def switch_lang(code: str):
    session["lang"] = "en" if code == "en" else "zh"
    nxt = request.args.get("next", "")
    return redirect(nxt if local_path(nxt) else url_for("web.index"))
