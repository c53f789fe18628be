"""Authoring in the pages: issue a plan, add or edit a problem with a unit picker over the
unit tree, declare a report owed; and open a report's file.

Each form is read into the API's own pydantic schema and handed to the same service the
API calls, so a form and a JSON request meet exactly the same rules. A refused form comes
back to the page it was typed on (app.js puts the typed values back) with the reason.
"""

from __future__ import annotations

from collections import defaultdict

from flask import g, redirect, render_template, request, url_for
from pydantic import ValidationError

from app.domain import permissions
from app.domain.deadlines import CHINA
from app.domain.workflow import WITHDRAWABLE, State
from app.http import stored_file
from app.models import Unit
from app.schemas import ObligationIn, PlanEditIn, PlanIn, ProblemEditIn, ProblemIn, WithdrawIn, db_int
from app.services import obligations, plans, tasks
from app.services.errors import ServiceError
from app.services.scope import facts, require
from app.web import bp, form_failed, login_required, rt, say

EDITED = "问题已修改：新增 {added} 项任务，撤销 {withdrawn} 项，{redated} 项任务的整改时限随之调整（已记入办理记录）。"
PHASE_ROWS = 3  # blank phase rows a new plan's form offers
WITHDRAWN = "问题已撤销：{n} 项任务不再计入未办结数，提醒和督办随之停止；撤销理由已记入各任务的办理记录。"


def unit_groups(units: list[Unit]) -> list[tuple[Unit | None, list[Unit]]]:
    """The picker's checkboxes grouped by the tree: each unit under its parent's heading
    (the units whose parent is not offered come first, under no heading)."""
    offered = {u.id for u in units}
    children: dict[int | None, list[Unit]] = defaultdict(list)
    for u in units:
        children[u.parent_id if u.parent_id in offered else None].append(u)
    groups: list[tuple[Unit | None, list[Unit]]] = [(None, children[None])] if children[None] else []
    groups += [(u, children[u.id]) for u in units if children.get(u.id)]
    return groups


def _target() -> dict | None:
    """The picker's answer as the schemas name it: every unit under one (``under:<id>``),
    or the ticked units; None when nothing is chosen."""
    target = request.form.get("target", "")
    if target.startswith("under:") and target[6:].isdigit():
        return {"all_units_under": int(target[6:])}
    ticked = request.form.getlist("unit_ids", type=db_int)
    return {"unit_ids": ticked} if target == "some" and ticked else None


def _picker(plan_id: int) -> dict:
    units = plans.assignable_units(rt().db, g.user, plan_id)
    return {"groups": unit_groups(units), "parents": [u for u in units if any(v.parent_id == u.id for v in units)]}


# ---- a plan ---------------------------------------------------------------------------------
@bp.route("/plans/new", methods=["GET", "POST"])
@login_required
def plan_new():
    require(permissions.may_issue_plans(facts(g.user).who), "只有督办人员可以下发整改方案。")
    if request.method == "POST":
        f = request.form
        body = {
            "title": f.get("title", ""),
            "doc_number": f.get("doc_number", ""),
            "issuing_unit_id": f.get("issuing_unit_id") or None,
            "issued_on": f.get("issued_on", ""),
            "evidence_required": f.get("evidence_required") == "1",
            "workdays_from": f.get("workdays_from", "received"),
            "phases": _phases(),
        }
        try:
            plan = plans.create_plan(rt().db, g.user, PlanIn.model_validate(body, strict=False))
        except (ServiceError, ValidationError) as err:
            form_failed(err)
            return redirect(url_for("web.plan_new"))
        say("整改方案已下发。接下来可添加问题、设置报送要求和提醒规则。")
        return redirect(url_for("web.plan_detail", plan_id=plan.id))
    today = rt().clock().astimezone(CHINA).date()
    return render_template(
        "plan_form.html", units=plans.issuing_units(rt().db, g.user), phase_rows=PHASE_ROWS, today=today
    )


