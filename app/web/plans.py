"""Plans, the task ledger, one task's page with its actions, evidence and the 督办单."""

from __future__ import annotations

import segno
from flask import g, jsonify, redirect, render_template, request, url_for
from pydantic import ValidationError

from app.domain import permissions
from app.domain.deadlines import CHINA
from app.domain.reminders import on_notice_list
from app.domain.workflow import STATE_LABELS, WITHDRAWABLE, State
from app.http import stored_file
from app.schemas import ExtensionDecisionIn, ExtensionIn, TaskQuery, TransitionIn, db_int
from app.services import (
    answers,
    bulk,
    evidence,
    extensions,
    lookbacks,
    notices,
    obligations,
    org,
    plans,
    queue,
    receipt,
    tasks,
    urges,
)
from app.services.errors import ServiceError
from app.services.scope import facts
from app.web import back, bp, form_failed, lang, login_required, rt, say
from app.web.i18n import refusal

INLINE_UNITS = 60  # a unit filter's choices printed into the page up to this many

# Each move as a person names it (its button and its line in the history), what the page
# says once it is done, and what its comment is called.
MOVES = {
    ("identified", "in_progress"): ("开始整改", "已开始整改。", None),
    ("in_progress", "rectified"): ("提交整改", "已提交整改，等待督办单位核实。", "整改情况"),
    ("rectified", "in_progress"): ("退回整改", "已退回整改，责任单位将看到退回理由。", "退回理由"),
    ("rectified", "verified"): ("核实通过", "已核实通过。", None),
    ("verified", "closed"): ("销号", "已销号。", None),
    ("closed", "in_progress"): ("重新打开", "已重新打开，任务回到整改中。", "重新打开理由"),
    ("verified", "in_progress"): ("重新打开", "已重新打开，任务回到整改中。", "重新打开理由"),
    **{
        (st.value, "withdrawn"): ("撤销任务", "已撤销，该任务不再计入未办结数，提醒和督办随之停止。", "撤销理由")
        for st in WITHDRAWABLE
    },
}
INLINE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@bp.get("/")
@login_required
def index():
    now = rt().clock()
    mine = TaskQuery(sort="due", per_page=20)
    page = tasks.list_tasks(rt().db, g.user, mine, now)
    return render_template(
        "index.html",
        work=queue.my_work(rt().db, g.user, now),
        plans=plans.list_plans(rt().db, g.user, now),
        tasks=page.items,
        page=page,
        query=mine,
        states=list(State),
    )


@bp.get("/plans")
@login_required
def plan_list():
    return render_template(
        "plans.html",
        plans=plans.list_plans(rt().db, g.user, rt().clock()),
        issues=permissions.may_issue_plans(facts(g.user).who),
    )


@bp.get("/plans/<int:plan_id>")
@login_required
def plan_detail(plan_id: int):
    db, now = rt().db, rt().clock()
    plan, figures, problems = plans.plan_page(db, g.user, plan_id, now)
    f = facts(g.user, plan)
    return render_template(
        "plan.html",
        plan=plan,
        figures=figures,
        answered=answers.answered_plan(db, g.user, plan),
        may_answer=permissions.may_answer_plan(f.who, f.plan, answers.receives(db, g.user, plan)),
        below=answers.tree(db, g.user, plan_id, now),
        lookbacks=lookbacks.plan_lookbacks(db, g.user, plan_id),
        problems=problems,
        submissions=obligations.list_submissions(db, g.user, plan_id),
        supervising=permissions.supervises(f.who, f.plan),
        adds_problems=permissions.may_add_problems(f.who, f.plan),
        sees_spot_checks=permissions.sees_spot_checks(f.who, f.plan),
        to_acknowledge=receipt.awaiting_count(db, g.user, plan_id),
        today=now.astimezone(CHINA).date().isoformat(),
    )


def _task_query() -> TaskQuery:
    args = {k: v for k, v in request.args.items() if v != ""}
    try:
        return TaskQuery.model_validate(args)
    except ValidationError:
        say("筛选条件有误，已恢复默认。", "error")
        return TaskQuery()


@bp.get("/tasks")
@login_required
def task_list():
    db = rt().db
    q = _task_query()
    page = tasks.list_tasks(db, g.user, q, rt().clock())
    units = org.unit_choices(db, g.user, limit=INLINE_UNITS + 1)
    units_url = None
    if len(units) > INLINE_UNITS:  # a city's thousand: the page carries the chosen one, app.js the rest
        units_url = url_for("web.unit_choices")
        units = org.unit_choices(db, g.user, unit_id=q.unit_id) if q.unit_id else []
    args = {k: v for k, v in request.args.items() if k not in ("page", "after", "before") and v != ""}
    return render_template(
        "tasks.html",
        tasks=page.items,
        page=page,
        bulk_offers=bulk.offers(page.items),
        query=q,
        states=list(State),
        units=units,
        units_url=units_url,
        args=args,
        plans=plans.plan_choices(db, g.user),
    )


@bp.get("/units/choices")
@login_required
def unit_choices():
    """The units the reader sees, ``[[id, name], …]`` in tree order, for the task list's
    unit filter when they are too many to print into every page: the browser keeps the
    list five minutes, so paging through the tasks costs no more than its rows."""
    resp = jsonify(org.unit_choices(rt().db, g.user))
    resp.headers["Cache-Control"] = "private, max-age=300"
    # an office's shared computer: whoever signs in next (a new session cookie) asks anew
    resp.headers["Vary"] = "Cookie"
    return resp


