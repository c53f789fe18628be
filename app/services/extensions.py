"""Deadline extensions (延期): the unit asks, the supervising side decides.

Approval moves the deadline, cancels what is still unsent, and starts a fresh ladder
(escalation level back to 0, off the public-notice list) from the moment of approval.
Both the request and the decision go into the task's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from app.db import Database
from app.domain import extensions as flow
from app.domain.deadlines import CHINA, DeadlineError, basis_of, parse_deadline
from app.domain.extensions import ExtensionState
from app.domain.permissions import Actor
from app.domain.reminders import ladder_columns
from app.domain.workflow import OPEN_STATES, State, TransitionError
from app.models import ExtensionRequest, Task, User
from app.schemas import ExtensionDecisionIn, ExtensionIn
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Invalid, NotFound, refusal
from app.services.events import notify, task_event
from app.services.history import add_event
from app.services.scope import get_visible_task, task_actor
from app.services.tasks import cancel_pending

_PENDING = ExtensionRequest.state == ExtensionState.PENDING.value


def request_extension(db: Database, actor: User, task_id: int, data: ExtensionIn, now: datetime) -> ExtensionRequest:
    with db.transaction() as s:
        user = s.get(User, actor.id)
        task = get_visible_task(s, user, task_id, lock=True)  # of two requests, the second sees the first
        pending = s.scalar(select(ExtensionRequest.state).where(ExtensionRequest.task_id == task.id, _PENDING))
        state = ExtensionState(pending) if pending else None
        try:
            flow.check("request", state, State(task.state), task_actor(s, user, task), data.reason)
        except TransitionError as err:
            raise refusal(err) from None
        try:
            # read against today, not the plan's issue date: 「12月31日」 asked for now means this December
            dl = parse_deadline(data.deadline, now.astimezone(CHINA).date(), load_calendar(s))
        except DeadlineError as err:
            raise Invalid(err.template, [{"field": "deadline", "message": str(err)}], **err.params) from None
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
        seq = add_event(
            s, task, "extension_requested", user.id, now, data.reason, {"request": req.id, "deadline": dl.text}
        )
        notify(s, [task_event(s, "extension_requested", task, user, seq, data.reason, deadline=dl.text)], now)
    return req


def decide_extension(
    db: Database, actor: User, request_id: int, data: ExtensionDecisionIn, now: datetime
) -> ExtensionRequest:
    with db.transaction() as s:
        user = s.get(User, actor.id)
        req = s.get(ExtensionRequest, request_id)
        if req is None:
            raise NotFound("延期申请 {id} 不存在或不在您的权限范围内。", id=request_id)
        try:
            task = get_visible_task(s, user, req.task_id)
        except NotFound:
            raise NotFound("延期申请 {id} 不存在或不在您的权限范围内。", id=request_id) from None
        name, actor_rel = "approve" if data.approve else "deny", task_actor(s, user, task)
        try:
            move = flow.check(name, ExtensionState(req.state), State(task.state), actor_rel, data.comment)
        except TransitionError as err:
            raise refusal(err) from None
        old_due_at = task.due_at
        # of two deciders, or a decision racing the task's rectification, one wins; the other gets 409
        decided = s.execute(
            update(ExtensionRequest)
            .where(ExtensionRequest.id == req.id, ExtensionRequest.state == move.source)
            .values(state=move.target.value, decided_by_id=user.id, decided_at=now, decision_comment=data.comment)
        ).rowcount
        values: dict = {"updated_at": now}
        if data.approve:
            # what the granted date counts from, for when the working-day calendar changes
            asked = parse_deadline(req.new_deadline_text, req.requested_at.astimezone(CHINA).date(), load_calendar(s))
            values |= {
                "due_at": req.new_due_at,
                "deadline_kind": "date",
                "deadline_text": req.new_deadline_text,
                "deadline_basis": basis_of(asked, "requested"),
                "deadline_from": asked.counted_from,
                "calendar_provisional": asked.provisional,
                "active_since": now,
                "swept_until": now,
                "next_action_at": now,
                **ladder_columns(0),
                "version": Task.version + 1,
            }
        still_open = Task.state.in_([st.value for st in OPEN_STATES])
        touched = s.execute(update(Task).where(Task.id == task.id, still_open).values(**values)).rowcount
        if decided != 1 or touched != 1:
            raise Conflict("该延期申请或其任务已被他人处理，请刷新后查看。")
        if data.approve:
            cancel_pending(s, "task", task.id)
        seq = add_event(
            s,
            task,
            f"extension_{move.target.value}",
            user.id,
            now,
            data.comment,
            {
                "request": req.id,
                "deadline": req.new_deadline_text,
                "old_due_at": old_due_at.isoformat() if old_due_at else None,
            },
        )
        s.refresh(req)
        s.refresh(task)
        decided = task_event(
            s,
            "extension_decided",
            task,
            user,
            seq,
            data.comment,
            involved=(req.requested_by_id,),
            deadline=req.new_deadline_text,
            approved=data.approve,
        )
        notify(s, [decided], now)
    return req


def list_extensions(db: Database, viewer: User, task_id: int) -> list[ExtensionRequest]:
    s = db.session()
    task = get_visible_task(s, viewer, task_id)
    return list(
        s.scalars(select(ExtensionRequest).where(ExtensionRequest.task_id == task.id).order_by(ExtensionRequest.id))
    )


@dataclass(frozen=True)
class Offers:
    """What a task's page offers its viewer about extensions."""

    request: bool  # the request form
    decide: frozenset[int]  # the requests they may approve or deny


def offers(task: Task, actor: Actor, requests: list[ExtensionRequest]) -> Offers:
    state = State(task.state)
    pending = any(r.state == ExtensionState.PENDING for r in requests)
    return Offers(
        request=flow.may("request", ExtensionState.PENDING if pending else None, state, actor),
        decide=frozenset(r.id for r in requests if flow.may("approve", ExtensionState(r.state), state, actor)),
    )
