"""签收 and 转办: a unit acknowledges or declines a task; the issuing side insists, narrows,
reassigns or splits it. Every step is a guarded write (the task's version), a row in the
task's history, and, when someone waits on it, a workflow event in the same transaction.

The states are app.domain.receipt's table; who may is app.domain.permissions (through
the task's actor, app.services.scope). Starting a task (开始整改) acknowledges it too:
app.services.tasks.move_task records that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import permissions
from app.domain import receipt as rules
from app.domain.deadlines import CHINA
from app.domain.permissions import Actor, Side
from app.domain.receipt import ReceiptState
from app.domain.reminders import ladder_columns
from app.domain.workflow import OPEN_STATES, State, TransitionError
from app.models import Plan, Problem, Task, Unit, User
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Invalid, NotFound, refusal
from app.services.events import announce_assigned, notify, task_event, unit_people
from app.services.history import Event, add_event, append
from app.services.plans import deadline_on_receipt
from app.services.scope import (
    facts,
    get_visible_plan,
    get_visible_task,
    require,
    task_acted_for,
    task_actor,
    unit_facts,
    unit_visible,
    who,
)
from app.services.sweep import plan_policy
from app.services.tasks import TaskView, cancel_pending, get_task


@dataclass(frozen=True)
class Offers:
    """The receipt steps a page offers the viewer on one task."""

    acknowledge: bool
    decline: bool
    insist: bool
    narrow: bool
    redirect: bool  # 转办 and 分办


def offers(task: Task, actor: Actor) -> Offers:
    st, rc = State(task.state), ReceiptState(task.receipt)
    return Offers(
        acknowledge=rules.may("acknowledge", rc, st, actor),
        decline=rules.may("decline", rc, st, actor),
        insist=rules.may("insist", rc, st, actor),
        narrow=rules.may("narrow", rc, st, actor),
        redirect=rules.may_redirect(st, actor),
    )


def _load(s: Session, user: User, task_id: int, version: int) -> tuple[User, Task, Actor]:
    user = s.get(User, user.id)
    task = get_visible_task(s, user, task_id, lock=True)
    if task.version != version:
        raise Conflict(
            "任务已被他人修改（当前版本 {now}，您提交的是 {sent}），请刷新后重试。", now=task.version, sent=version
        )
    return user, task, task_actor(s, user, task)


def _write(s: Session, task: Task, version: int, values: dict, now: datetime) -> None:
    changed = s.execute(
        update(Task)
        .where(Task.id == task.id, Task.version == version)
        .values(**values, version=Task.version + 1, updated_at=now)
    ).rowcount
    if changed != 1:
        raise Conflict("任务已被他人修改，请刷新后重试。")
    s.refresh(task)


def _check(name: str, task: Task, actor: Actor, comment: str = ""):
    try:
        return rules.check(name, ReceiptState(task.receipt), State(task.state), actor, comment)
    except TransitionError as err:
        raise refusal(err) from None


def _ack_within(s: Session, task: Task) -> int:
    return plan_policy(s, s.get(Plan, task.plan_id)).ack_within_workdays


def _awaiting(s: Session, task: Task, receipt: ReceiptState, now: datetime, due_at: datetime | None = None) -> dict:
    """The columns of a fresh wait for the unit's acknowledgement (a new ack ladder from now)."""
    due = due_at if due_at is not None else task.due_at
    return rules.awaiting_columns(receipt, now, _ack_within(s, task), due, load_calendar(s))


def _received_now(s: Session, task: Task, now: datetime) -> dict:
    """The deadline columns of the task as a unit that receives it ``now`` owes it (转办,
    分办): a count of days that ran from the day of receipt (N个工作日内) runs again from
    today, through the one rule every assignment uses (plans.deadline_on_receipt), and the
    deadline ladder starts afresh if the new day is still ahead. A date as written, a
    count from the plan's issue, or a deadline an extension set stay as they are: empty."""
    if task.deadline_basis != "received":
        return {}
    dl, basis = deadline_on_receipt(s.get(Plan, task.plan_id), task.deadline_text, now, load_calendar(s))
    columns = {
        "due_at": dl.due_at,
        "deadline_basis": basis,
        "deadline_from": dl.counted_from,
        "calendar_provisional": dl.provisional,
        "active_since": now,
        "swept_until": now,
        "next_action_at": now,
    }
    return columns | (ladder_columns(0) if dl.due_at is None or dl.due_at > now else {})


