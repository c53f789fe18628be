"""Spot checks (抽查): the supervisor draws finished tasks to re-check; the draw is
recorded, and a failed re-check reopens the task (问题反弹), through the same
workflow as any other move, so it lands in the task's history."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select, update

from app.db import Database
from app.domain import permissions, rechecks, sampling
from app.domain.rechecks import RecheckState
from app.domain.workflow import State, TransitionError
from app.models import SpotCheck, SpotCheckItem, Task, User
from app.schemas import TransitionIn
from app.services.errors import Conflict, Invalid, NotFound, refusal
from app.services.scope import facts, get_visible_plan, require, task_actor, task_visible
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
        raise NotFound("整改方案 {id} 的抽查记录不存在或不在您的权限范围内。", id=plan_id)
    return list(s.scalars(select(SpotCheck).where(SpotCheck.plan_id == plan.id).order_by(SpotCheck.id.desc())))


def record_result(db: Database, actor: User, item_id: int, passed: bool, comment: str, now: datetime) -> SpotCheckItem:
    """Record a re-check; a failure reopens the task in the same transaction, so there is
    never a failed check with a task still closed, or the reverse."""
    with db.transaction() as s:
        item = s.get(SpotCheckItem, item_id)
        if item is None or s.scalar(select(Task.id).where(Task.id == item.task_id, task_visible(actor))) is None:
            raise NotFound("抽查记录 {id} 不存在或不在您的权限范围内。", id=item_id)
        task = s.get(Task, item.task_id)
        try:
            move = rechecks.TABLE.check(
                "pass" if passed else "fail", RecheckState(item.result), task_actor(s, actor, task), comment
            )
        except TransitionError as err:
            raise refusal(err) from None
        recorded = s.execute(
            update(SpotCheckItem)
            .where(SpotCheckItem.id == item.id, SpotCheckItem.result == move.source)
            .values(result=move.target.value, checked_by_id=actor.id, checked_at=now, comment=comment)
        ).rowcount
        if recorded != 1:
            raise Conflict("该抽查任务已由他人登记复核结果，请刷新后查看。")
        if not passed:
            reopen = TransitionIn(to=State.IN_PROGRESS, comment=f"抽查复核不通过：{comment}", version=task.version)
            move_task(s, actor, task.id, reopen, now)
    return item
