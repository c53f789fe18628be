"""Counts of tasks for figures (plans, the plan page, the dashboard) from the running
tallies the database keeps (app.models.tally), exact at any ``now``.

A viewer on a plan's issuing side sees every one of its tasks (a plan only assigns units
under its issuer), so their counts come from ``task_tally``: the tasks due before the
UTC day of ``now`` are overdue if open, those due after it are not, and only the tasks
due on that day and the next few (the blue ones, due within BLUE_WITHIN) are read from
tasks themselves. A viewer below the issuer counts the tasks of their own subtree
directly. Either way a fixed number of statements, whatever the plan holds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import ColumnElement, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from app.domain.deadlines import CHINA
from app.domain.supervision import BLUE_WITHIN
from app.domain.workflow import OFF_THE_BOOKS, OPEN_STATES
from app.models import OpenDelta, Plan, Problem, Task, TaskEvent, TaskTally, User
from app.models.base import china_day
from app.services.scope import issuing_side, plan_visible, task_visible

_OPEN = [st.value for st in OPEN_STATES]
_OFF = [st.value for st in OFF_THE_BOOKS]


def open_clause() -> ColumnElement[bool]:
    """The task is still owed (挂账 or 整改中), with the states written into the SQL
    rather than bound: a partial index on open tasks (ix_tasks_overdue_order) is usable
    only where the planner can see the query asks for those very states, which neither
    PostgreSQL's generic plan of a prepared statement nor SQLite can with parameters."""
    return Task.state.in_(bindparam("open_states", _OPEN, expanding=True, literal_execute=True))


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    return open_clause() & (Task.due_at < now)


def colour_clause(colour: str, now: datetime) -> ColumnElement[bool]:
    """三色督办 as SQL, the same rule as app.domain.supervision.colour (one colour each)."""
    open_ = open_clause()
    if colour == "red":
        return open_ & Task.public_notice.is_(True)
    if colour == "yellow":
        return overdue_clause(now) & Task.public_notice.is_(False)
    return open_ & Task.public_notice.is_(False) & (Task.due_at >= now) & (Task.due_at <= now + BLUE_WITHIN)


def open_delta() -> ColumnElement[int]:
    """The change of the open count a history entry makes, as the trigger of migration
    0026 writes it into open_deltas: +1 created on the books or taken back onto them,
    -1 taken off them (closed, withdrawn), 0 for everything else."""
    created, moved = TaskEvent.kind == "created", TaskEvent.kind == "transition"
    on, off = TaskEvent.to_state.not_in(_OFF), TaskEvent.to_state.in_(_OFF)
    return case(
        (created & on, 1),
        (moved & TaskEvent.from_state.in_(_OFF) & on, 1),
        (moved & TaskEvent.from_state.not_in(_OFF) & off, -1),
        else_=0,
    )


@dataclass
class Count:
    n: int = 0
    overdue: int = 0
    blue: int = 0


@dataclass(frozen=True)
class Seen:
    """The plans of a request split by how the viewer sees them: ``whole`` (every task:
    counted from the tallies) and ``part`` (their subtree's tasks only: counted directly)."""

    viewer: User
    whole: list[int]
    part: list[int]

    def tasks(self) -> ColumnElement[bool]:
        """Tasks the viewer sees among these plans."""
        whole = Task.plan_id.in_(self.whole)
        return or_(whole, Task.plan_id.in_(self.part) & task_visible(self.viewer)) if self.part else whole


def seen(s: Session, viewer: User, plan_ids: list[int] | None = None) -> Seen:
    """The visible plans (of ``plan_ids`` if given), split as :class:`Seen` says."""
    q = select(Plan.id, issuing_side(viewer)).where(plan_visible(viewer))
    if plan_ids is not None:
        q = q.where(Plan.id.in_(plan_ids))
    rows = s.execute(q).all()
    return Seen(viewer, [pid for pid, whole in rows if whole], [pid for pid, whole in rows if not whole])


# what counts may be grouped by, besides state and 通报: the plan, the problem, the category
BY = {"plan": ("plan_id",), "problem": ("plan_id", "problem_id"), "category": ("plan_id", "category")}


