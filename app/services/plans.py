"""Plans, problems (with fan-out to tasks) and their roll-up figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import permissions
from app.domain.deadlines import CHINA, Basis, Deadline, DeadlineError, parse_deadline, task_deadline
from app.domain.permissions import Side
from app.domain.receipt import ReceiptState, acknowledged_columns, awaiting_columns
from app.domain.rechecks import RecheckState
from app.domain.workcalendar import WorkCalendar
from app.domain.workflow import COUNTED, State, rollup_state
from app.models import Lookback, Milestone, Phase, Plan, Problem, Task, TaskEvent, Unit, User
from app.schemas import Figures, PlanEditIn, PlanIn, ProblemFields, ProblemIn
from app.services import tally
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Invalid, ServiceError
from app.services.events import announce_assigned
from app.services.history import Event, append
from app.services.scope import (
    facts,
    get_visible_plan,
    get_visible_problem,
    plan_facts,
    plan_visible,
    require,
    task_visible,
    unit_facts,
    unit_visible,
)
from app.services.sweep import plan_policy

T = TypeVar("T")


def checked(field: str, parse: Callable[..., T], *args) -> T:
    """A deadline parser's result, or its DeadlineError as Invalid naming the field."""
    try:
        return parse(*args)
    except DeadlineError as err:
        raise Invalid(err.template, [{"field": field, "message": str(err)}], **err.params) from None


def deadline_on_receipt(plan: Plan, text: str, now: datetime, cal: WorkCalendar) -> tuple[Deadline, Basis | None]:
    """The deadline of the tasks units receive at `now` (assigned or imported) under
    `plan`, and what it counts from. Raises DeadlineError."""
    received_on = now.astimezone(CHINA).date()
    return task_deadline(text, plan.issued_on, received_on, plan.workdays_from == "issued", cal)


def create_plan(db: Database, actor: User, data: PlanIn) -> Plan:
    """Only a supervisor may issue, and only for their unit or one under it."""
    require(permissions.may_issue_plans(facts(actor).who), "只有督办人员可以下发整改方案。")
    with db.transaction() as s:
        unit = s.get(Unit, data.issuing_unit_id or actor.unit_id)
        if unit is None or not permissions.may_issue_plan(facts(actor).who, unit_facts(unit)):
            raise Invalid("下发单位 {id} 不存在或不在您的管辖范围内。", id=data.issuing_unit_id)
        plan = new_plan(s, actor, unit, data)
    return plan


def new_plan(s: Session, actor: User, unit: Unit, data: PlanIn, **answering) -> Plan:
    """A plan issued by ``unit``, with its phases, inside the caller's transaction
    (``answering``: the columns of an answering plan, app.services.answers)."""
    cal = load_calendar(s)
    plan = Plan(
        title=data.title,
        doc_number=data.doc_number,
        issuing_unit_id=unit.id,
        issued_on=data.issued_on,
        evidence_required=data.evidence_required,
        workdays_from=data.workdays_from,
        created_by_id=actor.id,
        **answering,
    )
    for i, ph in enumerate(data.phases, start=1):
        d = checked(f"phases[{i - 1}].deadline", parse_deadline, ph.deadline, data.issued_on, cal)
        plan.phases.append(Phase(seq=i, name=ph.name, deadline_text=d.text, ends_on=d.due_on))
    s.add(plan)
    s.flush()
    return plan


def update_plan(db: Database, actor: User, plan_id: int, data: PlanEditIn) -> Plan:
    """Its supervisors reword a plan, change its evidence waiver or its phases; the write
    names the version read, so of two editors one wins and the other gets 409."""
    with db.transaction() as s:
        plan = get_visible_plan(s, actor, plan_id)
        f = facts(actor, plan)
        require(permissions.may_edit_plan(f.who, f.plan), "只有方案下发单位的督办人员可以修改整改方案。")
        cal = load_calendar(s)
        phases = [
            Phase(seq=i, name=ph.name, deadline_text=d.text, ends_on=d.due_on)
            for i, ph in enumerate(data.phases, start=1)
            for d in [checked(f"phases[{i - 1}].deadline", parse_deadline, ph.deadline, plan.issued_on, cal)]
        ]
        values = {"title": data.title, "doc_number": data.doc_number, "evidence_required": data.evidence_required}
        guarded = update(Plan).where(Plan.id == plan.id, Plan.version == data.version)
        if s.execute(guarded.values(**values, version=Plan.version + 1)).rowcount != 1:
            raise Conflict("整改方案已被他人修改，请刷新后重试。")
        s.refresh(plan)
        plan.phases = phases
    return plan