def _recounted(task_before_due: datetime | None, columns: dict, unit: str) -> str:
    """What the history says of a deadline counted again for ``unit`` (nothing if it stayed)."""
    due = columns.get("due_at")
    if not columns or due == task_before_due or due is None:
        return ""
    return f"整改时限自{unit}收到之日起算，至{due.astimezone(CHINA):%Y年%m月%d日}。"


def _acknowledge(s: Session, user: User, task: Task, version: int, now: datetime, comment: str = "") -> None:
    _write(s, task, version, rules.acknowledged_columns(user.id, now), now)
    cancel_pending(s, "ack", task.id)
    add_event(s, task, "acknowledged", user.id, now, comment, {})


def acknowledge(db: Database, user: User, task_id: int, version: int, now: datetime) -> TaskView:
    """签收: the responsible unit acknowledges the task; its ack ladder stops."""
    with db.transaction() as s:
        user, task, actor = _load(s, user, task_id, version)
        _check("acknowledge", task, actor)
        _acknowledge(s, user, task, version, now)
    return get_task(db, user, task_id, now)


def acknowledge_all(db: Database, user: User, plan_id: int, now: datetime) -> list[int]:
    """签收全部: every task of the plan for the user's unit that awaits its acknowledgement
    (pending or insisted on), in one transaction. Returns the tasks acknowledged; a plan
    with none to acknowledge is a 409 (someone was first, or nothing was owed)."""
    with db.transaction() as s:
        user = s.get(User, user.id)
        get_visible_plan(s, user, plan_id)
        require(permissions.acting_unit(who(user)) is not None, "只有责任单位的人员可以签收任务。")
        awaiting = [st.value for st in rules.AWAITING]
        tasks = list(
            s.scalars(
                select(Task)
                .where(Task.plan_id == plan_id, task_acted_for(user), Task.receipt.in_(awaiting))
                .order_by(Task.id)
                .with_for_update()
            )
        )
        done = []
        for task in tasks:
            actor = task_actor(s, user, task)
            if not rules.may("acknowledge", ReceiptState(task.receipt), State(task.state), actor):
                continue
            _acknowledge(s, user, task, task.version, now, "签收全部")
            done.append(task.id)
        if not done:
            raise Conflict("该方案没有待本单位签收的任务。")
    return done


def decline(db: Database, user: User, task_id: int, reason: str, version: int, now: datetime) -> TaskView:
    """拒收 / 提出异议: the unit declines with a reason; the issuing side is told and decides."""
    with db.transaction() as s:
        user, task, actor = _load(s, user, task_id, version)
        _check("decline", task, actor, reason)
        _write(s, task, version, rules.waiting_on_issuer_columns(), now)
        cancel_pending(s, "ack", task.id)
        seq = add_event(s, task, "declined", user.id, now, reason, {})
        notify(s, [task_event(s, "declined", task, user, seq, reason)], now)
    return get_task(db, user, task_id, now)


def insist(db: Database, user: User, task_id: int, reason: str, version: int, now: datetime) -> TaskView:
    """维持交办: the task stands; the unit is told why and owes its acknowledgement again
    (a fresh ack ladder from now), and may not decline it a second time."""
    with db.transaction() as s:
        user, task, actor = _load(s, user, task_id, version)
        _check("insist", task, actor, reason)
        _write(s, task, version, _awaiting(s, task, ReceiptState.INSISTED, now), now)
        seq = add_event(s, task, "insisted", user.id, now, reason, {})
        notify(s, [task_event(s, "insisted", task, user, seq, reason)], now)
    return get_task(db, user, task_id, now)


