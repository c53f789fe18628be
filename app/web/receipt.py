"""签收 and 转办 on the pages: the task page's forms (acknowledge, decline; insist, narrow,
reassign, split) and a plan's 签收全部 for the user's unit. Each calls app.services.receipt
and comes back to the page with what happened."""

from __future__ import annotations

from flask import g, redirect, request, url_for

from app.schemas import db_int
from app.services import receipt
from app.services.errors import Invalid, ServiceError
from app.web import bp, form_failed, login_required, rt, say


def _version() -> int:
    version = request.form.get("version", type=db_int)
    if not version:
        raise Invalid("表单缺少任务版本，请刷新页面后重试。")
    return version


def _reason() -> str:
    return request.form.get("reason", "").strip()


def _back_to(task_id: int):
    return redirect(url_for("web.task_detail", task_id=task_id))


@bp.post("/tasks/<int:task_id>/acknowledge")
@login_required
def task_acknowledge(task_id: int):
    try:
        receipt.acknowledge(rt().db, g.user, task_id, _version(), rt().clock())
        say("已签收。")
    except ServiceError as err:
        form_failed(err)
    return _back_to(task_id)


@bp.post("/tasks/<int:task_id>/decline")
@login_required
def task_decline(task_id: int):
    try:
        receipt.decline(rt().db, g.user, task_id, _reason(), _version(), rt().clock())
        say("已拒收，等待下发单位处理。")
    except ServiceError as err:
        form_failed(err)
    return _back_to(task_id)


@bp.post("/tasks/<int:task_id>/insist")
@login_required
def task_insist(task_id: int):
    try:
        receipt.insist(rt().db, g.user, task_id, _reason(), _version(), rt().clock())
        say("已维持交办，责任单位将收到通知。")
    except ServiceError as err:
        form_failed(err)
    return _back_to(task_id)


@bp.post("/tasks/<int:task_id>/narrow")
@login_required
def task_narrow(task_id: int):
    try:
        scope = request.form.get("scope", "")
        receipt.narrow(rt().db, g.user, task_id, scope, _reason(), _version(), rt().clock())
        say("已调整整改范围，责任单位将收到通知。")
    except ServiceError as err:
        form_failed(err)
    return _back_to(task_id)


@bp.post("/tasks/<int:task_id>/reassign")
@login_required
def task_reassign(task_id: int):
    try:
        unit_id = request.form.get("unit_id", type=db_int)
        if not unit_id:
            raise Invalid("请选择转办的责任单位。")
        view = receipt.reassign(rt().db, g.user, task_id, unit_id, _reason(), _version(), rt().clock())
        say("已转办至{unit}。", unit=view.unit_name)
    except ServiceError as err:
        form_failed(err)
    return _back_to(task_id)


@bp.post("/tasks/<int:task_id>/split")
@login_required
def task_split(task_id: int):
    try:
        unit_ids = [u for u in request.form.getlist("unit_ids", type=db_int) if u]
        created = receipt.split(rt().db, g.user, task_id, unit_ids, _reason(), _version(), rt().clock())
        say("已分办，新增{n}项任务。", n=len(created))
    except ServiceError as err:
        form_failed(err)
    return _back_to(task_id)


@bp.post("/plans/<int:plan_id>/acknowledge")
@login_required
def plan_acknowledge(plan_id: int):
    try:
        done = receipt.acknowledge_all(rt().db, g.user, plan_id, rt().clock())
        say("已签收{n}项任务。", n=len(done))
    except ServiceError as err:
        form_failed(err)
    return redirect(url_for("web.plan_detail", plan_id=plan_id))