def target_units(s: Session, plan: Plan, data: ProblemIn) -> list[Unit]:
    issuer = plan.issuing_unit
    if data.all_units_under is not None:
        parent = s.get(Unit, data.all_units_under)
        if parent is None or not permissions.may_assign(plan_facts(plan), [unit_facts(parent)]):
            raise Invalid("单位 {id} 不在方案下发单位「{issuer}」之下。", id=data.all_units_under, issuer=issuer.name)
        units = list(s.scalars(select(Unit).where(Unit.parent_id == parent.id).order_by(Unit.id)))
        if not units:
            raise Invalid("「{name}」下没有下级单位，无法分解任务。", name=parent.name)
        return units
    ids = list(dict.fromkeys(data.unit_ids or []))
    units = list(s.scalars(select(Unit).where(Unit.id.in_(ids))))
    bad = set(ids) - {u.id for u in units if permissions.may_assign(plan_facts(plan), [unit_facts(u)])}
    if bad:
        raise Invalid(
            "责任单位 {ids} 不存在或不在方案下发单位「{issuer}」之下。",
            [{"field": "unit_ids", "message": f"unknown or out of scope: {sorted(bad)}"}],
            ids=sorted(bad),
            issuer=issuer.name,
        )
    return units


def create_problem(db: Database, actor: User, plan_id: int, data: ProblemIn, now: datetime) -> Problem:
    """Add a problem and fan it out: one task per responsible unit, each with a
    "created" history entry, written in bulk so a common problem for a thousand
    units is one round of inserts, not a thousand.

    The issuing side may assign any units under the issuer. A unit under the issuer may
    also report a problem it found itself (自查, the Yuzhou look-back), for itself only.
    """
    with db.transaction() as s:
        plan = get_visible_plan(s, actor, plan_id)
        problem = add_problem(s, actor, plan, data, load_calendar(s), now)
    return problem


def add_problem(s: Session, actor: User, plan: Plan, data: ProblemIn, cal: WorkCalendar, now: datetime) -> Problem:
    """The body of :func:`create_problem` inside the caller's transaction."""
    (problem_id,) = add_problems(s, actor, plan, [data], cal, now)
    return s.get(Problem, problem_id)


ADD_REFUSED = "只能由方案下发单位交办问题，或为本单位上报自查问题。"
ADD_CHUNK = 1000  # problems per round of inserts (and per progress report)


