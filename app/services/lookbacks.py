"""The look-back (回头看): some days after a task is struck off, the issuing side re-checks
it. The plan's policy (``lookback_days``) schedules one per closure
(app.services.tasks.schedule_lookback); the sweep reminds and escalates it to the issuing
unit's people like any other item; the re-check confirms the fix held or reopens the task
as 问题反弹 with what was found, through the task workflow, in one transaction. The states
are app.domain.rechecks' (the spot checks' own), the moves its LOOKBACK table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased

from app.db import Database
from app.domain import rechecks
from app.domain.rechecks import RecheckState
from app.domain.workflow import State, TransitionError
from app.models import Lookback, Problem, Task, Unit, User
from app.schemas import LookbackIn, TransitionIn
from app.services.errors import Conflict, NotFound, refusal
from app.services.events import notify, task_event
from app.services.scope import get_visible_plan, get_visible_task, task_actor, task_visible
from app.services.tasks import cancel_pending, move_task


@cache
def current_clause():
    """Look-backs of a task still struck off by the closure they were scheduled for: a task
    reopened meanwhile (and perhaps closed again, with a look-back of its own) leaves the
    earlier one asking for nobody. Built once (it has no parameters; SQL expressions are
    immutable): the alias cost a third of the header's count, on every page."""
    later = aliased(Lookback)
    newer = exists(select(later.id).where(later.task_id == Lookback.task_id, later.closed_seq > Lookback.closed_seq))
    closed = Lookback.task_id.in_(select(Task.id).where(Task.state == State.CLOSED.value))
    return closed & ~newer


REOPENED = "该任务已被重新打开，不再是销号状态，无需回头看；再次销号后将重新安排回头看。"


@dataclass(frozen=True)
class LookbackView:
    lookback: Lookback
    title: str
    unit_name: str
    may_record: bool  # the viewer is on the supervising side and it is still pending


def _view(s, viewer: User, lb: Lookback, title: str, unit: str) -> LookbackView:
    task = s.get(Task, lb.task_id)
    may = rechecks.LOOKBACK.may("pass", RecheckState(lb.state), task_actor(s, viewer, task))
    may = may and s.scalar(select(Lookback.id).where(Lookback.id == lb.id, current_clause())) is not None
    return LookbackView(lb, title, unit, may)


def _rows(s, viewer: User, *where):
    return s.execute(
        select(Lookback, Problem.title, Unit.name)
        .join(Task, Lookback.task_id == Task.id)
        .join(Problem, Task.problem_id == Problem.id)
        .join(Unit, Lookback.unit_id == Unit.id)
        .where(task_visible(viewer), *where)
        .order_by(Lookback.due_at, Lookback.id)
    ).all()


def task_lookbacks(db: Database, viewer: User, task_id: int) -> list[LookbackView]:
    """A task's look-backs, oldest first (whoever sees the task sees them)."""
    s = db.session()
    task = get_visible_task(s, viewer, task_id)
    return [_view(s, viewer, *row) for row in _rows(s, viewer, Lookback.task_id == task.id)]


def plan_lookbacks(db: Database, viewer: User, plan_id: int) -> list[LookbackView]:
    """The look-backs of a plan's tasks the viewer sees, by due date."""
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    return [_view(s, viewer, *row) for row in _rows(s, viewer, Lookback.plan_id == plan.id)]


def record(db: Database, actor: User, lookback_id: int, data: LookbackIn, now: datetime) -> Lookback:
    """Confirm the look-back (the fix held) or record a rebound: the task reopens (closed →
    in progress) with what was found, its unit is told, and the figures count it."""
    with db.transaction() as s:
        user = s.get(User, actor.id)
        lb = s.get(Lookback, lookback_id)
        if lb is None or s.scalar(select(Task.id).where(Task.id == lb.task_id, task_visible(user))) is None:
            raise NotFound("回头看 {id} 不存在或不在您的权限范围内。", id=lookback_id)
        task = s.get(Task, lb.task_id)
        try:
            move = rechecks.LOOKBACK.check(
                "pass" if data.confirmed else "fail", RecheckState(lb.state), task_actor(s, user, task), data.comment
            )
        except TransitionError as err:
            raise refusal(err) from None
        if s.scalar(select(Lookback.id).where(Lookback.id == lb.id, current_clause())) is None:
            raise Conflict(REOPENED)
        changed = s.execute(
            update(Lookback)
            .where(Lookback.id == lb.id, Lookback.version == data.version, Lookback.state == move.source)
            .values(
                state=move.target.value,
                checked_by_id=user.id,
                checked_at=now,
                comment=data.comment,
                next_action_at=None,
                version=Lookback.version + 1,
            )
        ).rowcount
        if changed != 1:
            raise Conflict("该回头看已由他人登记结果或已被修改，请刷新后查看。")
        cancel_pending(s, "lookback", lb.id)
        if data.confirmed:
            notify(s, [task_event(s, "lookback_confirmed", task, user, lb.closed_seq, data.comment)], now)
        else:
            reopen = TransitionIn(
                to=State.IN_PROGRESS, comment=f"回头看发现问题反弹：{data.comment}", version=task.version
            )
            move_task(s, user, task.id, reopen, now, news="rebound", recorded={"rebound": True, "lookback": lb.id})
        s.refresh(lb)
    return lb
