"""Deadline extensions (延期): the unit asks, the supervising side decides.

Approval moves the deadline, cancels what is still unsent, and starts a fresh ladder
(escalation level back to 0, off the public-notice list) from the moment of approval.
Both the request and the decision go into the task's history.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from app.db import Database
from app.domain.deadlines import CHINA, DeadlineError, basis_of, parse_deadline
from app.domain.workflow import OPEN_STATES
from app.models import ExtensionRequest, Plan, Task, User
from app.schemas import ExtensionDecisionIn, ExtensionIn
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.history import add_event
from app.services.scope import actor_for, get_visible_task
from app.services.tasks import cancel_pending


def request_extension(db: Database, actor: User, task_id: int, data: ExtensionIn, now: datetime) -> ExtensionRequest:
    with db.transaction() as s:
        user = s.get(User, actor.id)
        task = get_visible_task(s, user, task_id)
        plan = s.get(Plan, task.plan_id)
        if not actor_for(user, task, plan.issuing_unit).responsible or user.role not in ("official", "supervisor"):
            raise Forbidden("只有责任单位的人员可以申请延期。")
        if task.state not in OPEN_STATES:
            raise Conflict("只有尚未整改完成的任务可以申请延期。")
        if s.scalar(
            select(ExtensionRequest.id).where(ExtensionRequest.task_id == task.id, ExtensionRequest.state == "pending")
        ):
            raise Conflict("该任务已有待审批的延期申请。")
        try:
            # read against today, not the plan's issue date: 「12月31日」 asked for now means this December
            dl = parse_deadline(data.deadline, now.astimezone(CHINA).date(), load_calendar(s))
        except DeadlineError as err:
            raise Invalid(str(err), [{"field": "deadline", "message": str(err)}]) from None
        if dl.due_at is None:
            raise Invalid("延期后的时限必须是具体日期，例如「8月31日」。")
        if dl.due_at <= now or (task.due_at is not None and dl.due_at <= task.due_at):
            raise Invalid("延期后的时限必须晚于当前时限和今天。")
        req = ExtensionRequest(
            task_id=task.id,
            requested_by_id=user.id,
            requested_at=now,
            reason=data.reason,
            new_deadline_text=dl.text,
            new_due_at=dl.due_at,
        )
        s.add(req)
        s.flush()
        add_event(s, task, "extension_requested", user.id, now, data.reason, {"request": req.id, "deadline": dl.text})
    return req


def decide_extension(
    db: Database, actor: User, request_id: int, data: ExtensionDecisionIn, now: datetime
) -> ExtensionRequest:
    with db.transaction() as s:
        user = s.get(User, actor.id)
        req = s.get(ExtensionRequest, request_id)
        if req is None:
            raise NotFound(f"延期申请 {request_id} 不存在或不在您的权限范围内。")
        try:
            task = get_visible_task(s, user, req.task_id)
        except NotFound:
            raise NotFound(f"延期申请 {request_id} 不存在或不在您的权限范围内。") from None
        plan = s.get(Plan, task.plan_id)
        actor_rel = actor_for(user, task, plan.issuing_unit)
        if user.role != "supervisor" or not actor_rel.supervising or actor_rel.responsible:
            raise Forbidden("只有方案下发单位的督办人员可以审批延期。")
        if req.state != "pending":
            raise Conflict("该延期申请已处理。")
        if not data.approve and not data.comment.strip():
            raise Invalid("不予延期需要填写理由。")
        req.state = "approved" if data.approve else "denied"
        req.decided_by_id, req.decided_at, req.decision_comment = user.id, now, data.comment
        old_due_at = task.due_at
        if data.approve:
            # what the granted date counts from, for when the working-day calendar changes
            asked = parse_deadline(req.new_deadline_text, req.requested_at.astimezone(CHINA).date(), load_calendar(s))
            cancel_pending(s, "task", task.id)
            s.execute(
                update(Task)
                .where(Task.id == task.id)
                .values(
                    due_at=req.new_due_at,
                    deadline_kind="date",
                    deadline_text=req.new_deadline_text,
                    deadline_basis=basis_of(asked, "requested"),
                    deadline_from=asked.counted_from,
                    calendar_provisional=asked.provisional,
                    active_since=now,
                    swept_until=now,
                    next_action_at=now,
                    escalation_level=0,
                    public_notice=False,
                    version=Task.version + 1,
                    updated_at=now,
                )
            )
        add_event(
            s,
            task,
            "extension_approved" if data.approve else "extension_denied",
            user.id,
            now,
            data.comment,
            {
                "request": req.id,
                "deadline": req.new_deadline_text,
                "old_due_at": old_due_at.isoformat() if old_due_at else None,
            },
        )
    return req


def list_extensions(db: Database, viewer: User, task_id: int) -> list[ExtensionRequest]:
    s = db.session()
    task = get_visible_task(s, viewer, task_id)
    return list(
        s.scalars(select(ExtensionRequest).where(ExtensionRequest.task_id == task.id).order_by(ExtensionRequest.id))
    )
