"""Answering a plan with one's own (各县…制定整改方案), and recording a look-back (回头看)."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from pydantic import ValidationError

from app.domain.deadlines import CHINA
from app.schemas import AnswerIn, LookbackIn, db_int
from app.services import answers, lookbacks, plans
from app.services.errors import ServiceError
from app.web import bp, form_failed, login_required, rt, say

UNASSIGNED = "第{seqs}项未勾选交办单位：请为每项纳入的问题勾选下级单位，或不纳入该项。"


@bp.route("/plans/<int:plan_id>/answer", methods=["GET", "POST"])
@login_required
def plan_answer(plan_id: int):
    """The county's own plan answering the city's: its 文号 and dates, and each received task
    carried (举一反三) to the units under it, ticked; its own findings are added afterwards."""
    db = rt().db
    received = answers.received_tasks(db, g.user, plan_id)
    if request.method == "POST":
        f = request.form
        carry = [
            {
                "task_id": tid,
                "unit_ids": f.getlist(f"units_{tid}", type=db_int) or None,
                "deadline": f.get(f"deadline_{tid}", "").strip() or None,
            }
            for tid in f.getlist("carry", type=db_int)
        ]
        bare = [received_seq(received, c["task_id"]) for c in carry if not c["unit_ids"]]
        if bare:
            say(UNASSIGNED, "error", seqs="、".join(bare))
            return redirect(url_for("web.plan_answer", plan_id=plan_id))
        body = {
            "title": f.get("title", ""),
            "doc_number": f.get("doc_number", ""),
            "issued_on": f.get("issued_on", ""),
            "evidence_required": f.get("evidence_required") == "1",
            "holds_received": f.get("holds_received") == "1",
            "open_to_above": f.get("open_to_above") == "1",
            "carry": carry,
        }
        try:
            plan = answers.answer_plan(db, g.user, plan_id, AnswerIn.model_validate(body, strict=False), rt().clock())
        except (ServiceError, ValidationError) as err:
            form_failed(err)
            return redirect(url_for("web.plan_answer", plan_id=plan_id))
        say("答复方案已下发，所纳入的问题已交办下级单位。可继续添加本单位自查发现的问题。")
        return redirect(url_for("web.plan_detail", plan_id=plan.id))
    plan, _ = plans.get_plan(db, g.user, plan_id, rt().clock())
    return render_template(
        "answer_form.html",
        plan=plan,
        received=received,
        units=answers.units_under(db, g.user),
        today=rt().clock().astimezone(CHINA).date(),
    )


@bp.post("/lookbacks/<int:lookback_id>")
@login_required
def lookback_result(lookback_id: int):
    task_id = request.form.get("task_id", type=db_int) or 0
    body = {
        "confirmed": request.form.get("confirmed") == "1",
        "comment": request.form.get("comment", "").strip(),
        "version": request.form.get("version", ""),
    }
    try:
        lb = lookbacks.record(rt().db, g.user, lookback_id, LookbackIn.model_validate(body, strict=False), rt().clock())
    except (ServiceError, ValidationError) as err:
        form_failed(err)
    else:
        say("回头看已确认整改到位。" if body["confirmed"] else "已登记问题反弹，任务已重新交办整改。")
        task_id = lb.task_id
    return redirect(url_for("web.task_detail", task_id=task_id) + "#lookback")


def received_seq(received, task_id: int) -> str:
    """The problem number of a received task, as the form lists it."""
    return next((str(p.seq) for t, p in received if t.id == task_id), str(task_id))