def _phases() -> list[dict]:
    f = request.form
    return [
        {"name": name.strip(), "deadline": deadline.strip()}
        for name, deadline in zip(f.getlist("phase_name"), f.getlist("phase_deadline"), strict=False)
        if name.strip() or deadline.strip()
    ]


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
@login_required
def plan_edit(plan_id: int):
    db = rt().db
    plan, _ = plans.get_plan(db, g.user, plan_id, rt().clock())
    f_ = facts(g.user, plan)
    require(permissions.may_edit_plan(f_.who, f_.plan), "只有方案下发单位的督办人员可以修改整改方案。")
    if request.method == "POST":
        f = request.form
        body = {
            "title": f.get("title", ""),
            "doc_number": f.get("doc_number", ""),
            "evidence_required": f.get("evidence_required") == "1",
            "phases": _phases(),
            "version": f.get("version", ""),
        }
        try:
            plans.update_plan(db, g.user, plan_id, PlanEditIn.model_validate(body, strict=False))
        except (ServiceError, ValidationError) as err:
            form_failed(err)
            return redirect(url_for("web.plan_edit", plan_id=plan_id))
        say("整改方案已修改。")
        return redirect(url_for("web.plan_detail", plan_id=plan_id))
    return render_template("plan_edit.html", plan=plan, phase_rows=len(plan.phases) + PHASE_ROWS)


# ---- a problem ------------------------------------------------------------------------------
@bp.route("/plans/<int:plan_id>/problems/new", methods=["GET", "POST"])
@login_required
def problem_new(plan_id: int):
    picker = _picker(plan_id)  # 404 for a plan out of sight, 403 for one the user may add nothing to
    if request.method == "POST":
        target = _target()
        if target is None:
            say("请选择责任单位：某单位的全部下级单位，或勾选具体单位。", "error")
            return redirect(url_for("web.problem_new", plan_id=plan_id))
        body = _problem_fields() | {"seq": request.form.get("seq") or None}
        try:
            data = ProblemIn.model_validate(body | target, strict=False)
            problem = plans.create_problem(rt().db, g.user, plan_id, data, rt().clock())
        except (ServiceError, ValidationError) as err:
            form_failed(err)
            return redirect(url_for("web.problem_new", plan_id=plan_id))
        _, _, count = plans.get_problem(rt().db, g.user, problem.id)
        say("问题已添加，分解为 {n} 项整改任务。", n=count)
        return redirect(url_for("web.plan_detail", plan_id=plan_id))
    plan, _ = plans.get_plan(rt().db, g.user, plan_id, rt().clock())
    return render_template("problem_form.html", plan=plan, **picker)


def _problem_fields() -> dict:
    f = request.form
    fields = ("category", "title", "description", "source", "measures", "deadline", "remarks", "nature")
    return {k: f.get(k, "") for k in fields}


@bp.route("/problems/<int:problem_id>/edit", methods=["GET", "POST"])
@login_required
def problem_edit(problem_id: int):
    """Edit a problem: its words, deadline and units, through the same picker and rules as
    adding one; the tasks follow (app.services.tasks.update_problem)."""
    db, now = rt().db, rt().clock()
    problem, _, _ = plans.get_problem(db, g.user, problem_id)
    plan, _ = plans.get_plan(db, g.user, problem.plan_id, now)
    f_ = facts(g.user, plan)
    require(permissions.may_edit_problem(f_.who, f_.plan), "只有方案下发单位的督办人员可以修改问题。")
    here = url_for("web.problem_edit", problem_id=problem_id)
    if request.method == "POST":
        target = _target()
        if target is None:
            say("请选择责任单位：某单位的全部下级单位，或勾选具体单位。", "error")
            return redirect(here)
        f = request.form
        body = _problem_fields() | {"reason": f.get("reason", ""), "version": f.get("version", "")}
        try:
            data = ProblemEditIn.model_validate(body | target, strict=False)
            edit = tasks.update_problem(db, g.user, problem_id, data, now)
        except (ServiceError, ValidationError) as err:
            form_failed(err)
            return redirect(here)
        say(
            EDITED,
            added=len(edit.added),
            withdrawn=len(edit.withdrawn),
            redated=len(edit.redated),
        )
        return redirect(url_for("web.problem_detail", problem_id=problem_id))
    chosen = {t.unit_id for t, _ in plans.problem_tasks(db, g.user, problem_id) if t.state != State.WITHDRAWN}
    return render_template("problem_form.html", plan=plan, problem=problem, chosen=chosen, **_picker(plan.id))


