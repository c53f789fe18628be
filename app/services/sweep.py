"""The sweep: find items whose next action is due (tasks, submissions and look-backs), write their notifications and
escalation steps, and move each item's ``next_action_at`` on. One batch = one
transaction, so a crash leaves either the whole batch or none of it. Then, once per
working day, each issuing unit's supervisors get the 通报 list: one message naming every
open item of its plans at level 3, instead of a message per item.

Cost follows what is due (an indexed ``next_action_at <= now`` range), not what exists.
On PostgreSQL rows are locked with SKIP LOCKED so concurrent sweeps split the work; on
SQLite writers are serialised anyway. Either way the outbox's unique keys make a
repeated step a no-op, so two sweeps can never send one thing twice.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, literal, select, text, update
from sqlalchemy.orm import Session

from app.db import Database
from app.domain.deadlines import CHINA
from app.domain.receipt import awaiting
from app.domain.rechecks import RecheckState
from app.domain.reminders import (
    Decision,
    Item,
    Ladder,
    Policy,
    Step,
    decide,
    into_window,
    ladder_columns,
    next_step_after,
    steps_between,
)
from app.domain.submissions import OWED
from app.domain.workflow import OPEN_STATES
from app.models import Lookback, Notification, Obligation, Plan, Problem, Submission, Task, Unit
from app.services.calendar import load_calendar
from app.services.history import Entry, add_events
from app.services.outbox_rows import (
    People,
    Target,
    fan_out,
    folded_row,
    insert_ignoring_duplicates,
    listed,
    message,
    rows_for_step,
)


@dataclass
class SweepReport:
    items: int = 0
    notifications: int = 0
    escalations: int = 0
    folded: int = 0
    batches: int = 0
    listed: int = 0  # items newly put on the 通报 list (level 3)
    notice_lists: int = 0  # 通报 lists written for issuing units
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"swept {self.items} items in {self.batches} batches: {self.notifications} notifications, "
            f"{self.escalations} escalation steps, {self.folded} stale steps folded, "
            f"{self.notice_lists} notice lists"
        )


def policy_for(plan: Plan, defaults: Mapping) -> Policy:
    return Policy.from_dict(dict(defaults) | (plan.reminder_policy or {}))


def plan_policy(s: Session, plan: Plan) -> Policy:
    """The plan's policy over the app's defaults, which every session carries
    (``session.info["outbox"]``, see app.services.events)."""
    return policy_for(plan, s.info.get("outbox", {}).get("defaults", {}))


def china_date(instant: datetime | None):
    return instant.astimezone(CHINA).date() if instant else None


def item_of(deadline_kind: str, due_at: datetime | None, active_since: datetime, ladder: Ladder = "deadline") -> Item:
    return Item(deadline_kind, china_date(due_at) if deadline_kind == "date" else None, active_since, ladder)


# With a hand-off (``on_batch``) the first batch is this small, and each next one twice
# the last up to the batch size: delivery starts on what the first committed while the
# sweep writes the rest, instead of waiting for a whole batch of 2,000.
FIRST_BATCH = 250


def sweep(
    db: Database,
    now: datetime,
    defaults: Mapping,
    channels: frozenset[str],
    batch_size: int = 2000,
    verbose: bool = False,
    on_batch: Callable[[Counter[Pair]], None] | None = None,
) -> SweepReport:
    """Sweep tasks' deadlines, their acknowledgements (签收), submissions, then look-backs,
    batch by batch, until nothing is due at ``now``. ``on_batch`` is called after each
    batch has committed, with the batch's items counted by :data:`Pair` (app.jobs.tick
    hands its outbox rows to delivery there, see :class:`StillDue`)."""
    report = SweepReport()
    size = batch_size if on_batch is None else min(batch_size, FIRST_BATCH)
    for kind in MODELS:
        while True:
            with _collector_paused(), db.transaction() as s:
                taken = _sweep_batch(s, kind, now, defaults, channels, size, report, verbose)
            n = taken.total()
            if n == 0:
                break
            report.batches += 1
            report.items += n
            if on_batch is not None:
                on_batch(taken)
            if n < size:
                break
            size = min(batch_size, size * 2)
    with _collector_paused(), db.transaction() as s:
        _notice_lists(s, now, defaults, channels, report, verbose)
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused for one batch, and restored as it was. A batch
    makes tens of thousands of objects (rows, their values, the people loaded) that live
    until it ends and are then freed by reference counting; counted while they live, they
    set off a full collection, which walks every object of the process (0.2-0.3 s for the
    app's 150,000 here), in nearly every batch, to find nothing. Paused, the collector
    never sees them: the next collection finds them gone."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


MODELS = {"task": Task, "ack": Task, "submission": Submission, "lookback": Lookback}
# the states in which an item of each kind is still owed (reminded, escalated); for the
# 签收 ladder the task's receipt must still be awaited too (:func:`_open`)
_OWED = {"task": OPEN_STATES, "ack": OPEN_STATES, "submission": OWED, "lookback": (RecheckState.PENDING,)}
_SCHEDULE = ("swept_until", "next_action_at", "escalation_level", "public_notice")
# The stored schedule of each kind of item: a task's deadline ladder, a submission's and a
# look-back's use Schedulable's columns; a task's 签收 ladder has its own
# (app.models.Task.ack_*) and never touches the 通报 list.
_STORED = {
    **{kind: dict(zip(_SCHEDULE, _SCHEDULE, strict=True)) for kind in ("task", "submission", "lookback")},
    "ack": {
        "swept_until": "ack_swept_until",
        "next_action_at": "ack_next_action_at",
        "escalation_level": "ack_level",
        "public_notice": None,
    },
}
_TASK_FACTS = ("id", "plan_id", "unit_id", "problem_id", "owner_id", "state")
_COLUMNS = {
    "task": (*(getattr(Task, c) for c in (*_TASK_FACTS, "deadline_kind", "due_at", "active_since", *_SCHEDULE)),),
    # the ack ladder read under the deadline ladder's names, so one loop sweeps both
    "ack": (
        *(getattr(Task, c) for c in (*_TASK_FACTS, "receipt")),
        literal("date").label("deadline_kind"),
        Task.ack_due_at.label("due_at"),
        Task.ack_since.label("active_since"),
        *(
            getattr(Task, col).label(name) if col else literal(False).label(name)
            for name, col in _STORED["ack"].items()
        ),
    ),
    "submission": tuple(
        getattr(Submission, c)
        for c in ("id", "plan_id", "unit_id", "obligation_id", "state", "due_at", "active_since", *_SCHEDULE)
    ),
    "lookback": tuple(
        getattr(Lookback, c)
        for c in ("id", "plan_id", "unit_id", "task_id", "state", "due_at", "active_since", *_SCHEDULE)
    ),
}


def _next_action(kind: str):
    return getattr(MODELS[kind], _STORED[kind]["next_action_at"])


# An item's unit and its plan's issuing unit: the units whose people a step of the item
# may reach (its unit's people, or its issuer's supervisors: outbox_rows.People.audience).
Pair = tuple[int, int]


def still_due(s: Session, now: datetime) -> Counter[Pair]:
    """The items a sweep at ``now`` has still to take (any kind), counted by :data:`Pair`.
    One range read per kind over what is still due, grouped."""
    counts: Counter[Pair] = Counter()
    for kind, model in MODELS.items():
        due = (
            select(model.unit_id, Plan.issuing_unit_id, func.count())
            .join(Plan, Plan.id == model.plan_id)
            .where(_next_action(kind) <= now)
            .group_by(model.unit_id, Plan.issuing_unit_id)
        )
        for unit_id, issuer_id, n in s.execute(due):
            counts[(unit_id, issuer_id)] += n
    return counts


class StillDue:
    """The units whose people a sweep at ``now`` may still write to (both units of every
    :data:`Pair` with an item still due), kept up to date through one sweep batch by
    batch, without reading every item still due after every batch (at 100,000 due items
    that read took about 0.1 s, and a sweep of them has some 50 batches). What is due is
    read once, after the first batch has committed; each later batch's own items (the
    ``taken`` the sweep passes to its ``on_batch``) are then taken off the count. An item
    counted that no batch of this sweep takes (another sweep took it, or someone closed
    it meanwhile) keeps its units held until the sweep ends: held a little longer. An
    item that falls due after the read is not counted: a batch that takes more of a
    pair's items than the count has has it read again, but one of a pair still counted
    goes unseen, so its people's rows may go before its own (as a second mail, never a
    lost one). Such an item needs a write, while the sweep runs, of a next action at or
    before the sweep's ``now``: every writer uses its own clock's now, later than the
    sweep's, unless the sweep runs as of a later instant (``flask sweep --at``)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.counts: Counter[Pair] | None = None
        self.reads = 0  # full reads of what is due (1 in a sweep nobody else touches)

    def after_batch(self, s: Session, taken: Counter[Pair]) -> set[int]:
        """The units still due once a batch that took ``taken`` has committed."""
        counts = self.counts
        if counts is None or any(counts[pair] < n for pair, n in taken.items()):
            counts = self.counts = still_due(s, self.now)
            self.reads += 1
        else:
            counts.subtract(taken)
            for pair in [pair for pair, n in counts.items() if n <= 0]:
                del counts[pair]
        return {unit for pair in counts for unit in pair}