def narrow(db: Database, user: User, task_id: int, scope: str, reason: str, version: int, now: datetime) -> TaskView:
    """缩小范围: the issuing side rewrites what the problem asks of this unit (``scope``);
    the task awaits the unit's acknowledgement of what it now says."""
    if not scope.strip():
        raise Invalid("缩小范围需要写明本单位的整改范围。", [{"field": "scope", "message": "必填"}])
    with db.transaction() as s:
        user, task, actor = _load(s, user, task_id, version)
        _check("narrow", task, actor, reason)
        before = task.scope_note
        _write(s, task, version, _awaiting(s, task, ReceiptState.PENDING, now) | {"scope_note": scope.strip()}, now)
        seq = add_event(s, task, "narrowed", user.id, now, reason, {"scope": scope.strip(), "before": before})
        notify(s, [task_event(s, "narrowed", task, user, seq, reason)], now)
    return get_task(db, user, task_id, now)


def _redirect(s: Session, user: User, task_id: int, version: int, name: str) -> tuple[User, Task]:
    user, task, actor = _load(s, user, task_id, version)
    try:
        rules.check_redirect(name, State(task.state), actor)
    except TransitionError as err:
        raise refusal(err) from None
    return user, task


def _assignable(s: Session, user: User, task: Task, unit_ids: list[int] | None) -> list[Unit]:
    """Units the issuing side may give this problem's task to (permissions.problem_side:
    under the plan's issuer), without one already, in the order asked; all of them when
    ``unit_ids`` is None (for a form)."""
    plan = s.get(Plan, task.plan_id)
    who, plan_f, _ = facts(user, plan)
    have = select(Task.unit_id).where(Task.problem_id == task.problem_id)
    query = select(Unit).where(unit_visible(user)).order_by(Unit.depth, Unit.id)
    query = query.where(Unit.id.not_in(have)) if unit_ids is None else query.where(Unit.id.in_(unit_ids))
    units = {
        u.id: u for u in s.scalars(query) if permissions.problem_side(who, plan_f, [unit_facts(u)]) is Side.SUPERVISING
    }
    if unit_ids is None:
        return list(units.values())
    missing = [uid for uid in unit_ids if uid not in units]
    if missing:
        raise NotFound("单位 {ids} 不存在，或不在本方案下发单位的管辖范围内。", ids=missing)
    taken = set(s.scalars(have.where(Task.unit_id.in_(unit_ids))))
    if taken:
        names = "、".join(units[uid].name for uid in unit_ids if uid in taken)
        raise Conflict("{units}已有该问题的整改任务。", units=names)
    return [units[uid] for uid in dict.fromkeys(unit_ids)]


def redirect_units(db: Database, user: User, task_id: int) -> list[Unit]:
    """The units a page may offer for 转办 or 分办 of this task."""
    s = db.session()
    return _assignable(s, user, get_visible_task(s, user, task_id), None)


def reassign(
    db: Database, user: User, task_id: int, unit_id: int, reason: str, version: int, now: datetime
) -> TaskView:
    """转办: the task (its history and evidence with it) moves to another unit, which owes
    its acknowledgement on a fresh ack ladder; both units are told. The history says from
    which unit to which, and why."""
    if not reason.strip():
        raise Invalid("转办需要填写理由。", [{"field": "reason", "message": "必填"}])
    with db.transaction() as s:
        user, task = _redirect(s, user, task_id, version, "reassign")
        (target,) = _assignable(s, user, task, [unit_id])
        source, due_before = task.unit, task.due_at
        deadline = _received_now(s, task, now)
        values = _awaiting(s, task, ReceiptState.PENDING, now, deadline.get("due_at")) | deadline
        values |= {"unit_id": target.id, "owner_id": None}
        cancel_pending(s, "task", task.id)  # what was still to go to the old unit's people
        cancel_pending(s, "ack", task.id)
        _write(s, task, version, values, now)
        data = {"from_unit_id": source.id, "from_unit": source.name, "to_unit_id": target.id, "to_unit": target.name}
        recounted = _recounted(due_before, deadline, target.name)
        comment = f"转办：由{source.name}转至{target.name}。{recounted}{reason.strip()}"
        seq = add_event(s, task, "reassigned", user.id, now, comment, data)
        ev = task_event(s, "reassigned", task, user, seq, reason.strip(), from_unit=source.name)
        # the unit it left hears too (it may have declined it, and waits on the answer); the
        # task is no longer theirs to open, so their message leads to their list of the plan
        people = unit_people(s, [source.id]).get(source.id, [])
        gone = replace(ev, recipients=people, url=f"/tasks?plan_id={task.plan_id}")
        notify(s, [ev, gone], now)
    return get_task(db, user, task_id, now)


