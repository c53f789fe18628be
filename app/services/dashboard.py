"""The supervisor's picture: where everything stands, what is overdue where, and how
the open count has fallen over time (动态清零)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, true

from app.db import Database
from app.domain.deadlines import CHINA
from app.domain.workflow import OFF_THE_BOOKS, OPEN_STATES, State
from app.models import Lookback, Plan, Task, Unit, User
from app.schemas import Figures
from app.services import tally
from app.services.plans import figures_by_plan, make_figures, rebounds_clause
from app.services.scope import get_visible_plan, issuing_side
from app.services.tally import overdue_clause

TOP_UNITS = 20  # the units' chart: the most overdue first (a ledger may have a thousand units)
_OPEN = [st.value for st in OPEN_STATES]


@dataclass
class Dashboard:
    figures: object
    colours: dict[str, int]
    overdue_by_unit: list[tuple[str, int, int]]  # unit, overdue, open: the TOP_UNITS most overdue
    overdue_by_category: list[tuple[str, int]]
    burndown: list[tuple[str, int]]  # China date, open (not yet closed) count at the end of it
    # the level below (plans answering plans): each answering plan the viewer reads from
    # above, its issuing unit and its figures (city → county → township)
    below: list[tuple[Plan, str, Figures]]


def build(db: Database, viewer: User, now: datetime, plan_id: int | None = None) -> Dashboard:
    """Over the tasks the viewer sees; with ``plan_id``, of a plan they see (404 otherwise).
    Figures, colours and categories come from the tallies (app.services.tally); the units'
    chart and the burn-down each from a bounded read."""
    s = db.session()
    seen = tally.seen(s, viewer, [get_visible_plan(s, viewer, plan_id).id] if plan_id else None)
    by_state = {st.value: 0 for st in State}
    overdue_total = 0
    colours = dict.fromkeys(("red", "yellow", "blue"), 0)
    per_category: dict[str, int] = {}
    for (_plan, category, state, notice), c in tally.counts(s, seen, now, "category").items():
        by_state[state] += c.n
        overdue_total += c.overdue
        if c.overdue:
            per_category[category or "未分类"] = per_category.get(category or "未分类", 0) + c.overdue
        if notice:
            colours["red"] += c.n if state in _OPEN else 0
        else:
            colours["yellow"] += c.overdue
            colours["blue"] += c.blue
    rebounds = select(func.count()).select_from(Lookback).where(rebounds_clause(viewer))
    if plan_id:
        rebounds = rebounds.where(Lookback.plan_id == plan_id)
    return Dashboard(
        figures=make_figures(by_state, overdue_total, s.scalar(rebounds) or 0),
        colours=colours,
        overdue_by_unit=_units(s, seen, now),
        overdue_by_category=sorted(per_category.items(), key=lambda kv: (-kv[1], kv[0])),
        burndown=_burndown(s, seen, now, sum(n for st, n in by_state.items() if State(st) not in OFF_THE_BOOKS)),
        below=_below(s, viewer, now, plan_id),
    )


def _units(s, seen: tally.Seen, now: datetime, top: int = TOP_UNITS) -> list[tuple[str, int, int]]:
    """The ``top`` units with open tasks, the most overdue first, then by name (the
    database's collation), with their overdue and open counts."""
    visible = seen.tasks()
    # counted per unit from ix_tasks_state_due alone (state, deadline, unit, plan), named
    # after. Grouped by unit_id + 0, an expression no index is in the order of: grouped by
    # the column, SQLite walks ix_tasks_unit_state for its order instead and reads every
    # open task's row (57-92 against 12-22 ms at 100,000 tasks; PostgreSQL is unmoved)
    unit = (Task.unit_id + 0).label("unit_id")
    counted = select(unit, func.count().label("n")).where(visible, overdue_clause(now)).group_by(unit).subquery()
    ranked = s.execute(
        select(Unit.id, Unit.name, counted.c.n)
        .join(counted, counted.c.unit_id == Unit.id)
        .order_by(counted.c.n.desc(), Unit.name)
        .limit(top)
    ).all()
    late = {uid: k for uid, _, k in ranked}
    units = [(uid, name) for uid, name, _ in ranked]
    if len(units) < top:  # then the units with open tasks and none overdue, by name
        some_open = exists(select(Task.id).where(Task.unit_id == Unit.id, Task.state.in_(_OPEN), visible))
        rest = select(Unit.id, Unit.name).where(some_open, Unit.id.not_in(late) if late else true())
        units += s.execute(rest.order_by(Unit.name).limit(top - len(units))).all()
    if not units:
        return []
    ids = [uid for uid, _ in units]
    q = select(Task.unit_id, func.count()).where(visible, Task.state.in_(_OPEN), Task.unit_id.in_(ids))
    open_ = dict(s.execute(q.group_by(Task.unit_id)).all())
    return [(name, late.get(uid, 0), open_.get(uid, 0)) for uid, name in units]


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


def _burndown(s, seen: tally.Seen, now: datetime, open_now: int, days: int = 60) -> list[tuple[str, int]]:
    """Open (not closed) count at the end of each China day of the last ``days``: +1 when
    a task is created or reopened, -1 when it is closed or withdrawn. Read from the
    append-only history's changes per day (app.services.tally.open_changes), so it cannot
    be edited after the fact; the count before the window is today's open count less the
    window's changes. The series starts at the window, or at the first change if nothing
    was open before it."""
    today = now.astimezone(CHINA).date()
    window = today - timedelta(days=days)
    delta = tally.open_changes(s, seen, window)
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