def add_problems(
    s: Session,
    actor: User,
    plan: Plan,
    items: Sequence[ProblemIn],
    cal: WorkCalendar,
    now: datetime,
    where: Callable[[int], tuple[str, dict]] = lambda _i: ("", {}),
    progress: Callable[[int], None] = lambda _done: None,
) -> list[int]:
    """Add problems and fan each out, inside the caller's transaction: one task per
    responsible unit, each with a "created" history entry.

    Set-based: the rules are checked for every item first (units resolved once per
    distinct target, deadlines once per distinct text), then problems, milestones, tasks
    and history go in as a few multi-row INSERTs per :data:`ADD_CHUNK` problems, so a
    ledger of ten thousand problems costs about as much as inserting its rows. A refused
    item raises naming ``where(index)``; ``progress(done)`` follows each chunk.

    The issuing side may assign any units under the issuer. A unit under the issuer may
    also report a problem it found itself (自查, the Yuzhou look-back), for itself only.
    """
    who, plan_f, _ = facts(actor, plan)
    answered: set[int] = set()  # received tasks checked to be answerable by this plan
    targets: dict[tuple, tuple[list[Unit], Side | None]] = {}  # one lookup and one ruling per target
    deadlines: dict[str, tuple[Deadline, Basis | None]] = {}
    planned = []
    next_seq = (s.scalar(select(func.max(Problem.seq)).where(Problem.plan_id == plan.id)) or 0) + 1
    taken = {data.seq for data in items if data.seq}
    in_plan = select(Problem.seq).where(Problem.plan_id == plan.id, Problem.seq.in_(taken))
    taken_before = set(s.scalars(in_plan)) if taken else set()
    seen: set[int] = set()
    for i, data in enumerate(items):
        try:
            key = (data.all_units_under, tuple(data.unit_ids or ()))
            if key not in targets:
                units = target_units(s, plan, data)
                targets[key] = units, permissions.problem_side(who, plan_f, [unit_facts(u) for u in units])
            units, side = targets[key]
            require(side is not None, ADD_REFUSED)
            if data.answers_task_id is not None and data.answers_task_id not in answered:
                _check_answers(s, plan, data.answers_task_id)
                answered.add(data.answers_task_id)
            if data.deadline not in deadlines:
                deadlines[data.deadline] = checked("deadline", deadline_on_receipt, plan, data.deadline, now, cal)
            dl = deadlines[data.deadline]
            if data.seq:
                seq = data.seq
                if seq in seen or seq in taken_before:
                    raise Invalid("本方案已有序号为 {seq} 的问题。", seq=seq)
            else:
                while next_seq in taken:
                    next_seq += 1
                seq, next_seq = next_seq, next_seq + 1
            seen.add(seq)
            milestones = [
                (m, checked(f"milestones[{j}].deadline", parse_deadline, m.deadline, plan.issued_on, cal))
                for j, m in enumerate(data.milestones)
            ]
        except ServiceError as err:
            lead, params = where(i)
            raise (err.after(lead, **params) if lead else err) from None
        planned.append((data, seq, dl, units, milestones, side is Side.SUPERVISING))
    ids: list[int] = []
    for start in range(0, len(planned), ADD_CHUNK):
        chunk = planned[start : start + ADD_CHUNK]
        ids += _insert_problems(s, actor, plan, chunk, now)
        progress(start + len(chunk))
    return ids


def _check_answers(s: Session, plan: Plan, task_id: int) -> None:
    """举一反三: a problem of an answering plan answers a task its issuer received in the
    plan answered; no other task."""
    task = s.get(Task, task_id)
    if (
        plan.answers_plan_id is None
        or task is None
        or (task.plan_id, task.unit_id)
        != (
            plan.answers_plan_id,
            plan.issuing_unit_id,
        )
    ):
        message = f"任务 {task_id} 不是本方案所答复的方案交给「{plan.issuing_unit.name}」的任务，不能作为答复对象。"
        raise Invalid(message, [{"field": "answers_task_id", "message": message}])


def _reserve_ids(conn, table, n: int) -> list[int]:
    """``n`` new ids for ``table``: from its sequence on PostgreSQL (one round trip), and on
    SQLite the next ones after the largest (the transaction holds the database's only
    write lock from its first statement: BEGIN IMMEDIATE, see app.db)."""
    if conn.dialect.name == "postgresql":
        seq = func.nextval(func.pg_get_serial_sequence(table.name, "id"))
        return list(conn.execute(select(seq).select_from(func.generate_series(1, n))).scalars())
    start = (conn.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + n))


def problem_values(data: ProblemFields, dl: Deadline) -> dict:
    """A problem's columns from what was typed (added or edited) and its parsed deadline."""
    fields = ("category", "nature", "title", "description", "source", "measures", "remarks")
    return {k: getattr(data, k) for k in fields} | {
        "deadline_text": dl.text,
        "deadline_kind": dl.kind,
        "due_at": dl.due_at,
    }