def _open(kind: str, it) -> bool:
    """Whether the item still has a ladder: the task or report is still owed (and, for
    the ack ladder, the task's receipt is still awaited)."""
    return it.state in _OWED[kind] and (kind != "ack" or awaiting(it.receipt))


def _due(s: Session, kind: str, now: datetime, batch_size: int):
    """The batch, locked (rows only, no ORM objects: the sweep reads them and writes
    their schedule back in one statement)."""
    model, due_at = MODELS[kind], _next_action(kind)
    return s.execute(
        select(*_COLUMNS[kind])
        .where(due_at <= now)
        .order_by(due_at, model.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    ).all()


def _save_schedules(s: Session, kind: str, levels: list[tuple]) -> None:
    """Write back (id, swept_until, next_action_at, escalation_level) per item, with the
    public_notice that level implies (:func:`ladder_columns`): on PostgreSQL one
    UPDATE … FROM unnest(arrays), elsewhere an executemany."""
    table = MODELS[kind].__table__
    stored = {name: col for name, col in _STORED[kind].items() if col}  # the ack ladder has no 通报 flag
    rows = [(*r[:3], *list(ladder_columns(r[3]).values())[: len(stored) - 2]) for r in levels]
    if s.get_bind().dialect.name == "postgresql":
        types = ("timestamptz", "timestamptz", "integer", "boolean")
        arrays = ", ".join(f"CAST(:c{i} AS {types[i]}[])" for i in range(len(stored)))
        s.execute(
            text(
                f"UPDATE {table.name} AS t SET {', '.join(f'{col} = v.{col}' for col in stored.values())} "
                f"FROM unnest(CAST(:ids AS integer[]), {arrays}) AS v(id, {', '.join(stored.values())}) "
                "WHERE t.id = v.id"
            ),
            {"ids": [r[0] for r in rows]} | {f"c{i}": [r[i + 1] for r in rows] for i in range(len(stored))},
        )
        return
    cols = list(stored.values())
    stmt = update(table).where(table.c.id == bindparam("b_id")).values({c: bindparam(f"b_{c}") for c in cols})
    s.connection().execute(stmt, [dict(zip(("b_id", *(f"b_{c}" for c in cols)), r, strict=True)) for r in rows])


def _sweep_batch(s, kind, now, defaults, channels, batch_size, report, verbose) -> Counter[Pair]:
    """Sweep one batch; returns its items counted by :data:`Pair` (none: nothing was due)."""
    items = _due(s, kind, now, batch_size)
    if not items:
        return Counter()
    cal = load_calendar(s)
    plans = {p.id: p for p in s.scalars(select(Plan).where(Plan.id.in_({i.plan_id for i in items})))}
    policies = {pid: policy_for(p, defaults) for pid, p in plans.items()}
    windows = {pid: into_window(now, policy, cal) for pid, policy in policies.items()}
    people = People.load(s, {i.unit_id for i in items} | {p.issuing_unit_id for p in plans.values()})
    titles = _titles(s, kind, items)
    # Items of one problem share their deadline and start (one ledger row, many units),
    # so their steps are worked out once per batch: the schedule is a pure function.
    schedules: dict[tuple, tuple[list[Step], Step | None]] = {}
    decisions: dict[tuple, Decision] = {}
    rows: list[dict] = []
    updates: list[tuple] = []
    events: list[Entry] = []
    for it in items:
        plan = plans[it.plan_id]
        if not _open(kind, it):
            updates.append((it.id, it.swept_until, None, it.escalation_level))
            continue
        window = windows[plan.id]
        if window != now:  # night, weekend or holiday: nothing goes out, look again when the window opens
            updates.append((it.id, it.swept_until, window, it.escalation_level))
            continue
        deadline_kind = it.deadline_kind if kind == "task" else "date"
        item = item_of(deadline_kind, it.due_at, it.active_since, "ack" if kind == "ack" else "deadline")
        policy = policies[plan.id].for_ack() if kind == "ack" else policies[plan.id]
        after = it.swept_until or it.active_since
        key = (item, policy, after)
        if key not in schedules:
            schedules[key] = (steps_between(item, policy, cal, after, now), next_step_after(item, policy, cal, now))
        due_steps, nxt = schedules[key]
        decision = decisions.get((key, it.escalation_level))
        if decision is None:
            decision = decisions[(key, it.escalation_level)] = decide(due_steps, it.escalation_level)
        target = _target(kind, it, plan, titles[it.id], people, now)
        for step in decision.send:
            rows.extend(rows_for_step(target, step, people, channels, now))
            if verbose:
                report.lines.append(f"{kind} {it.id} {step.key} at {step.at.isoformat()} → {step.audience}")
        latest_sent = decision.send[-1].key if decision.send else None
        if decision.fold:
            rows.append(folded_row(target, decision.fold, latest_sent, now))
        report.folded += len(decision.fold)
        level, notice = it.escalation_level, it.public_notice
        for step in decision.climb:  # every level passed is recorded, only the highest was sent
            report.listed += step.public_notice and not notice
            level, notice = step.level, notice or step.public_notice
            report.escalations += 1
            if kind in ("task", "ack"):
                events.append(_escalation_entry(kind, it, step, now))
        updates.append((it.id, now, nxt.at if nxt else None, level))
    report.notifications += insert_ignoring_duplicates(s, rows)
    add_events(s, events, now)
    _save_schedules(s, kind, updates)
    return Counter((it.unit_id, plans[it.plan_id].issuing_unit_id) for it in items)


def _titles(s: Session, kind: str, items) -> dict[int, str]:
    if kind in ("task", "ack"):
        ids = {i.problem_id for i in items}
        names = dict(s.execute(select(Problem.id, Problem.title).where(Problem.id.in_(ids))).all())
        return {i.id: names[i.problem_id] for i in items}
    if kind == "lookback":
        ids = {i.task_id for i in items}
        q = select(Task.id, Problem.title).join(Problem, Task.problem_id == Problem.id).where(Task.id.in_(ids))
        names = dict(s.execute(q).all())
        return {i.id: names[i.task_id] for i in items}
    ids = {i.obligation_id for i in items}
    names = dict(s.execute(select(Obligation.id, Obligation.title).where(Obligation.id.in_(ids))).all())
    return {i.id: names[i.obligation_id] for i in items}


_ACK_LEVELS = {1: "经办人", 2: "单位主要负责人", 3: "下发方案单位"}


def _escalation_entry(kind: str, task, step: Step, now: datetime) -> Entry:
    """One history row per level. A level recorded after its day (the task arrived late,
    or the sweep was down) is marked as caught up, with the day it would have happened."""
    scheduled_on = china_date(step.scheduled_at)
    caught_up = scheduled_on < china_date(now)
    if kind == "ack":
        comment = f"逾期未签收，督办升级至第{step.level}级（{_ACK_LEVELS[step.level]}）"
    else:
        comment = f"逾期督办升级至第{step.level}级" + ("，列入通报名单" if step.public_notice else "")
    if caught_up:
        comment += f"（补记：应于{scheduled_on.year}年{scheduled_on.month}月{scheduled_on.day}日升级）"
    data = {
        "level": step.level,
        "step": step.key,
        "scheduled_at": step.scheduled_at.isoformat(),
        "caught_up": caught_up,
        "scheduled_on": scheduled_on.isoformat(),
    }
    return Entry(task, "ack_escalation" if kind == "ack" else "escalation", None, comment, data)


_PAGES = {
    "task": "/tasks/{id}",
    "ack": "/tasks/{id}",
    "submission": "/submissions/{id}",
    "lookback": "/tasks/{task_id}#lookback",
}


def _target(kind: str, it, plan: Plan, title: str, people: People, now: datetime) -> Target:
    """A look-back is the issuing side's own work: its steps reach the issuing unit's
    supervisors by position, as a task's reach the responsible unit's people (``unit`` still
    names the unit whose closed task is looked at). Only a task has an owner and only a
    look-back a task_id: a row is asked for what its kind has (a missing name on a
    result row costs SQLAlchemy a raised and caught KeyError, once 0.17 s a batch)."""
    unit: Unit | None = people.units.get(it.unit_id)
    unit_name = unit.name if unit else ""
    due_on = china_date(it.due_at)
    overdue_days = (now.astimezone(CHINA).date() - due_on).days if due_on else 0
    return Target(
        item_type=kind,
        item_id=it.id,
        epoch=int(it.active_since.timestamp()),
        plan_id=plan.id,
        unit_id=plan.issuing_unit_id if kind == "lookback" else it.unit_id,
        issuer_id=plan.issuing_unit_id,
        owner_id=it.owner_id if kind in ("task", "ack") else None,
        supervising=kind == "lookback",
        data={
            "title": title,
            "unit": unit_name,
            "due_at": it.due_at.isoformat() if it.due_at else None,
            "overdue_days": max(overdue_days, 0),
            "days_left": max(-overdue_days, 0),
            "days_since_assigned": (now.astimezone(CHINA).date() - it.active_since.astimezone(CHINA).date()).days,
            "url": _PAGES[kind].format(id=it.id, task_id=it.task_id if kind == "lookback" else None),
            "doc_number": plan.doc_number,
        },
    )


def _notice_lists(
    s: Session, now: datetime, defaults: Mapping, channels: frozenset[str], report: SweepReport, verbose: bool
) -> None:
    """The 通报 list of the day, for each issuing unit with open items at level 3 in its
    plans: one message to each of its supervisors (and its robot, and the webhook), at the
    first sweep in the day's send window that finds such items. The key is per unit and
    day, so a day has at most one; an item reaching level 3 after that is on tomorrow's.

    Looking costs a scan of the items on the list, so once the day's first lists are out
    only a sweep that put an item on the list looks again (for units without one yet).
    """
    policy = Policy.from_dict(dict(defaults))
    if into_window(now, policy, load_calendar(s)) != now:
        return
    day = china_date(now)
    step = f"notice_list:{day.isoformat()}"
    done = set(
        s.scalars(
            select(Notification.item_id)
            .where(Notification.item_type == "notice_list", Notification.step == step)
            .distinct()
        )
    )
    if done and not report.listed:
        return
    open_tasks = [st.value for st in OPEN_STATES]
    found = [
        *s.execute(
            select(Plan.issuing_unit_id, Task.id, Task.unit_id, Task.due_at, Problem.title, literal("task"))
            .join(Plan, Plan.id == Task.plan_id)
            .join(Problem, Problem.id == Task.problem_id)
            .where(Task.public_notice.is_(True), Task.state.in_(open_tasks), Plan.issuing_unit_id.not_in(done))
        ),
        *s.execute(
            select(
                Plan.issuing_unit_id,
                Submission.id,
                Submission.unit_id,
                Submission.due_at,
                Obligation.title,
                literal("submission"),
            )
            .join(Plan, Plan.id == Submission.plan_id)
            .join(Obligation, Obligation.id == Submission.obligation_id)
            .where(
                Submission.public_notice.is_(True),
                Submission.state.in_(OWED),
                Plan.issuing_unit_id.not_in(done),
            )
        ),
    ]
    if not found:
        return
    people = People.load(s, {r[0] for r in found} | {r[2] for r in found})
    by_issuer: dict[int, list[dict]] = {}
    for issuer_id, item_id, unit_id, due_at, title, kind in found:
        unit = people.units.get(unit_id)
        by_issuer.setdefault(issuer_id, []).append(
            {
                "title": title,
                "unit": unit.name if unit else "",
                "due_at": due_at.isoformat() if due_at else None,
                "overdue_days": (day - china_date(due_at)).days if due_at else 0,
                "url": f"/{'tasks' if kind == 'task' else 'submissions'}/{item_id}",
            }
        )
    rows: list[dict] = []
    for issuer_id, items in sorted(by_issuer.items()):
        items.sort(key=lambda i: (-i["overdue_days"], i["url"]))
        issuer = people.units.get(issuer_id)
        data = {"items": items, "url": "/tasks?colour=red", "issuer": issuer.name if issuer else ""}
        text = listed([i["title"] for i in items])
        common = message(("notice_list", issuer_id, None), step, "notice_list", 3, text, data, now, now)
        supervisors = people.audience("supervisor", issuer_id, issuer_id, None)
        rows += fan_out(f"notice_list:{issuer_id}:{day.isoformat()}", common, supervisors, issuer, channels, now, False)
        report.notice_lists += 1
        if verbose:
            report.lines.append(
                f"notice list for unit {issuer_id}: {len(items)} items → {len(supervisors)} supervisors"
            )
    report.notifications += insert_ignoring_duplicates(s, rows)