def _cols(table, by: str) -> list:
    return [Problem.category if c == "category" else getattr(table, c) for c in BY[by]]


def counts(s: Session, seen: Seen, now: datetime, by: str = "plan") -> dict[tuple, Count]:
    """Tasks the viewer sees, keyed by ``(*BY[by], state, public_notice)``: how many, how
    many overdue at ``now`` and how many blue (due within BLUE_WITHIN, not on the 通报 list)."""
    out: dict[tuple, Count] = defaultdict(Count)
    day = now.astimezone(UTC).date()
    for tally_rows in _from_tallies(s, seen.whole, now, day, by):
        for *key, n, overdue, blue in tally_rows:
            c = out[tuple(key)]
            c.n, c.overdue, c.blue = c.n + int(n or 0), c.overdue + int(overdue or 0), c.blue + int(blue or 0)
    if seen.part:
        for *key, n, overdue, blue in _counted(s, Task.plan_id.in_(seen.part) & task_visible(seen.viewer), now, by):
            c = out[tuple(key)]
            c.n, c.overdue, c.blue = c.n + n, c.overdue + int(overdue or 0), c.blue + int(blue or 0)
    return out


def _joined(q, table, by: str):
    return q.join(Problem, table.problem_id == Problem.id) if by == "category" else q


def _from_tallies(s: Session, plan_ids: list[int], now: datetime, day: date, by: str):
    """The tallies' rows (n, and overdue for the days before ``day``), then the tasks due
    from the start of ``day`` to the end of the blue window (overdue or blue)."""
    if not plan_ids:
        return
    t = TaskTally
    cols = [*_cols(t, by), t.state, t.public_notice]
    before = t.state.in_(_OPEN) & (t.due_day < day)
    q = select(*cols, func.sum(t.n), func.sum(case((before, t.n), else_=0)), func.sum(0))
    yield s.execute(_joined(q, t, by).where(t.plan_id.in_(plan_ids)).group_by(*cols)).all()
    start = datetime.combine(day, time(), UTC)
    near = Task.plan_id.in_(plan_ids) & Task.state.in_(_OPEN) & (Task.due_at >= start)
    cols = [*_cols(Task, by), Task.state, Task.public_notice]
    q = select(*cols, func.sum(0), _sum(overdue_clause(now)), _sum(colour_clause("blue", now)))
    yield s.execute(_joined(q, Task, by).where(near, Task.due_at <= now + BLUE_WITHIN).group_by(*cols)).all()


def _sum(clause: ColumnElement[bool]):
    return func.sum(case((clause, 1), else_=0))


def _counted(s: Session, where: ColumnElement[bool], now: datetime, by: str):
    """The same counts read from the tasks themselves."""
    cols = [*_cols(Task, by), Task.state, Task.public_notice]
    q = select(*cols, func.count(), _sum(overdue_clause(now)), _sum(colour_clause("blue", now)))
    return s.execute(_joined(q, Task, by).where(where).group_by(*cols)).all()


def open_changes(s: Session, seen: Seen, first: date) -> dict[date, int]:
    """The change of the open count per China day from ``first`` on, over the tasks the
    viewer sees (:func:`open_delta`); days without a change left out."""
    out: dict[date, int] = defaultdict(int)
    if seen.whole:
        q = select(OpenDelta.day, func.sum(OpenDelta.delta)).where(
            OpenDelta.plan_id.in_(seen.whole), OpenDelta.day >= first
        )
        for d, n in s.execute(q.group_by(OpenDelta.day)):
            out[d] += int(n)
    if seen.part:
        day, delta = china_day(TaskEvent.at), open_delta()
        q = (
            select(day, func.sum(delta))
            .join(Task, TaskEvent.task_id == Task.id)
            .where(Task.plan_id.in_(seen.part), task_visible(seen.viewer), delta != 0)
            .where(TaskEvent.at >= datetime.combine(first, time(), CHINA))
            .group_by(day)
        )
        for d, n in s.execute(q):
            out[d] += int(n)
    return {d: n for d, n in out.items() if n}
