"""Plans that answer plans (各县…制定整改方案): a unit that received tasks in a plan answers
it with its own plan (its own 文号 and dates) for the units under it. The answering plan
carries the received problems (举一反三: each such problem answers one received task) and
the problems the unit found itself (added as to any plan, app.services.plans). A received
task waits for the problems answering it (the rectify guard in app.domain.workflow) unless
the answering plan says otherwise; the issuing side reads the progress below, level by
level (city → county → township), and a report such as 「整改方案及台账」 is met by handing
in the answering plan itself (app.services.obligations.submit)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import permissions
from app.domain.workflow import ANSWERED, State
from app.models import Plan, Problem, Task, Unit, User
from app.schemas import AnswerIn, Figures, PlanIn, ProblemIn
from app.services.calendar import load_calendar
from app.services.errors import Invalid
from app.services.plans import add_problems, figures_by_plan, new_plan
from app.services.scope import facts, get_visible_plan, get_visible_task, plan_visible, require, task_visible

MAX_DEPTH = 6  # levels of answering plans shown below a plan (a city's tree has three)
ANSWER_REFUSED = "只有收到本方案任务的单位的督办人员，才能以本单位的整改方案答复。"


def received_tasks(db: Database, viewer: User, plan_id: int) -> list[tuple[Task, Problem]]:
    """The tasks the viewer's unit received in a plan, in the problem list's order: what an
    answering plan may carry. Refuses (403) whoever may not answer the plan."""
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    rows = _received(s, viewer, plan)
    f = facts(viewer, plan)
    require(permissions.may_answer_plan(f.who, f.plan, bool(rows)), ANSWER_REFUSED)
    return rows


def _received(s: Session, user: User, plan: Plan) -> list[tuple[Task, Problem]]:
    q = (
        select(Task, Problem)
        .join(Problem, Task.problem_id == Problem.id)
        .where(Task.plan_id == plan.id, Task.unit_id == user.unit_id, Task.state != State.WITHDRAWN.value)
        .order_by(Problem.seq)
    )
    return [(t, p) for t, p in s.execute(q)]


def answer_plan(db: Database, actor: User, plan_id: int, data: AnswerIn, now: datetime) -> Plan:
    """Issue the actor's unit's answering plan to ``plan_id``, carrying the received tasks
    ``data.carry`` names (each becomes a problem of the new plan, with the received problem's
    text, answering that task, fanned out to the units given), in one transaction."""
    with db.transaction() as s:
        user = s.get(User, actor.id)
        received = get_visible_plan(s, user, plan_id)
        mine = {t.id: (t, p) for t, p in _received(s, user, received)}
        f = facts(user, received)
        require(permissions.may_answer_plan(f.who, f.plan, bool(mine)), ANSWER_REFUSED)
        base = PlanIn(
            title=data.title,
            doc_number=data.doc_number,
            issued_on=data.issued_on,
            evidence_required=data.evidence_required,
            phases=data.phases,
        )
        plan = new_plan(
            s,
            user,
            user.unit,
            base,
            answers_plan_id=received.id,
            holds_received=data.holds_received,
            supervised_above=data.open_to_above,
        )
        items = []
        for c in data.carry:
            task, problem = mine.get(c.task_id, (None, None))
            if task is None:
                raise Invalid("任务 {id} 不是「{plan}」交给本单位的任务。", id=c.task_id, plan=received.title)
            items.append(
                ProblemIn(
                    category=problem.category,
                    nature=problem.nature,
                    title=problem.title,
                    description=problem.description,
                    source=f"{received.doc_number or received.title} 第{problem.seq}项",
                    measures=problem.measures,
                    deadline=c.deadline or task.deadline_text or problem.deadline_text,
                    unit_ids=c.unit_ids,
                    all_units_under=c.all_units_under,
                    answers_task_id=task.id,
                )
            )
        add_problems(s, user, plan, items, load_calendar(s), now, where=lambda i: ("第{n}项答复：", {"n": i + 1}))
    return plan


def answering_plans(db: Database, viewer: User, plan_id: int) -> list[Plan]:
    """The answering plans to a plan, that the viewer sees."""
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    q = select(Plan).where(Plan.answers_plan_id == plan.id, plan_visible(viewer)).order_by(Plan.id)
    return list(s.scalars(q))


@dataclass
class Row:
    """One problem of an answering plan, with the tasks below it."""

    problem: Problem
    answers_task_id: int | None
    tasks: list[tuple[int, str, str]]  # task id, unit name, state


@dataclass
class Branch:
    """One answering plan below a plan, its figures, its problems and the plans answering it."""

    plan: Plan
    unit_name: str
    figures: Figures
    rows: list[Row]
    below: list[Branch] = field(default_factory=list)


def tree(db: Database, viewer: User, plan_id: int, now: datetime) -> list[Branch]:
    """The progress below a plan, level by level: each answering plan the viewer sees, with
    its problems' tasks and figures, and the plans answering those (a fixed number of queries
    per level)."""
    s = db.session()
    root = get_visible_plan(s, viewer, plan_id)
    return _level(s, viewer, [root.id], now, MAX_DEPTH)


def _level(s: Session, viewer: User, parent_ids: list[int], now: datetime, depth: int) -> list[Branch]:
    if not parent_ids or depth == 0:
        return []
    q = (
        select(Plan, Unit.name)
        .join(Unit, Plan.issuing_unit_id == Unit.id)
        .where(Plan.answers_plan_id.in_(parent_ids), plan_visible(viewer))
        .order_by(Unit.path, Plan.id)
    )
    found = s.execute(q).all()
    if not found:
        return []
    ids = [p.id for p, _ in found]
    figures = figures_by_plan(s, viewer, ids, now)
    rows: dict[int, list[Row]] = defaultdict(list)
    by_problem: dict[int, Row] = {}
    for problem in s.scalars(select(Problem).where(Problem.plan_id.in_(ids)).order_by(Problem.plan_id, Problem.seq)):
        by_problem[problem.id] = Row(problem, problem.answers_task_id, [])
    for pid, tasks in _tasks_of(s, viewer, Task.plan_id.in_(ids)).items():
        by_problem[pid].tasks += tasks
    for row in by_problem.values():
        if row.tasks:
            rows[row.problem.plan_id].append(row)
    below = defaultdict(list)
    for branch in _level(s, viewer, ids, now, depth - 1):
        below[branch.plan.answers_plan_id].append(branch)
    return [Branch(p, name, figures[p.id], rows[p.id], below[p.id]) for p, name in found]


def _tasks_of(s: Session, viewer: User, where) -> dict[int, list[tuple[int, str, str]]]:
    """(task id, unit name, state) of the tasks the viewer sees, by problem, in the tree's order."""
    q = (
        select(Task.id, Task.problem_id, Unit.name, Task.state)
        .join(Unit, Task.unit_id == Unit.id)
        .where(where, task_visible(viewer))
        .order_by(Unit.path)
    )
    found: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for tid, pid, unit, state in s.execute(q):
        found[pid].append((tid, unit, state))
    return found


