"""The facts app.domain.permissions decides on, loaded from the database, and its seeing
rules as SQL for lists and figures.

:func:`facts` is the one place that turns a user, a plan and a record's unit into the
domain's plain facts; every service asks the domain module with them. The SQL clauses
below are built from :func:`app.domain.permissions.seen_subtree` and mirror
``sees_unit``, ``issuing_side``, ``sees_plan`` and ``sees_problem`` (a test checks that
they agree for every demo user and record). Anything outside is reported as "not found",
never "forbidden".
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import ColumnElement, exists, false, or_, select, true
from sqlalchemy.orm import Session

from app.domain import permissions
from app.domain.permissions import PlanFacts, Role, UnitFacts, Who
from app.models import Lookback, Plan, Problem, Submission, Task, Unit, User
from app.services.errors import Forbidden, NotFound


class Facts(NamedTuple):
    who: Who
    plan: PlanFacts | None
    unit: UnitFacts | None


def facts(user: User, plan: Plan | None = None, unit: Unit | None = None) -> Facts:
    """The actor, and optionally a plan and the unit of one of its records."""
    return Facts(
        Who(user.id, user.unit_id, user.unit.path, Role(user.role)),
        plan_facts(plan) if plan is not None else None,
        unit_facts(unit) if unit is not None else None,
    )


def plan_facts(plan: Plan) -> PlanFacts:
    return PlanFacts(plan.issuing_unit.id, plan.issuing_unit.path, plan.supervised_above)


def issued_by(issuer: Unit) -> PlanFacts:
    """The facts of a plan, from its issuing unit alone."""
    return PlanFacts(issuer.id, issuer.path)


def unit_facts(unit: Unit) -> UnitFacts:
    return UnitFacts(unit.id, unit.path)


def who(user: User) -> Who:
    return facts(user).who


def require(allowed: bool, message: str) -> None:
    """Refuse (403) what the actor can see but may not do."""
    if not allowed:
        raise Forbidden(message)


# ---- the seeing rules as SQL ----------------------------------------------------------------
def _seen_units(user: User):
    """Select of the ids of the units the user sees, or None for every unit."""
    prefix = permissions.seen_subtree(who(user))
    return None if prefix is None else select(Unit.id).where(Unit.path.startswith(prefix))


def unit_visible(user: User) -> ColumnElement[bool]:
    prefix = permissions.seen_subtree(who(user))
    return true() if prefix is None else Unit.path.startswith(prefix)


def task_visible(user: User) -> ColumnElement[bool]:
    """Tasks of a unit the user sees. That covers every task of a plan the user's unit
    issued too, because a plan only assigns units under its issuer (may_assign)."""
    seen = _seen_units(user)
    return true() if seen is None else Task.unit_id.in_(seen)


def submission_visible(user: User) -> ColumnElement[bool]:
    seen = _seen_units(user)
    return true() if seen is None else Submission.unit_id.in_(seen)


def issuing_side(user: User) -> ColumnElement[bool]:
    """Plans the user's unit issued, or that a unit under it issued."""
    seen = _seen_units(user)
    return true() if seen is None else Plan.issuing_unit_id.in_(seen)


def plan_visible(user: User) -> ColumnElement[bool]:
    """A plan is visible to its issuing side and to units that owe something in it."""
    if permissions.sees_everything(who(user)):
        return true()
    tasks_here = exists(select(Task.id).where(Task.plan_id == Plan.id, task_visible(user)))
    reports_here = exists(select(Submission.id).where(Submission.plan_id == Plan.id, submission_visible(user)))
    return or_(issuing_side(user), tasks_here, reports_here)


def problem_visible(user: User) -> ColumnElement[bool]:
    """Problems of a plan the user issued (or is above), or with a task the user sees.
    Use with Problem joined to its Plan."""
    if permissions.sees_everything(who(user)):
        return true()
    return or_(issuing_side(user), exists(select(Task.id).where(Task.problem_id == Problem.id, task_visible(user))))


# ---- the doing rules as SQL (for work queues) -------------------------------------------------
def task_acted_for(user: User) -> ColumnElement[bool]:
    """Tasks of the user's own unit, for a role that works them (permissions.acts_for)."""
    unit = permissions.acting_unit(who(user))
    return false() if unit is None else Task.unit_id == unit


def submission_acted_for(user: User) -> ColumnElement[bool]:
    unit = permissions.acting_unit(who(user))
    return false() if unit is None else Submission.unit_id == unit


def _supervised_plans(user: User):
    prefix = permissions.supervised_subtree(who(user))
    if prefix is None:
        return None
    # permissions.supervising_unit: above an answering plan closed to them, units only read
    opened = Plan.supervised_above.is_(True) | (Plan.issuing_unit_id == user.unit_id)
    return select(Plan.id).join(Unit, Plan.issuing_unit_id == Unit.id).where(Unit.path.startswith(prefix), opened)


def task_supervised(user: User) -> ColumnElement[bool]:
    """Tasks the user is on the supervising side of (permissions.on_side): of a plan issued
    by the user's unit or a unit under it, and not of the user's own unit."""
    plans = _supervised_plans(user)
    return false() if plans is None else Task.plan_id.in_(plans) & (Task.unit_id != user.unit_id)


def lookback_supervised(user: User) -> ColumnElement[bool]:
    """Look-backs (回头看) the user is on the supervising side of, as for their tasks."""
    plans = _supervised_plans(user)
    return false() if plans is None else Lookback.plan_id.in_(plans) & (Lookback.unit_id != user.unit_id)


def submission_supervised(user: User) -> ColumnElement[bool]:
    plans = _supervised_plans(user)
    return false() if plans is None else Submission.plan_id.in_(plans) & (Submission.unit_id != user.unit_id)


# ---- loading one record the user may see ---------------------------------------------------
def _one(s: Session, query, what: str, ident: int):
    found = s.scalar(query)
    if found is None:
        raise NotFound("{what} {id} 不存在或不在您的权限范围内。", what=what, id=ident)
    return found


def get_visible_task(s: Session, user: User, task_id: int, lock: bool = False) -> Task:
    """``lock``: hold the task's row until the transaction ends (PostgreSQL; SQLite's
    writers are serialised anyway), so a guard read here still holds at the write."""
    q = select(Task).where(Task.id == task_id, task_visible(user))
    return _one(s, q.with_for_update(of=Task) if lock else q, "任务", task_id)


def get_visible_plan(s: Session, user: User, plan_id: int) -> Plan:
    return _one(s, select(Plan).where(Plan.id == plan_id, plan_visible(user)), "整改方案", plan_id)


def get_visible_problem(s: Session, user: User, problem_id: int) -> Problem:
    q = select(Problem).join(Plan).where(Problem.id == problem_id, problem_visible(user))
    return _one(s, q, "问题", problem_id)


def get_visible_submission(s: Session, user: User, submission_id: int) -> Submission:
    q = select(Submission).where(Submission.id == submission_id, submission_visible(user))
    return _one(s, q, "报送事项", submission_id)


def task_actor(s: Session, user: User, task: Task) -> permissions.Actor:
    """The user's relation to one task, as the state tables need it."""
    f = facts(user, s.get(Plan, task.plan_id), task.unit)
    return permissions.actor(f.who, f.plan, f.unit)