def split(
    db: Database, user: User, task_id: int, unit_ids: list[int], reason: str, version: int, now: datetime
) -> list[int]:
    """分办: the problem's task is shared with other units: each gets a new task of the same
    problem (awaiting its acknowledgement, announced like any assignment); the original
    stays with its unit and its history names the units it was shared with. Returns the
    new tasks' ids."""
    if not reason.strip():
        raise Invalid("分办需要填写理由。", [{"field": "reason", "message": "必填"}])
    with db.transaction() as s:
        user, task = _redirect(s, user, task_id, version, "split")
        if not unit_ids:
            raise Invalid("请选择分办的责任单位。", [{"field": "unit_ids", "message": "必填"}])
        targets = _assignable(s, user, task, unit_ids)
        problem: Problem = task.problem
        cal = load_calendar(s)
        within = _ack_within(s, task)
        deadline = {
            "due_at": task.due_at,
            "deadline_basis": task.deadline_basis,
            "deadline_from": task.deadline_from,
            "calendar_provisional": task.calendar_provisional,
        }
        deadline |= {k: v for k, v in _received_now(s, task, now).items() if k in deadline}
        new = []
        for unit in targets:
            t = Task(
                problem_id=problem.id,
                plan_id=task.plan_id,
                unit_id=unit.id,
                state=State.IDENTIFIED.value,
                deadline_kind=task.deadline_kind,
                deadline_text=task.deadline_text,
                **deadline,
                version=1,
                created_at=now,
                updated_at=now,
                active_since=now,
                swept_until=now,
                next_action_at=None if task.deadline_kind == "long_term" else now,
                **rules.awaiting_columns(ReceiptState.PENDING, now, within, deadline["due_at"], cal),
            )
            s.add(t)
            s.flush()
            recounted = _recounted(task.due_at, deadline, unit.name)
            comment = f"分办：由{task.unit.name}的任务分出。{recounted}{reason.strip()}"
            append(s, [Event(t.id, "created", None, t.state, user.id, comment, {"split_from": task.id})], now)
            new.append(t)
        names = "、".join(u.name for u in targets)
        data = {"units": [{"id": u.id, "name": u.name} for u in targets], "tasks": [t.id for t in new]}
        _write(s, task, version, {}, now)
        add_event(s, task, "split", user.id, now, f"分办：同时交由{names}整改。{reason.strip()}", data)
        plan = s.get(Plan, task.plan_id)
        arrived = [(t.id, t.unit_id, t.problem_id, t.due_at) for t in new]
        announce_assigned(s, user, plan, arrived, {problem.id: problem.title}, now)
    return [t.id for t in new]


def awaiting_count(db: Database, user: User, plan_id: int) -> int:
    """How many of the plan's tasks await the user's own unit's acknowledgement (what a
    plan page's 签收全部 would acknowledge)."""
    awaiting = [st.value for st in rules.AWAITING]
    query = select(func.count(Task.id)).where(
        Task.plan_id == plan_id,
        task_acted_for(user),
        Task.receipt.in_(awaiting),
        Task.state.in_([st.value for st in OPEN_STATES]),
    )
    return db.session().scalar(query) or 0
