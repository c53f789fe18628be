"""My work (我的待办): what is waiting for the signed-in person, box by box.

The responsible side (an official or a supervisor working for their own unit): tasks to
acknowledge (签收), to start, to rectify, sent back (rectified once, now in progress again: 退回 or reopened),
due soon, and reports owed. The supervising side (a supervisor of the issuing unit or a
unit above it): declined tasks to decide (拒收), rectified tasks to check, extension
requests to decide, reports to review, look-backs (回头看) due within a week, and the
overdue tasks by escalation level. Which records a person acts on is
app.domain.permissions' rule, as SQL from app.services.scope; the boxes only add the
state each one waits in.

:func:`counts` is one aggregate statement (one scalar subquery per box, each counting up
to the lists' cap, app.services.tasks.bounded_count), cheap enough for the header of every
page whatever the ledger holds; :func:`my_work` adds the first items of each box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, union_all
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import permissions
from app.domain.extensions import ExtensionState
from app.domain.receipt import AWAITING, ReceiptState
from app.domain.rechecks import RecheckState
from app.domain.reminders import NOTICE_LEVEL
from app.domain.submissions import OWED, SubmissionState
from app.domain.supervision import BLUE_WITHIN
from app.domain.workflow import OPEN_STATES, State
from app.models import ExtensionRequest, Lookback, Obligation, Problem, Submission, Task, Unit, User
from app.services import tasks
from app.services.lookbacks import current_clause
from app.services.scope import (
    lookback_supervised,
    submission_acted_for,
    submission_supervised,
    task_acted_for,
    task_supervised,
    who,
)
from app.services.tally import overdue_clause

REPORTS_AHEAD = timedelta(days=7)  # a report counts as owed from a week before its date
ITEMS_PER_BOX = 10
_OPEN = [st.value for st in OPEN_STATES]
LEVELS = range(NOTICE_LEVEL, -1, -1)  # the ladder's levels, the highest first (0: not escalated yet)
_AWAITING = [st.value for st in AWAITING]


@dataclass(frozen=True)
class BoxSpec:
    key: str
    side: permissions.Side
    record: str  # task | extension | submission | lookback
    in_total: bool  # counted in the header (due soon and overdue repeat other boxes)


BOXES = (
    BoxSpec("to_acknowledge", permissions.Side.RESPONSIBLE, "task", False),  # repeats to_start
    BoxSpec("to_start", permissions.Side.RESPONSIBLE, "task", True),
    BoxSpec("to_rectify", permissions.Side.RESPONSIBLE, "task", True),
    BoxSpec("sent_back", permissions.Side.RESPONSIBLE, "task", True),
    BoxSpec("due_soon", permissions.Side.RESPONSIBLE, "task", False),
    BoxSpec("reports_owed", permissions.Side.RESPONSIBLE, "submission", True),
    BoxSpec("declined", permissions.Side.SUPERVISING, "task", True),
    BoxSpec("to_check", permissions.Side.SUPERVISING, "task", True),
    BoxSpec("extensions", permissions.Side.SUPERVISING, "extension", True),
    BoxSpec("reports_to_review", permissions.Side.SUPERVISING, "submission", True),
    BoxSpec("lookbacks", permissions.Side.SUPERVISING, "lookback", True),
    BoxSpec("overdue", permissions.Side.SUPERVISING, "task", False),
)


@dataclass(frozen=True)
class Item:
    record: str  # task | extension | submission
    id: int  # the record's own id
    task_id: int | None
    plan_id: int
    title: str
    unit_name: str
    state: str
    deadline_text: str
    due_at: datetime | None
    due_on: date | None = None
    level: int = 0
    overdue: bool = False


@dataclass(frozen=True)
class Bounded:
    """A count shown as the lists show theirs: exact up to the cap, then "1000+"."""

    n: int

    def __bool__(self) -> bool:
        return self.n > 0

    def __str__(self) -> str:
        cap = tasks.COUNT_CAP
        return f"{cap}+" if self.n > cap else str(self.n)


@dataclass
class Box:
    spec: BoxSpec
    count: int  # up to one past the cap (tasks.COUNT_CAP): shown as "1000+"
    items: list[Item] = field(default_factory=list)
    by_level: dict[int, Bounded] = field(default_factory=dict)  # overdue only: escalation level -> count

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def shown(self) -> Bounded:
        return Bounded(self.count)


@dataclass
class Queue:
    boxes: list[Box]
    sides: list[permissions.Side]  # the person's sides, the one shown first first

    @property
    def total(self) -> Bounded:
        return _total({b.key: b.count for b in self.boxes if b.spec.in_total})

    def side(self, side: permissions.Side) -> list[Box]:
        """One side's boxes, those with something in them first (each in its fixed
        order): an empty box above a full one only pushes the work down the screen."""
        return sorted((b for b in self.boxes if b.spec.side is side), key=lambda b: not b.count)


def _sides(user: User) -> list[permissions.Side]:
    """A supervisor's checking comes before their own unit's work."""
    w = who(user)
    sides = []
    if permissions.supervised_subtree(w) is not None:
        sides.append(permissions.Side.SUPERVISING)
    if permissions.acting_unit(w) is not None:
        sides.append(permissions.Side.RESPONSIBLE)
    return sides


def _sides_tasks(user: User) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The tasks of the user's own unit and those the user supervises: built once for all
    the boxes of a count (the header's count on every page built them once a box, a third
    of its time)."""
    return task_acted_for(user), task_supervised(user)


