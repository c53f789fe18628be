"""Spot checks (抽查): the supervisor draws finished tasks to re-check; the draw is
recorded, and a failed re-check reopens the task (问题反弹), through the same
workflow as any other move, so it lands in the task's history."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select

from app.db import Database
from app.domain import permissions, sampling
from app.domain.workflow import State
from app.models import Plan, SpotCheck, SpotCheckItem, Task, User
from app.schemas import TransitionIn
from app.services.errors import Conflict, Invalid, NotFound
from app.services.scope import facts, get_visible_plan, require, task_visible
from app.services.tasks import move_task


def draw(db: Database, actor: User, plan_id: int, size: int, seed: int, now: datetime) -> SpotCheck:
    if not 1 <= size <= 500:
        raise Invalid("样本数应在 1 到 500 之间。")
    with db.transaction() as s:
        plan = get_visible_plan(s, actor, plan_id)
        f = facts(actor, plan)
        require(permissions.may_spot_check(f.who, f.plan), "只有方案下发单位的督办人员可以抽查。")
        all_tasks = s.execute(select(Task.id, Task.unit_id, Task.state).where(Task.plan_id == plan.id)).all()
        counts = Counter(unit for _, unit, _ in all_tasks)
        weights = sampling.unit_weights(counts)
        population = [(tid, unit) for tid, unit, st in all_tasks if st in (State.VERIFIED, State.CLOSED)]
        if not population:
            raise Conflict("本方案还没有已核实或已销号的任务，无可抽查。")
        chosen = sampling.draw(population, weights, size, seed)
        check = SpotCheck(
            plan_id=plan.id,
            drawn_by_id=actor.id,
            drawn_at=now,
            seed=seed,
            size=size,
            population=len(population),
            weights={str(u): round(w, 4) for u, w in weights.items()},
        )
        check.items = [SpotCheckItem(task_id=tid) for tid in chosen]
        s.add(check)
    return check


def list_checks(db: Database, viewer: User, plan_id: int) -> list[SpotCheck]:
    """The draws of a plan: its issuing side's work, not shown to the units checked (404)."""
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    f = facts(viewer, plan)
    if not permissions.sees_spot_checks(f.who, f.plan):
        raise NotFound(f"整改方案 {plan_id} 的抽查记录不存在或不在您的权限范围内。")
    return list(s.scalars(select(SpotCheck).where(SpotCheck.plan_id == plan.id).order_by(SpotCheck.id.desc())))


def record_result(db: Database, actor: User, item_id: int, passed: bool, comment: str, now: datetime) -> SpotCheckItem:
    """Record a re-check; a failure reopens the task in the same transaction, so there is
    never a failed check with a task still closed, or the reverse."""
    if not passed and not comment.strip():
        raise Invalid("复核不通过需要写明发现的问题。")
    with db.transaction() as s:
        item = s.get(SpotCheckItem, item_id)
        if item is None or s.scalar(select(Task.id).where(Task.id == item.task_id, task_visible(actor))) is None:
            raise NotFound(f"抽查记录 {item_id} 不存在或不在您的权限范围内。")
        who, plan, _ = facts(actor, s.get(Plan, item.check.plan_id))
        require(permissions.may_spot_check(who, plan), "只有方案下发单位的督办人员可以登记复核结果。")
        if item.result != "pending":
            raise Conflict("该抽查任务已登记复核结果。")
        if not passed:
            task = s.get(Task, item.task_id)
            reopen = TransitionIn(to=State.IN_PROGRESS, comment=f"抽查复核不通过：{comment}", version=task.version)
            move_task(s, actor, task.id, reopen, now)
        item.result = "passed" if passed else "failed"
        item.checked_by_id, item.checked_at, item.comment = actor.id, now, comment
    return item
