"""The supervisor's picture: where everything stands, what is overdue where, and how
the open count has fallen over time (动态清零)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from app.db import Database
from app.domain.deadlines import CHINA
from app.domain.workflow import OPEN_STATES, State
from app.models import Problem, Task, TaskEvent, Unit, User
from app.services.plans import make_figures, overdue_clause
from app.services.scope import get_visible_plan, task_visible
from app.services.tasks import colour_clause


@dataclass
class Dashboard:
    figures: object
    colours: dict[str, int]
    overdue_by_unit: list[tuple[str, int, int]]  # unit, overdue, open
    overdue_by_category: list[tuple[str, int]]
    burndown: list[tuple[str, int]]  # China date, open (not yet closed) count at the end of it


def build(db: Database, viewer: User, now: datetime, plan_id: int | None = None) -> Dashboard:
    """Over the tasks the viewer sees; with ``plan_id``, of a plan they see (404 otherwise)."""
    s = db.session()
    where = [task_visible(viewer)] + ([Task.plan_id == get_visible_plan(s, viewer, plan_id).id] if plan_id else [])
    open_states = [st.value for st in OPEN_STATES]
    by_state = {st.value: 0 for st in State}
    overdue_total = 0
    for state, n, n_overdue in s.execute(
        select(Task.state, func.count(), func.sum(case((overdue_clause(now), 1), else_=0)))
        .where(*where)
        .group_by(Task.state)
    ):
        by_state[state] = n
        overdue_total += n_overdue or 0
    names = ("red", "yellow", "blue")
    counts = s.execute(
        select(*(func.sum(case((colour_clause(c, now), 1), else_=0)) for c in names)).where(*where)
    ).one()
    colours = {c: int(n or 0) for c, n in zip(names, counts, strict=True)}
    per_unit = s.execute(
        select(Unit.name, func.sum(case((overdue_clause(now), 1), else_=0)), func.count())
        .select_from(Task)
        .join(Unit, Task.unit_id == Unit.id)
        .where(*where, Task.state.in_(open_states))
        .group_by(Unit.name)
        .order_by(func.sum(case((overdue_clause(now), 1), else_=0)).desc(), Unit.name)
    ).all()
    per_category = s.execute(
        select(Problem.category, func.count())
        .select_from(Task)
        .join(Problem, Task.problem_id == Problem.id)
        .where(*where, overdue_clause(now))
        .group_by(Problem.category)
        .order_by(func.count().desc())
    ).all()
    return Dashboard(
        figures=make_figures(by_state, overdue_total),
        colours=colours,
        overdue_by_unit=[(name, int(o or 0), n) for name, o, n in per_unit],
        overdue_by_category=[(cat or "未分类", n) for cat, n in per_category],
        burndown=_burndown(s, where, now),
    )


def _burndown(s, where, now: datetime, days: int = 60) -> list[tuple[str, int]]:
    """Open count at the end of each China day: +1 when a task is created or reopened,
    -1 when it is closed. Read from the append-only history, so it cannot be edited
    after the fact."""
    delta: Counter[date] = Counter()
    rows = s.execute(
        select(TaskEvent.at, TaskEvent.kind, TaskEvent.from_state, TaskEvent.to_state)
        .join(Task, TaskEvent.task_id == Task.id)
        .where(*where, TaskEvent.kind.in_(("created", "transition")))
    )
    for at, kind, frm, to in rows:
        day = at.astimezone(CHINA).date()
        if kind == "created" or frm == State.CLOSED:
            delta[day] += 1
        elif to == State.CLOSED:
            delta[day] -= 1
    if not delta:
        return []
    today = now.astimezone(CHINA).date()
    start = max(min(delta), today - timedelta(days=days))
    running = sum(n for d, n in delta.items() if d < start)
    series: dict[date, int] = defaultdict(int)
    d = start
    while d <= today:
        running += delta.get(d, 0)
        series[d] = running
        d += timedelta(days=1)
    return [(d.isoformat(), n) for d, n in series.items()]