def _where(
    key: str, user: User, now: datetime, scope: tuple[ColumnElement[bool], ColumnElement[bool]] | None = None
) -> list[ColumnElement[bool]]:
    """What puts a record into the box ``key``, over the records its side acts on
    (``scope``: :func:`_sides_tasks` of the user, when the caller already has it)."""
    mine, supervised = scope or _sides_tasks(user)
    match key:
        case "to_acknowledge":  # 签收 owed (app.domain.receipt)
            return [mine, Task.receipt.in_(_AWAITING), Task.state.in_(_OPEN)]
        case "to_start":  # a declined task waits on the issuing side, not on the unit
            return [mine, Task.state == State.IDENTIFIED.value, Task.receipt != ReceiptState.DECLINED.value]
        case "to_rectify":
            return [mine, Task.state == State.IN_PROGRESS.value, Task.rectified_by_id.is_(None)]
        case "sent_back":
            return [mine, Task.state == State.IN_PROGRESS.value, Task.rectified_by_id.is_not(None)]
        case "due_soon":
            return [mine, Task.state.in_(_OPEN), Task.due_at >= now, Task.due_at <= now + BLUE_WITHIN]
        case "reports_owed":
            owed = [st.value for st in OWED]
            return [submission_acted_for(user), Submission.state.in_(owed), Submission.due_at <= now + REPORTS_AHEAD]
        case "declined":  # 拒收: to reassign, narrow or insist on
            return [supervised, Task.receipt == ReceiptState.DECLINED.value, Task.state.in_(_OPEN)]
        case "to_check":
            # nobody checks what they rectified themselves (workflow: not_by_rectifier)
            others = or_(Task.rectified_by_id.is_(None), Task.rectified_by_id != user.id)
            return [supervised, Task.state == State.RECTIFIED.value, others]
        case "extensions":
            # decided only while the task is still open (app.domain.extensions); read from the
            # few pending requests to their tasks, never from the many open tasks to requests
            task = select(Task.id).where(Task.id == ExtensionRequest.task_id, supervised, Task.state.in_(_OPEN))
            return [ExtensionRequest.state == ExtensionState.PENDING.value, task.correlate(ExtensionRequest).exists()]
        case "reports_to_review":
            return [submission_supervised(user), Submission.state == SubmissionState.SUBMITTED.value]
        case "lookbacks":  # pending, of a task still struck off (one reopened meanwhile asks for none)
            pending = Lookback.state == RecheckState.PENDING.value
            return [lookback_supervised(user), pending, current_clause(), Lookback.due_at <= now + REPORTS_AHEAD]
        case "overdue":
            return [supervised, overdue_clause(now)]
    raise KeyError(key)


def _count(spec: BoxSpec, user: User, now: datetime, scope):
    if spec.record == "task":
        q = select(Task.id)
    elif spec.record == "extension":
        q = select(ExtensionRequest.id)
    elif spec.record == "lookback":
        q = select(Lookback.id)
    else:
        q = select(Submission.id)
    return tasks.bounded_count(q.where(*_where(spec.key, user, now, scope))).label(spec.key)


def _specs(user: User) -> list[BoxSpec]:
    sides = _sides(user)
    return [b for b in BOXES if b.side in sides]


def counts(db: Database, user: User, now: datetime, header: bool = False) -> dict[str, int]:
    """Each box's count (up to one past the cap), in one statement; empty for a role with
    no work of its own. ``header``: only the boxes the header adds up (due soon and overdue
    repeat others)."""
    specs = [b for b in _specs(user) if b.in_total or not header]
    if not specs:
        return {}
    scope = _sides_tasks(user)
    row = db.session().execute(select(*[_count(b, user, now, scope) for b in specs])).one()
    return {b.key: n or 0 for b, n in zip(specs, row, strict=True)}


def _total(found: dict[str, int]) -> Bounded:
    """The boxes added up, "1000+" once one of them or their sum passes the cap."""
    return Bounded(min(sum(found.values()), tasks.COUNT_CAP + 1))


