"""Who sees what. A user sees tasks of their own unit and the units under it, and
everything in plans their unit (or a unit under it) issued. Admins see everything.
Anything outside is reported as "not found", never "forbidden"."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.orm import Session

from app.domain.workflow import Actor
from app.models import Plan, Task, Unit, User
from app.services.errors import NotFound


def units_under(user: User):
    """Select of the ids of the user's unit and all units below it."""
    return select(Unit.id).where(Unit.path.startswith(user.unit.path))


def plan_visible(user: User) -> ColumnElement[bool]:
    """A plan is visible to its issuer's subtree and to units it has tasks for."""
    if user.role == "admin":
        return true()
    issued_by_us = Plan.issuing_unit_id.in_(units_under(user))
    assigned_to_us = exists(select(Task.id).where(Task.plan_id == Plan.id, Task.unit_id.in_(units_under(user))))
    return or_(issued_by_us, assigned_to_us)


def task_visible(user: User) -> ColumnElement[bool]:
    """Tasks of the user's unit and the units under it. That also covers every task of
    a plan the user's unit issued, because a plan only assigns units under its issuer
    (see plans._target_units), so one indexable condition is enough."""
    if user.role == "admin":
        return true()
    return Task.unit_id.in_(units_under(user))


def unit_visible(user: User) -> ColumnElement[bool]:
    if user.role == "admin":
        return true()
    return Unit.path.startswith(user.unit.path)


def get_visible_task(s: Session, user: User, task_id: int) -> Task:
    task = s.scalar(select(Task).where(Task.id == task_id, task_visible(user)))
    if task is None:
        raise NotFound(f"任务 {task_id} 不存在或不在您的权限范围内。")
    return task


def get_visible_plan(s: Session, user: User, plan_id: int) -> Plan:
    plan = s.scalar(select(Plan).where(Plan.id == plan_id, plan_visible(user)))
    if plan is None:
        raise NotFound(f"整改方案 {plan_id} 不存在或不在您的权限范围内。")
    return plan


def supervises(user: User, plan: Plan) -> bool:
    """A supervisor of the unit that issued the plan, or of a unit above it."""
    return user.role == "supervisor" and plan.issuing_unit.is_within(user.unit)


def actor_for(user: User, task: Task, issuing_unit: Unit) -> Actor:
    """The user's relation to one task, as the workflow rules need it."""
    return Actor(
        user_id=user.id,
        role=user.role,
        responsible=user.unit_id == task.unit_id,
        supervising=issuing_unit.is_within(user.unit),
    )