@bp.get("/tasks/<int:task_id>")
@login_required
def task_detail(task_id: int):
    db = rt().db
    view = tasks.get_task(db, g.user, task_id, rt().clock())
    requests = extensions.list_extensions(db, g.user, task_id)
    files = evidence.list_evidence(db, g.user, task_id)
    receipt_offers = receipt.offers(view.task, view.actor)
    return render_template(
        "task.html",
        v=view,
        history=tasks.history(db, g.user, task_id),
        files=files,
        requests=requests,
        answers=answers.answers_of(db, g.user, task_id),
        lookbacks=lookbacks.task_lookbacks(db, g.user, task_id),
        offers=extensions.offers(view.task, view.actor, requests),
        receipt_offers=receipt_offers,
        redirect_units=receipt.redirect_units(db, g.user, task_id) if receipt_offers.redirect else [],
        moves=[(st, *MOVES[(view.task.state, st.value)][::2]) for st in view.allowed],
        move_names={k: (label, why) for k, (label, _, why) in MOVES.items()},
        evidence_of={f.id: f for f in files},
        inline=INLINE_IMAGES,
        labels=STATE_LABELS,
        on_notice_list=on_notice_list,
    )


def _back_to(task_id: int):
    return redirect(url_for("web.task_detail", task_id=task_id))


@bp.post("/tasks/<int:task_id>/transition")
@login_required
def task_transition(task_id: int):
    try:
        data = TransitionIn.model_validate(
            {
                "to": request.form.get("to", ""),
                "comment": request.form.get("comment", ""),
                "version": request.form.get("version", ""),
            },
            strict=False,
        )
        before = tasks.get_task(rt().db, g.user, task_id, rt().clock()).task.state
        after = tasks.transition_task(rt().db, g.user, task_id, data, rt().clock()).task.state
    except (ServiceError, ValidationError) as err:
        form_failed(err)
        return _back_to(task_id)
    say(MOVES[(before, after)][1])
    return _back_to(task_id)


@bp.post("/tasks/urge")
@login_required
def task_urge():
    """催办 one task (from its page) or the tasks ticked in the list."""
    ids = request.form.getlist("task_id", type=db_int)
    if not ids:
        say("请先勾选要催办的任务。", "error")
    else:
        try:
            result = urges.urge_tasks(rt().db, g.user, ids, request.form.get("comment", "").strip(), rt().clock())
        except ServiceError as err:
            form_failed(err)
        else:
            say("已催办 {n} 项任务。", n=len(result.urged))
            for task_id, why in result.skipped:
                say("任务 {id} 未催办：{why}", "error", id=task_id, why=refusal(why, lang()))
    return back(url_for("web.task_list"))


@bp.post("/tasks/<int:task_id>/evidence")
@login_required
def task_upload(task_id: int):
    """One or more files (a photo just taken, or several picked), each stored as it comes;
    a refused file stops there and says why, the ones before it are kept."""
    uploads = [f for f in request.files.getlist("file") if f.filename]
    if not uploads:
        say("请选择要上传的文件。", "error")
        return _back_to(task_id)
    r = rt()
    stored = 0
    for upload in uploads:
        try:
            evidence.store_evidence(
                r.db,
                r.config.UPLOAD_DIR,
                r.config.MAX_UPLOAD_BYTES,
                g.user,
                task_id,
                upload.stream,
                upload.filename,
                r.clock(),
            )
        except ServiceError as err:
            form_failed(err)
            break
        stored += 1
    if stored:
        say("佐证材料已上传：{n} 份。", n=stored)
    return _back_to(task_id)


@bp.get("/evidence/<int:evidence_id>")
@login_required
def evidence_file(evidence_id: int):
    """Downloads are attachments; only images whose bytes were checked at upload are
    shown inline (as thumbnails), still with nosniff and a sandboxing CSP."""
    r = rt()
    ev, path = evidence.open_evidence(r.db, r.config.UPLOAD_DIR, g.user, evidence_id)
    inline = request.args.get("inline") == "1" and ev.content_type in INLINE_IMAGES
    return stored_file(path, ev.content_type, ev.original_name, inline)


@bp.post("/tasks/<int:task_id>/extensions")
@login_required
def task_extension(task_id: int):
    try:
        data = ExtensionIn(deadline=request.form.get("deadline", ""), reason=request.form.get("reason", ""))
        extensions.request_extension(rt().db, g.user, task_id, data, rt().clock())
    except (ServiceError, ValidationError) as err:
        form_failed(err)
        return _back_to(task_id)
    say("延期申请已提交。")
    return redirect(url_for("web.task_detail", task_id=task_id))


@bp.post("/extensions/<int:request_id>/decision")
@login_required
def extension_decision(request_id: int):
    task_id = request.form.get("task_id", type=db_int) or 0
    try:
        data = ExtensionDecisionIn(approve=request.form.get("approve") == "1", comment=request.form.get("comment", ""))
        extensions.decide_extension(rt().db, g.user, request_id, data, rt().clock())
    except (ServiceError, ValidationError) as err:
        form_failed(err)
        return _back_to(task_id)
    say("延期申请已审批。")
    return redirect(url_for("web.task_detail", task_id=task_id))


@bp.get("/tasks/<int:task_id>/notice")
@login_required
def task_notice(task_id: int):
    """督办单: a printable supervision notice for an overdue task, with a QR code to it."""
    r = rt()
    notice = notices.open_notice(r.db, g.user, task_id, r.clock())
    link = r.config.BASE_URL.rstrip("/") + url_for("web.task_detail", task_id=task_id)
    qr = segno.make(link, error="m").svg_data_uri(scale=3)  # an <img> (CSP allows data: images)
    return render_template("notice.html", n=notice, v=notice.view, link=link, qr=qr)
