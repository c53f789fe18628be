"""The supervisor's picture: where everything stands, what is overdue where, and how
the open count has fallen over time (动态清零)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import case, func, or_, select

from app.db import Database
from app.domain.deadlines import CHINA
from app.domain.workflow import OFF_THE_BOOKS, OPEN_STATES, State
from app.models import Lookback, Plan, Problem, Task, TaskEvent, Unit, User
from app.models.base import china_day
from app.schemas import Figures
from app.services.plans import figures_by_plan, make_figures, overdue_clause, rebounds_clause
from app.services.scope import get_visible_plan, issuing_side, task_visible
from app.services.tasks import colour_clause


@dataclass
class Dashboard:
    figures: object
    colours: dict[str, int]
    overdue_by_unit: list[tuple[str, int, int]]  # unit, overdue, open
    overdue_by_category: list[tuple[str, int]]
    burndown: list[tuple[str, int]]  # China date, open (not yet closed) count at the end of it
    # the level below (plans answering plans): each answering plan the viewer reads from
    # above, its issuing unit and its figures (city → county → township)
    below: list[tuple[Plan, str, Figures]]


def build(db: Database, viewer: User, now: datetime, plan_id: int | None = None) -> Dashboard:
    """Over the tasks the viewer sees; with ``plan_id``, of a plan they see (404 otherwise)."""
    s = db.session()
    where = [task_visible(viewer)] + ([Task.plan_id == get_visible_plan(s, viewer, plan_id).id] if plan_id else [])
    open_states = {st.value for st in OPEN_STATES}
    by_state = {st.value: 0 for st in State}
    overdue_total = 0
    names = ("red", "yellow", "blue")
    colours = dict.fromkeys(names, 0)
    per_unit: dict[str, list[int]] = {}  # unit -> [overdue, open], most overdue first, then by name
    overdue = func.sum(case((overdue_clause(now), 1), else_=0))
    flagged = [func.sum(case((colour_clause(c, now), 1), else_=0)) for c in names]
    # one scan for every figure, tile and unit: counts per unit and state (the database
    # orders the units, so names sort by its collation as they always did)
    for unit, state, n, n_overdue, *n_colours in s.execute(
        select(Unit.name, Task.state, func.count(), overdue, *flagged)
        .join(Unit, Task.unit_id == Unit.id)
        .where(*where)
        .group_by(Unit.name, Task.state)
        .order_by(func.sum(overdue).over(partition_by=Unit.name).desc(), Unit.name)
    ):
        by_state[state] += n
        overdue_total += n_overdue or 0
        for c, k in zip(names, n_colours, strict=True):
            colours[c] += int(k or 0)
        if state in open_states:
            counts = per_unit.setdefault(unit, [0, 0])
            counts[0] += int(n_overdue or 0)
            counts[1] += n
    per_category = s.execute(
        select(Problem.category, func.count())
        .select_from(Task)
        .join(Problem, Task.problem_id == Problem.id)
        .where(*where, overdue_clause(now))
        .group_by(Problem.category)
        .order_by(func.count().desc())
    ).all()
    rebounds = select(func.count()).select_from(Lookback).where(rebounds_clause(viewer))
    if plan_id:
        rebounds = rebounds.where(Lookback.plan_id == plan_id)
    return Dashboard(
        figures=make_figures(by_state, overdue_total, s.scalar(rebounds) or 0),
        colours=colours,
        overdue_by_unit=[(name, o, n) for name, (o, n) in per_unit.items()],
        overdue_by_category=[(cat or "未分类", n) for cat, n in per_category],
        burndown=_burndown(s, where, now, sum(n for st, n in by_state.items() if State(st) not in OFF_THE_BOOKS)),
        below=_below(s, viewer, now, plan_id),
    )


def _below(s, viewer: User, now: datetime, plan_id: int | None) -> list[tuple[Plan, str, Figures]]:
    """Answering plans of ``plan_id`` (or of any plan) that the viewer reads from above: the
    progress of the level below, one row per answering unit."""
    q = (
        select(Plan, Unit.name)
        .join(Unit, Plan.issuing_unit_id == Unit.id)
        .where(Plan.answers_plan_id.is_not(None), issuing_side(viewer), Plan.issuing_unit_id != viewer.unit_id)
        .order_by(Unit.path, Plan.id)
    )
    if plan_id:
        q = q.where(Plan.answers_plan_id == plan_id)
    found = s.execute(q.limit(200)).all()
    figures = figures_by_plan(s, viewer, [p.id for p, _ in found], now)
    return [(p, name, figures[p.id]) for p, name in found]


def _burndown(s, where, now: datetime, open_now: int, days: int = 60) -> list[tuple[str, int]]:
    """Open (not closed) count at the end of each China day of the last ``days``: +1 when
    a task is created or reopened, -1 when it is closed or withdrawn. Read from the append-only
    history, so it cannot be edited after the fact: the database sums the changes of the
    window per day (only the events that change the count, one row per day back), and
    the count before the window is today's open count less the window's changes. The
    series starts at the window, or at the first change if nothing was open before it."""
    today = now.astimezone(CHINA).date()
    window = today - timedelta(days=days)
    since = datetime.combine(window, time(), CHINA)
    day = china_day(TaskEvent.at)
    moved = TaskEvent.kind == "transition"  # other entries (urged, extended …) keep the state
    opened = or_(TaskEvent.kind == "created", moved & (TaskEvent.from_state == State.CLOSED.value))
    closed = moved & TaskEvent.to_state.in_([st.value for st in OFF_THE_BOOKS])
    delta = {
        d: int(n)
        for d, n in s.execute(
            select(day, func.sum(case((opened, 1), else_=-1)))
            .join(Task, TaskEvent.task_id == Task.id)
            .where(*where, TaskEvent.at >= since, opened | closed)
            .group_by(day)
        )
    }
    running = open_now - sum(delta.values())
    if not delta and not running:
        return []
    d = window if running else min(delta)
    series = []
    while d <= today:
        running += delta.get(d, 0)
        series.append((d.isoformat(), running))
        d += timedelta(days=1)
    return series