@bp.get("/problems/<int:problem_id>")
@login_required
def problem_detail(problem_id: int):
    """One problem: what it says, the tasks it fanned out to, and (for the plan's
    supervisors) its withdrawal; a withdrawn problem shows who withdrew it, when and why."""
    db, now = rt().db, rt().clock()
    problem, state, count = plans.get_problem(db, g.user, problem_id)
    plan, _ = plans.get_plan(db, g.user, problem.plan_id, now)
    f = facts(g.user, plan)
    return render_template(
        "problem.html",
        plan=plan,
        problem=problem,
        state=state,
        count=count,
        rows=plans.problem_tasks(db, g.user, problem_id),
        # the problem's withdrawal, once nothing of it is left open (a unit taken off by an
        # edit shows as its task's state, with the reason in that task's history)
        withdrawal=plans.withdrawal(db, g.user, problem_id) if state not in WITHDRAWABLE else None,
        withdraws=permissions.may_withdraw_problem(f.who, f.plan) and state in WITHDRAWABLE,
        edits=permissions.may_edit_problem(f.who, f.plan) and state is not State.WITHDRAWN,
    )


@bp.post("/problems/<int:problem_id>/withdraw")
@login_required
def problem_withdraw(problem_id: int):
    try:
        data = WithdrawIn.model_validate({"reason": request.form.get("reason", "")}, strict=False)
        withdrawn = tasks.withdraw_problem(rt().db, g.user, problem_id, data, rt().clock())
    except (ServiceError, ValidationError) as err:
        form_failed(err)
    else:
        say(
            "问题已撤销：{n} 项任务不再计入未办结数，提醒和督办随之停止；撤销理由已记入各任务的办理记录。",
            n=len(withdrawn),
        )
    return redirect(url_for("web.problem_detail", problem_id=problem_id))


# ---- a report owed --------------------------------------------------------------------------
@bp.route("/plans/<int:plan_id>/obligations/new", methods=["GET", "POST"])
@login_required
def obligation_new(plan_id: int):
    db, now = rt().db, rt().clock()
    plan, _ = plans.get_plan(db, g.user, plan_id, now)
    f_ = facts(g.user, plan)
    require(permissions.supervises(f_.who, f_.plan), "只有方案下发单位的督办人员可以设置报送要求。")
    picker = _picker(plan_id)
    if request.method == "POST":
        target = _target()
        if target is None:
            say("请选择报送单位：某单位的全部下级单位，或勾选具体单位。", "error")
            return redirect(url_for("web.obligation_new", plan_id=plan_id))
        f = request.form
        body = {
            "title": f.get("title", ""),
            "schedule": f.get("schedule", ""),
            "ends_on": f.get("ends_on") or None,
            "from_ledger": f.get("from_ledger") or None,
        }
        try:
            data = ObligationIn.model_validate(body | target, strict=False)
            obligations.create_obligation(db, g.user, plan_id, data, now)
        except (ServiceError, ValidationError) as err:
            form_failed(err)
            return redirect(url_for("web.obligation_new", plan_id=plan_id))
        say("报送要求已设置，各单位将按时收到提醒。")
        return redirect(url_for("web.plan_detail", plan_id=plan_id))
    return render_template("obligation_form.html", plan=plan, **picker)


# ---- a report's file ------------------------------------------------------------------------
@bp.get("/submissions/<int:submission_id>/file")
@login_required
def submission_file(submission_id: int):
    """The file a unit handed in, for whoever sees the report: always a download."""
    sub, path = obligations.open_report_file(rt().db, rt().config.UPLOAD_DIR, g.user, submission_id)
    return stored_file(path, sub.file_type or "application/octet-stream", sub.file_name or path.name)