def _insert_problems(s: Session, actor: User, plan: Plan, chunk: list, now: datetime) -> list[int]:
    """One chunk as three plain multi-row INSERTs (Core, column defaults applied), with
    the ids reserved up front (:func:`_reserve_ids`): the ORM's bulk path, and RETURNING
    with its order guaranteed, both fall back to a statement per row on SQLite."""
    conn = s.connection()
    problem_ids = _reserve_ids(conn, Problem.__table__, len(chunk))
    conn.execute(
        insert(Problem.__table__),
        [
            {
                "id": pid,
                "plan_id": plan.id,
                "seq": seq,
                **problem_values(data, dl),
                "reported_by_unit_id": None if supervising else actor.unit_id,
                "answers_task_id": data.answers_task_id,
                "created_by_id": actor.id,
                "created_at": now,
            }
            for pid, (data, seq, (dl, _basis), _units, _milestones, supervising) in zip(problem_ids, chunk, strict=True)
        ],
    )
    milestone_rows = [
        {"problem_id": pid, "seq": j, "title": m.title, "deadline_text": md.text, "due_at": md.due_at}
        for pid, (_data, _seq, _dl, _units, milestones, _side) in zip(problem_ids, chunk, strict=True)
        for j, (m, md) in enumerate(milestones, start=1)
    ]
    if milestone_rows:
        conn.execute(insert(Milestone.__table__), milestone_rows)
    fanned = [
        (pid, dl_basis, units)
        for pid, (_data, _seq, dl_basis, units, _milestones, _side) in zip(problem_ids, chunk, strict=True)
    ]
    titles = {pid: data.title for pid, (data, *_rest) in zip(problem_ids, chunk, strict=True)}
    own = {pid for pid, (*_rest, supervising) in zip(problem_ids, chunk, strict=True) if not supervising}
    insert_tasks(s, actor, plan, fanned, titles, now, own_findings=own)
    return list(problem_ids)


_NO_ACK_LADDER = {"ack_due_at": None, "ack_since": None, "ack_swept_until": None, "ack_level": 0}


def insert_tasks(
    s: Session,
    actor: User,
    plan: Plan,
    fanned: Sequence[tuple[int, tuple[Deadline, Basis | None], Sequence[Unit]]],
    titles: Mapping[int, str],
    now: datetime,
    own_findings: Collection[int] = (),
) -> list[int]:
    """The tasks of problems fanned out to units, given as (problem id, its deadline on
    receipt, the units), each with its "created" history entry, in two multi-row INSERTs;
    the units hear of them as assigned (``titles``: each problem's). Each awaits the unit's
    签收 on its own ladder, except a unit's own finding (``own_findings``: problem ids),
    acknowledged as it is reported. Returns the task ids."""
    conn = s.connection()
    ack_within, cal = plan_policy(s, plan).ack_within_workdays, load_calendar(s)
    task_rows = [
        {
            "problem_id": pid,
            "plan_id": plan.id,
            "unit_id": u.id,
            "state": State.IDENTIFIED.value,
            "deadline_kind": dl.kind,
            "due_at": dl.due_at,
            "deadline_text": dl.text,
            "deadline_basis": basis,
            "deadline_from": dl.counted_from,
            "calendar_provisional": dl.provisional,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "active_since": now,
            "swept_until": now,
            "next_action_at": None if dl.kind == "long_term" else now,  # the sweep plans from here
            **(
                acknowledged_columns(actor.id, now) | _NO_ACK_LADDER
                if pid in own_findings
                else awaiting_columns(ReceiptState.PENDING, now, ack_within, dl.due_at, cal)
            ),
        }
        for pid, (dl, basis), units in fanned
        for u in units
    ]
    if not task_rows:
        return []
    task_ids = _reserve_ids(conn, Task.__table__, len(task_rows))
    for row, tid in zip(task_rows, task_ids, strict=True):
        row["id"] = tid
    conn.execute(insert(Task.__table__), task_rows)
    append(s, [Event(tid, "created", None, State.IDENTIFIED.value, actor.id) for tid in task_ids], now, new_tasks=True)
    announce_assigned(
        s,
        actor,
        plan,
        [(tid, row["unit_id"], row["problem_id"], row["due_at"]) for tid, row in zip(task_ids, task_rows, strict=True)],
        titles,
        now,
    )
    return list(task_ids)


