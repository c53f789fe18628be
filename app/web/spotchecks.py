"""Spot-check pages: draw a sample, record each re-check."""

from __future__ import annotations

import secrets

from flask import g, redirect, render_template, request, url_for

from app.schemas import db_int
from app.services import plans, spotchecks
from app.services.errors import ServiceError
from app.web import bp, form_failed, login_required, rt, say


@bp.get("/plans/<int:plan_id>/spot-checks")
@login_required
def spot_checks(plan_id: int):
    plan, _ = plans.get_plan(rt().db, g.user, plan_id, rt().clock())
    return render_template(
        "spotchecks.html",
        plan=plan,
        checks=spotchecks.list_checks(rt().db, g.user, plan_id),
        suggested_seed=secrets.randbelow(10**6),
    )


@bp.post("/plans/<int:plan_id>/spot-checks")
@login_required
def spot_check_draw(plan_id: int):
    try:
        spotchecks.draw(
            rt().db,
            g.user,
            plan_id,
            request.form.get("size", type=db_int) or 0,
            request.form.get("seed", type=db_int) or 0,
            rt().clock(),
        )
        say("已抽取样本。")
    except ServiceError as err:
        form_failed(err)
    return redirect(url_for("web.spot_checks", plan_id=plan_id))


@bp.post("/spot-check-items/<int:item_id>")
@login_required
def spot_check_result(item_id: int):
    plan_id = request.form.get("plan_id", type=db_int) or 0
    try:
        spotchecks.record_result(
            rt().db, g.user, item_id, request.form.get("passed") == "1", request.form.get("comment", ""), rt().clock()
        )
        say("复核结果已登记。")
    except ServiceError as err:
        form_failed(err)
    return redirect(url_for("web.spot_checks", plan_id=plan_id))