@dataclass
class Answer:
    """One problem answering a received task, where it stands below."""

    plan: Plan
    problem: Problem
    tasks: list[tuple[int, str, str]]  # task id, unit name, state
    done: bool  # every task checked below (workflow.ANSWERED)


def answers_of(db: Database, viewer: User, task_id: int) -> list[Answer]:
    """The problems answering a received task, with their tasks the viewer sees."""
    s = db.session()
    task = get_visible_task(s, viewer, task_id)
    q = (
        select(Problem, Plan)
        .join(Plan, Problem.plan_id == Plan.id)
        .where(Problem.answers_task_id == task.id, plan_visible(viewer))
        .order_by(Plan.id, Problem.seq)
    )
    found = s.execute(q).all()
    ids = [p.id for p, _ in found]
    tasks = _tasks_of(s, viewer, Task.problem_id.in_(ids)) if ids else defaultdict(list)
    done = {st.value for st in ANSWERED}
    return [Answer(plan, p, tasks[p.id], all(st in done for _, _, st in tasks[p.id])) for p, plan in found]


def units_under(db: Database, viewer: User) -> list[Unit]:
    """The units directly under the viewer's unit: whom an answering plan assigns."""
    return list(db.session().scalars(select(Unit).where(Unit.parent_id == viewer.unit_id).order_by(Unit.path)))


def receives(db: Database, viewer: User, plan: Plan) -> bool:
    """The viewer's unit received tasks in the plan (it may answer it, a supervisor)."""
    return bool(_received(db.session(), viewer, plan))


def answered_plan(db: Database, viewer: User, plan: Plan) -> Plan | None:
    """The plan this one answers, if the viewer sees it (a township reading its county's
    answering plan need not see the city's)."""
    if plan.answers_plan_id is None:
        return None
    return db.session().scalar(select(Plan).where(Plan.id == plan.answers_plan_id, plan_visible(viewer)))