def figures_by_plan(s: Session, viewer: User, plan_ids: list[int], now: datetime) -> dict[int, Figures]:
    """Roll-up of many plans over the tasks the viewer sees, from the tallies
    (app.services.tally: a fixed number of statements whatever the plans hold)."""
    by_state: dict[int, dict[str, int]] = defaultdict(lambda: {st.value: 0 for st in State})
    overdue: dict[int, int] = defaultdict(int)
    for (plan_id, state, _notice), c in tally.counts(s, tally.seen(s, viewer, plan_ids), now).items():
        by_state[plan_id][state] += c.n
        overdue[plan_id] += c.overdue
    rebounds = rebounds_by_plan(s, viewer, plan_ids)
    return {pid: make_figures(by_state[pid], overdue[pid], rebounds.get(pid, 0)) for pid in plan_ids}


def rebounds_clause(viewer: User):
    """问题反弹 as SQL: look-backs that reopened a task the viewer sees."""
    return (Lookback.state == RecheckState.FAILED.value) & Lookback.task_id.in_(
        select(Task.id).where(task_visible(viewer))
    )


def rebounds_by_plan(s: Session, viewer: User, plan_ids: list[int]) -> dict[int, int]:
    """Rebounds per plan, over the tasks the viewer sees."""
    q = select(Lookback.plan_id, func.count()).where(Lookback.plan_id.in_(plan_ids), rebounds_clause(viewer))
    return dict(s.execute(q.group_by(Lookback.plan_id)).all())


def make_figures(by_state: dict[str, int], overdue: int, rebounds: int = 0) -> Figures:
    """Totals and rates over the tasks still on the ledger's books (withdrawn ones are
    listed in ``by_state`` but counted nowhere else)."""
    total = sum(by_state[st] for st in COUNTED)
    done = by_state[State.RECTIFIED] + by_state[State.VERIFIED] + by_state[State.CLOSED]
    return Figures(
        total=total,
        by_state=by_state,
        overdue=overdue,
        completion_rate=round(by_state[State.CLOSED] / total, 4) if total else 0.0,
        rectified_rate=round(done / total, 4) if total else 0.0,
        rebounds=rebounds,
    )


def visible_plans(db: Database, viewer: User) -> list[Plan]:
    """The plans the viewer sees, newest first, without figures (for a filter's choices)."""
    q = select(Plan).where(plan_visible(viewer)).order_by(Plan.issued_on.desc(), Plan.id.desc())
    return list(db.session().scalars(q))


def plan_choices(db: Database, viewer: User) -> list:
    """(id, title, doc_number) rows of the plans the viewer sees, newest first, for a
    filter's choices: columns, not objects, as every list page and the dashboard print them."""
    q = select(Plan.id, Plan.title, Plan.doc_number).where(plan_visible(viewer))
    return list(db.session().execute(q.order_by(Plan.issued_on.desc(), Plan.id.desc())))


def list_plans(db: Database, viewer: User, now: datetime) -> list[tuple[Plan, Figures]]:
    plans = visible_plans(db, viewer)
    figs = figures_by_plan(db.session(), viewer, [p.id for p in plans], now)
    return [(p, figs[p.id]) for p in plans]


def get_plan(db: Database, viewer: User, plan_id: int, now: datetime) -> tuple[Plan, Figures]:
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    return plan, figures_by_plan(s, viewer, [plan.id], now)[plan.id]


ProblemRow = tuple[Problem, State | None, int]  # a problem, its rolled-up state, its tasks seen


def list_problems(db: Database, viewer: User, plan_id: int) -> list[ProblemRow]:
    """The problems of a plan the viewer may see, with the state and count of the tasks
    they can see."""
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    return _problems(s, viewer, plan, s.execute(_by_problem(viewer, plan)).all())


