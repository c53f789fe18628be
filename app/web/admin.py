"""Admin pages: the unit tree, users, the holiday table; a plan's reminder policy
(its supervisors)."""

from __future__ import annotations

from flask import abort, g, redirect, render_template, request, url_for
from pydantic import ValidationError

from app.domain import permissions
from app.domain.deadlines import CHINA
from app.schemas import HolidayIn, PolicyIn, UnitIn, UnitNoticeIn, UserIn, db_int
from app.services import calendar, inbox, org, policy
from app.services.errors import ServiceError
from app.services.scope import who
from app.web import bp, form_failed, login_required, rt, say


def _admin_only() -> None:
    if not permissions.may_administer(who(g.user)):
        abort(404)


@bp.route("/admin/units", methods=["GET", "POST"])
@login_required
def admin_units():
    _admin_only()
    if request.method == "POST":
        try:
            data = UnitIn(
                name=request.form.get("name", ""),
                kind=request.form.get("kind", ""),
                parent_id=request.form.get("parent_id", type=db_int),
            )
            org.create_unit(rt().db, g.user, data)
            say("单位已添加。")
        except (ServiceError, ValidationError) as err:
            form_failed(err)
        return redirect(url_for("web.admin_units"))
    return render_template("admin_units.html", units=org.list_units(rt().db, g.user))


@bp.post("/admin/units/<int:unit_id>/notice")
@login_required
def admin_unit_notice(unit_id: int):
    _admin_only()
    try:
        data = UnitNoticeIn(
            notice_prefix=request.form.get("notice_prefix", ""),
            contact_person=request.form.get("contact_person", ""),
            contact_phone=request.form.get("contact_phone", ""),
        )
        org.set_notice_details(rt().db, g.user, unit_id, data)
        say("单位信息已保存。")
    except (ServiceError, ValidationError) as err:
        form_failed(err)
    return redirect(url_for("web.admin_units"))


@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
def admin_users():
    _admin_only()
    if request.method == "POST":
        form = {k: v for k, v in request.form.items() if k != "csrf_token" and v != ""}
        try:
            form["unit_id"] = int(form.get("unit_id", "0"))
            org.create_user(rt().db, g.user, UserIn.model_validate(form))
            say("用户已添加。")
        except (ServiceError, ValidationError, ValueError) as err:
            if isinstance(err, ValueError) and not isinstance(err, ValidationError):
                say("请选择单位。", "error")
            else:
                form_failed(err)
        return redirect(url_for("web.admin_users"))
    db = rt().db
    return render_template("admin_users.html", users=org.list_users(db, g.user), units=org.list_units(db, g.user))


@bp.route("/admin/holidays", methods=["GET", "POST"])
@login_required
def admin_holidays():
    _admin_only()
    if request.method == "POST":
        try:
            data = HolidayIn.model_validate(
                {
                    "day": request.form.get("day", ""),
                    "is_workday": request.form.get("is_workday") == "1",
                    "note": request.form.get("note", ""),
                },
                strict=False,
            )
            moved = calendar.set_override(rt().db, data, rt().clock(), g.user.id)
            _saved(moved)
        except ValidationError as err:
            form_failed(err)
        return redirect(url_for("web.admin_holidays"))
    r = rt()
    return render_template(
        "admin_holidays.html",
        days=calendar.list_overrides(r.db),
        years=calendar.year_sources(r.db, r.clock().astimezone(CHINA).date()),
    )


@bp.route("/admin/holidays/years/<int:year>", methods=["POST"])
@login_required
def admin_holiday_year(year: int):
    _admin_only()
    try:
        _, moved = calendar.set_official_year(
            rt().db, year, request.form.get("official") == "1", rt().clock(), g.user.id
        )
        _saved(moved)
    except ServiceError as err:
        form_failed(err)
    return redirect(url_for("web.admin_holidays"))


CHANNELS = {"inbox": "站内消息", "email": "邮件", "wecom": "企业微信群", "dingtalk": "钉钉群", "webhook": "Webhook"}


@bp.get("/admin/messages")
@login_required
def admin_messages():
    """Messages to look at: failed for good, unconfirmed, possibly sent twice, in plain words."""
    _admin_only()
    return render_template("admin_messages.html", rows=inbox.failed_deliveries(rt().db, g.user), channels=CHANNELS)


def _saved(moved: int) -> None:
    if moved:
        say("已保存，{n} 项任务的整改时限随之调整（已记入各任务的办理记录）。", n=moved)
    else:
        say("已保存。")


@bp.route("/plans/<int:plan_id>/policy", methods=["GET", "POST"])
@login_required
def plan_policy(plan_id: int):
    r = rt()
    if request.method == "POST":
        form = {k: v for k, v in request.form.items() if k != "csrf_token" and v.strip() != ""}
        if "remind_days_before" in form:
            form["remind_days_before"] = [p for p in form["remind_days_before"].replace("，", ",").split(",") if p]
        form["remind_on_day"] = request.form.get("remind_on_day") == "1"
        try:
            policy.set_policy(
                r.db, g.user, plan_id, PolicyIn.model_validate(form), r.config.REMINDER_DEFAULTS, r.clock()
            )
            say("提醒规则已保存。")
        except (ServiceError, ValidationError) as err:
            form_failed(err)
        return redirect(url_for("web.plan_policy", plan_id=plan_id))
    effective, overrides = policy.get_policy(r.db, g.user, plan_id, r.config.REMINDER_DEFAULTS)
    return render_template("policy.html", plan_id=plan_id, p=effective.to_dict(), overrides=overrides)