def header_total(db: Database, user: User, now: datetime) -> Bounded:
    """The number in the navigation: what waits for the person to act on it."""
    return _total(counts(db, user, now, header=True))


def my_work(db: Database, user: User, now: datetime, per_box: int = ITEMS_PER_BOX) -> Queue:
    s = db.session()
    found = counts(db, user, now)
    boxes = []
    for spec in _specs(user):
        box = Box(spec, found[spec.key])
        if box.count:
            box.items = _items(s, spec, user, now, per_box)
        if spec.key == "overdue" and box.count:
            box.by_level = _by_level(s, user, now)
        boxes.append(box)
    return Queue(boxes, _sides(user))


def _task_item(t: Task, unit: str, title: str, now: datetime, record: str = "task", rid: int | None = None) -> Item:
    return Item(
        record=record,
        id=rid or t.id,
        task_id=t.id,
        plan_id=t.plan_id,
        title=title,
        unit_name=unit,
        state=t.state,
        deadline_text=t.deadline_text,
        due_at=t.due_at,
        level=t.escalation_level,
        overdue=t.state in _OPEN and t.due_at is not None and t.due_at < now,
    )


def _items(s: Session, spec: BoxSpec, user: User, now: datetime, limit: int) -> list[Item]:
    where = _where(spec.key, user, now)
    if spec.record == "submission":
        rows = s.execute(
            select(Submission, Unit.name, Obligation.title)
            .join(Unit, Submission.unit_id == Unit.id)
            .join(Obligation, Submission.obligation_id == Obligation.id)
            .where(*where)
            .order_by(Submission.due_at, Submission.id)
            .limit(limit)
        ).all()
        return [
            Item(
                record="submission",
                id=sub.id,
                task_id=None,
                plan_id=sub.plan_id,
                title=title,
                unit_name=unit,
                state=sub.state,
                deadline_text="",
                due_at=sub.due_at,
                due_on=sub.due_on,
                level=sub.escalation_level,
                overdue=sub.state in {st.value for st in OWED} and sub.due_at < now,
            )
            for sub, unit, title in rows
        ]
    if spec.record == "lookback":
        return _lookback_items(s, where, now, limit)
    q = (
        select(Task, Unit.name, Problem.title)
        .join(Unit, Task.unit_id == Unit.id)
        .join(Problem, Task.problem_id == Problem.id)
        .where(*where)
    )
    if spec.record == "extension":
        q = q.add_columns(ExtensionRequest.id).join(ExtensionRequest, ExtensionRequest.task_id == Task.id)
        q = q.order_by(ExtensionRequest.requested_at, ExtensionRequest.id)
    elif spec.key == "overdue":
        # the highest level first: each level's earliest deadlines from ix_tasks_overdue_order
        firsts = [
            select(Task.id).where(*where, Task.escalation_level == lv).order_by(Task.due_at, Task.id).limit(limit)
            for lv in LEVELS
        ]
        q = q.where(Task.id.in_(union_all(*[select(f.subquery().c.id) for f in firsts])))
        q = q.order_by(Task.escalation_level.desc(), Task.due_at, Task.id)
    else:
        q = q.order_by(Task.due_at.asc().nulls_last(), Task.id)
    rows = s.execute(q.limit(limit)).all()
    if spec.record == "extension":
        return [_task_item(t, u, title, now, "extension", rid) for t, u, title, rid in rows]
    return [_task_item(t, u, title, now) for t, u, title in rows]


def _lookback_items(s: Session, where: list, now: datetime, limit: int) -> list[Item]:
    rows = s.execute(
        select(Lookback, Unit.name, Problem.title)
        .join(Task, Lookback.task_id == Task.id)
        .join(Unit, Lookback.unit_id == Unit.id)
        .join(Problem, Task.problem_id == Problem.id)
        .where(*where)
        .order_by(Lookback.due_at, Lookback.id)
        .limit(limit)
    ).all()
    return [
        Item(
            record="lookback",
            id=lb.id,
            task_id=lb.task_id,
            plan_id=lb.plan_id,
            title=title,
            unit_name=unit,
            state=lb.state,
            deadline_text="",
            due_at=lb.due_at,
            level=lb.escalation_level,
            overdue=lb.due_at < now,
        )
        for lb, unit, title in rows
    ]


def _by_level(s: Session, user: User, now: datetime) -> dict[int, Bounded]:
    """The overdue box's tasks per escalation level, the highest first, each counted up to
    the cap as the box is (read from ix_tasks_overdue_order)."""
    where = _where("overdue", user, now)
    row = s.execute(
        select(*[tasks.bounded_count(select(Task.id).where(*where, Task.escalation_level == lv)) for lv in LEVELS])
    ).one()
    return {lv: Bounded(n) for lv, n in zip(LEVELS, row, strict=True) if n}