def plan_page(db: Database, viewer: User, plan_id: int, now: datetime) -> tuple[Plan, Figures, list[ProblemRow]]:
    """The plan's page: its figures (as :func:`get_plan` gives them) and its problems (as
    :func:`list_problems`), both from the tallies' counts per problem."""
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    by_state = {st.value: 0 for st in State}
    overdue = 0
    rows = []
    for (_plan, problem_id, state, _notice), c in tally.counts(
        s, tally.seen(s, viewer, [plan.id]), now, "problem"
    ).items():
        by_state[state] += c.n
        overdue += c.overdue
        if c.n:
            rows.append((problem_id, state, c.n))
    rebounds = rebounds_by_plan(s, viewer, [plan.id]).get(plan.id, 0)
    return plan, make_figures(by_state, overdue, rebounds), _problems(s, viewer, plan, rows)


def _by_problem(viewer: User, plan: Plan):
    """The plan's tasks the viewer sees, counted per problem and state."""
    return (
        select(Task.problem_id, Task.state, func.count())
        .where(Task.plan_id == plan.id, task_visible(viewer))
        .group_by(Task.problem_id, Task.state)
    )


def _problems(s: Session, viewer: User, plan: Plan, rows: Sequence) -> list[ProblemRow]:
    who, plan_f, _ = facts(viewer, plan)
    problems = list(s.scalars(select(Problem).where(Problem.plan_id == plan.id).order_by(Problem.seq)))
    states: dict[int, set[State]] = defaultdict(set)  # the distinct states of each problem's tasks
    counts: dict[int, int] = defaultdict(int)
    for pid, st, n, *_ in rows:
        states[pid].add(State(st))
        counts[pid] += n
    return [
        (p, rollup_state(list(states[p.id])), counts[p.id])
        for p in problems
        if permissions.sees_problem(who, plan_f, counts[p.id])
    ]


def issuing_units(db: Database, actor: User) -> list[Unit]:
    """The units the actor may issue a plan for (their own first, then those under it)."""
    who = facts(actor).who
    units = db.session().scalars(select(Unit).where(unit_visible(actor)).order_by(Unit.depth, Unit.id))
    return [u for u in units if permissions.may_issue_plan(who, unit_facts(u))]


def assignable_units(db: Database, actor: User, plan_id: int) -> list[Unit]:
    """The units a form may offer as responsible for a new problem or a report owed in the
    plan: the units under its issuer the actor may assign, or, for a unit reporting its own
    findings, that unit alone. Refuses (403) someone who may add nothing to it."""
    s = db.session()
    plan = get_visible_plan(s, actor, plan_id)
    who, plan_f, _ = facts(actor, plan)
    require(permissions.may_add_problems(who, plan_f), ADD_REFUSED)
    units = s.scalars(select(Unit).where(unit_visible(actor)).order_by(Unit.depth, Unit.id))
    return [u for u in units if permissions.problem_side(who, plan_f, [unit_facts(u)]) is not None]


def get_problem(db: Database, viewer: User, problem_id: int) -> tuple[Problem, State | None, int]:
    s = db.session()
    problem = get_visible_problem(s, viewer, problem_id)
    states = [
        State(x) for x in s.scalars(select(Task.state).where(Task.problem_id == problem.id, task_visible(viewer)))
    ]
    return problem, rollup_state(states), len(states)


def problem_tasks(db: Database, viewer: User, problem_id: int) -> list[tuple[Task, str]]:
    """A problem's tasks the viewer sees, with their unit's name, in the tree's order."""
    s = db.session()
    problem = get_visible_problem(s, viewer, problem_id)
    q = (
        select(Task, Unit.name)
        .join(Unit, Task.unit_id == Unit.id)
        .where(Task.problem_id == problem.id, task_visible(viewer))
        .order_by(Unit.path, Unit.id)
    )
    return [(t, name) for t, name in s.execute(q)]


def withdrawal(db: Database, viewer: User, problem_id: int) -> TaskEvent | None:
    """The latest withdrawal recorded on one of the problem's tasks the viewer sees."""
    s = db.session()
    problem = get_visible_problem(s, viewer, problem_id)
    q = (
        select(TaskEvent)
        .join(Task, TaskEvent.task_id == Task.id)
        .where(Task.problem_id == problem.id, task_visible(viewer), TaskEvent.to_state == State.WITHDRAWN.value)
        .order_by(TaskEvent.at.desc(), TaskEvent.id.desc())
        .limit(1)
    )
    return s.scalar(q)
