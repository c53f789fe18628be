"""Tasks: listing with filters, the state transitions and the history."""

from __future__ import annotations

import base64
import json
import operator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, joinedload

from app.db import Database
from app.domain import permissions
from app.domain.deadlines import CHINA, end_of_day_utc, task_deadline
from app.domain.events import MOVE_EVENTS
from app.domain.permissions import Actor
from app.domain.receipt import ReceiptState, acknowledged_columns
from app.domain.rechecks import RecheckState
from app.domain.reminders import ladder_columns
from app.domain.supervision import colour
from app.domain.workcalendar import WorkCalendar
from app.domain.workflow import (
    ANSWERED,
    OPEN_STATES,
    STATE_LABELS,
    WITHDRAWABLE,
    State,
    TaskFacts,
    TransitionError,
    allowed_moves,
    check_move,
    may_add_evidence,
    may_urge,
)
from app.models import Evidence, Lookback, Notification, Plan, Problem, Task, TaskEvent, Unit, User
from app.models.base import UTCDateTime
from app.schemas import ProblemEditIn, TaskOut, TaskQuery, TransitionIn, WithdrawIn
from app.services import plans
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Invalid, NotFound, refusal
from app.services.events import notify, task_event
from app.services.history import Entry, Event, add_events, append
from app.services.keyword import Keyword, keyword_clause
from app.services.scope import (
    facts,
    get_visible_problem,
    get_visible_task,
    require,
    task_actor,
    task_visible,
    unit_visible,
)
from app.services.sweep import policy_for
from app.services.tally import colour_clause, overdue_clause


@dataclass
class TaskView:
    task: Task
    unit_name: str
    problem_title: str
    now: datetime
    actor: Actor  # the viewer's relation to the task, for pages to ask the state tables
    allowed: list[State]

    @property
    def takes_evidence(self) -> bool:
        return may_add_evidence(State(self.task.state), self.actor)

    @property
    def may_urge(self) -> bool:
        """催办: the viewer is on the supervising side and the unit still owes work."""
        return may_urge(State(self.task.state), self.actor)

    @property
    def overdue(self) -> bool:
        return is_overdue(self.task, self.now)

    @property
    def colour(self) -> str | None:
        t = self.task
        return colour(t.state, t.due_at, t.public_notice, self.now)

    def out(self) -> TaskOut:
        t = self.task
        return TaskOut(
            id=t.id,
            plan_id=t.plan_id,
            problem_id=t.problem_id,
            unit_id=t.unit_id,
            unit_name=self.unit_name,
            problem_title=self.problem_title,
            state=State(t.state),
            deadline_kind=t.deadline_kind,
            deadline_text=t.deadline_text,
            due_at=t.due_at,
            deadline_basis=t.deadline_basis,
            deadline_counted_from=t.deadline_from,
            calendar_provisional=t.calendar_provisional,
            overdue=self.overdue,
            escalation_level=t.escalation_level,
            public_notice=t.public_notice,
            colour=self.colour,
            owner_id=t.owner_id,
            version=t.version,
            allowed=self.allowed,
            receipt=ReceiptState(t.receipt),
            acknowledged_at=t.acknowledged_at,
            acknowledged_by=self.acknowledged_by,
            ack_due_at=t.ack_due_at,
            ack_level=t.ack_level,
            scope_note=t.scope_note,
        )

    @property
    def acknowledged_by(self) -> str | None:
        """签收人: the name of who acknowledged, with their unit."""
        who = self.task.acknowledged_by
        return f"{who.full_name or who.username}（{who.unit.name}）" if who else None


def is_overdue(task: Task, now: datetime) -> bool:
    return task.state in OPEN_STATES and task.due_at is not None and task.due_at < now


@dataclass(frozen=True)
class Order:
    """A list order as an index reads it: its keys, the last of them the task's id so that
    no two rows tie, and their direction. A page starts after the keys of the last row of
    the page before (keyset paging), which the index seeks to, so the thousandth page
    costs what the first does. ``outer``: the leading keys that are the units' (by unit,
    the order walks the units by name and then each unit's tasks)."""

    keys: tuple[ColumnElement, ...]
    descending: bool = False
    outer: int = 0


# Each order is an index's (models.Task's ix_tasks_*_sort and _order, models.Unit's
# ix_units_name): "-due" is "due" backwards (no deadline first), "updated" the newest first.
ORDERS = {
    "due": Order((Task.due_sort, Task.id)),
    "-due": Order((Task.due_sort, Task.id), descending=True),
    "unit": Order((Unit.name, Unit.id, Task.id), outer=2),
    "state": Order((Task.state, Task.due_sort, Task.id)),
    "updated": Order((Task.updated_at, Task.id), descending=True),
}


def _sorted(order: Order, backwards: bool, by_rows: bool = False) -> list[ColumnElement]:
    """The ORDER BY of an order. ``by_rows``: the same order as an expression no index
    has (coalesce(k, k) is k), for a keyword's few rows: read by their keys and sorted,
    where PostgreSQL would walk the order's index for them, guessing them spread evenly
    (a title's thousand tasks share a deadline: it read 30,000 rows at 100,000 tasks)."""
    down = order.descending != backwards
    keys = [func.coalesce(k, k) for k in order.keys] if by_rows else order.keys
    return [k.desc() if down else k.asc() for k in keys]


def _seek(order: Order, position: tuple, backwards: bool) -> list[ColumnElement[bool]]:
    """The rows after ``position`` in the order (before it, ``backwards``): one row-value
    comparison, where the index range starts; by unit also the units' part of it, which
    the units' index can start from (the tasks' part is then read unit by unit)."""
    later = operator.lt if order.descending != backwards else operator.gt
    values = [literal(v, k.type) for k, v in zip(order.keys, position, strict=True)]
    seek = [later(tuple_(*order.keys), tuple_(*values))]
    if order.outer:
        same_or_later = operator.le if later is operator.lt else operator.ge
        seek.append(same_or_later(tuple_(*order.keys[: order.outer]), tuple_(*values[: order.outer])))
    return seek


def position_token(values: tuple) -> str:
    """A row's place in an order as a URL-safe token (its keys as JSON, in base64)."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    data = json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _position(order: Order, field: str, token: str) -> tuple:
    """The keys a token names, checked against the order's (a token of another order, or
    one edited by hand, is refused rather than read as some other place)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(raw, list):
            raise TypeError(raw)
        return tuple(_key_value(k, v) for k, v in zip(order.keys, raw, strict=True))
    except (ValueError, TypeError) as err:  # bad base64 and bad JSON are ValueErrors too
        message = "翻页位置无效，请从第一页重新浏览。"
        raise Invalid(message, [{"field": field, "message": message}]) from err


def _key_value(key: ColumnElement, raw: object) -> object:
    if isinstance(key.type, UTCDateTime):
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError(raw)
        return value
    if type(raw) is not key.type.python_type:
        raise TypeError(raw)
    return raw


def _filters(s: Session, viewer: User, q: TaskQuery, now: datetime) -> tuple[list, bool, Keyword | None]:
    """The WHERE clauses of a task query, whether they need the problems table, and the
    keyword's (apart: its form depends on the count, see :class:`Keyword`)."""
    where = []  # the viewer's sight is list_tasks' to add: it chooses the form
    open_states = [st.value for st in OPEN_STATES]
    if q.plan_id is not None:
        where.append(Task.plan_id == q.plan_id)
    if q.unit_id is not None:
        where.append(Task.unit_id == q.unit_id)
    if q.state is not None:
        where.append(Task.state == q.state.value)
    if q.overdue is True:
        where.append(overdue_clause(now))
    elif q.overdue is False:
        where.append(~overdue_clause(now) | Task.due_at.is_(None))
    if q.due_within_days is not None:
        where += [
            Task.state.in_(open_states),
            Task.due_at >= now,
            Task.due_at <= now + timedelta(days=q.due_within_days),
        ]
    if q.colour is not None:
        where.append(colour_clause(q.colour, now))
    if q.receipt is not None:
        where.append(Task.receipt == q.receipt.value)
    needs_problem = q.category is not None or q.nature is not None
    if q.category is not None:
        where.append(Problem.category == q.category)
    if q.nature is not None:
        where.append(Problem.nature == q.nature)
    keyword = keyword_clause(s, q.q.strip()) if q.q and q.q.strip() else None
    return where, needs_problem, keyword


COUNT_CAP = 1000  # a list counts its matches up to here and then says "1000+"


def bounded_count(matching: Select) -> ScalarSelect:
    """How many rows ``matching`` gives, counted up to one past :data:`COUNT_CAP` (the
    lists and my work's boxes: counting every row would make a page as slow as the
    ledger is long). Past the cap, show the cap and "+"."""
    capped = matching.limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()


@dataclass
class TaskList:
    """One page of a task list. ``total`` is exact up to :data:`COUNT_CAP`; past it,
    ``total`` is the cap and ``more`` is true (counting a million rows to print one
    number would make every page as slow as the whole ledger). ``next`` and ``prev``:
    the positions (``after``/``before``) of the pages either side, None at either end."""

    items: list[TaskView]
    total: int
    more: bool
    has_next: bool
    next: str | None = None
    prev: str | None = None


def list_tasks(db: Database, viewer: User, q: TaskQuery, now: datetime) -> TaskList:
    """One page of the tasks the viewer may see, with the (bounded) total for the filter:
    the first page, the one after or before a position (``q.after``, ``q.before``), or
    the Nth counted from the first (``q.page``: old links; it skips the ones before).

    A fixed number of queries whatever the page holds: the count, the page (with each
    task's unit), and the plans on it with their issuers (a keyword adds its look-up).

    The viewer's sight is one rule in two forms. The count takes task_visible's list of
    the units seen; so does the page of a filter that matches no more than the count's
    cap (a county's own tasks), read from those units and sorted. A longer list's page
    checks each row's joined unit instead (unit_visible, the same rule), so that SQLite
    walks the order's index and stops after the page: given the list of units, it reads
    every task they hold to sort them."""
    s = db.session()
    order = ORDERS[q.sort]
    backwards = q.before is not None
    where, needs_problem, keyword = _filters(s, viewer, q, now)
    matching = select(Task.id)
    if needs_problem:
        matching = matching.join(Problem, Task.problem_id == Problem.id)
    if keyword is not None:
        matching = matching.where(keyword.clause())
    counted = s.scalar(select(bounded_count(matching.where(task_visible(viewer), *where)))) or 0
    few = counted <= COUNT_CAP
    seen = task_visible(viewer) if few else unit_visible(viewer)
    sorted_ = keyword is not None and not few and keyword.sortable  # read by the keys, sorted narrow first
    by_rows = keyword is not None and (few or sorted_)
    page = (
        select(Task, Unit, Problem.title, *order.keys)
        .join(Unit, Task.unit_id == Unit.id)
        .join(Problem, Task.problem_id == Problem.id)
        .order_by(*_sorted(order, backwards, by_rows=by_rows))
        .limit(q.per_page + 1)
    )
    chosen = select(Task.id).join(Unit, Task.unit_id == Unit.id).join(Problem, Task.problem_id == Problem.id)
    chosen = chosen.where(seen, *where).order_by(*_sorted(order, backwards, by_rows=True)).limit(q.per_page + 1)
    if keyword is not None:
        chosen = chosen.where(keyword.clause())
    in_order = chosen if sorted_ else page.where(seen, *where)
    if keyword is not None and not sorted_:
        in_order = in_order.where(keyword.clause(walk=not by_rows))
    if q.after is not None or q.before is not None:
        field = "before" if backwards else "after"
        in_order = in_order.where(*_seek(order, _position(order, field, q.before or q.after), backwards))
    else:
        in_order = in_order.offset((q.page - 1) * q.per_page)
    # sorted_: the page's ids sorted as ids and keys alone, then their rows (a sort of 10,000
    # whole rows with their units cost PostgreSQL 70 ms; of their keys, a few)
    page = page.where(Task.id.in_(in_order.scalar_subquery())) if sorted_ else in_order
    rows = s.execute(page).all()
    further, rows = len(rows) > q.per_page, rows[: q.per_page]
    if backwards:
        rows.reverse()
    has_next = True if backwards else further
    has_prev = further if backwards else q.after is not None or q.page > 1
    keys = len(order.keys)
    plan_ids = {row[0].plan_id for row in rows}
    on_page = select(Plan).options(joinedload(Plan.issuing_unit)).where(Plan.id.in_(plan_ids))
    plans = {p.id: p for p in s.scalars(on_page)}
    views = [_view(s, viewer, t, plans[t.plan_id], u.name, pt, now) for t, u, pt, *_ in rows]
    return TaskList(
        views,
        min(counted, COUNT_CAP),
        counted > COUNT_CAP,
        has_next and bool(rows),
        position_token(tuple(rows[-1][-keys:])) if has_next and rows else None,
        position_token(tuple(rows[0][-keys:])) if has_prev and rows else None,
    )


def _facts(task: Task, plan: Plan, evidence_count: int, open_answers: tuple[str, ...] = ()) -> TaskFacts:
    return TaskFacts(State(task.state), task.rectified_by_id, evidence_count, plan.evidence_required, open_answers)


def open_answers(s: Session, task_id: int) -> tuple[str, ...]:
    """The problems of answering plans that answer this received task and hold it (the
    plan's ``holds_received``) with a task not yet checked below (workflow.ANSWERED), each
    as 「卢整〔2022〕3号 第2项「…」（古城镇：整改中）」, for the rectify guard to name."""
    rows = s.execute(
        select(Plan.doc_number, Plan.title, Problem.id, Problem.seq, Problem.title, Unit.name, Task.state)
        .join(Problem, Task.problem_id == Problem.id)
        .join(Plan, Problem.plan_id == Plan.id)
        .join(Unit, Task.unit_id == Unit.id)
        .where(
            Problem.answers_task_id == task_id,
            Plan.holds_received.is_(True),
            Task.state.not_in([st.value for st in ANSWERED]),
        )
        .order_by(Problem.plan_id, Problem.seq, Unit.path)
    ).all()
    named: dict[int, tuple[str, list[str]]] = {}
    for doc, plan_title, pid, seq, title, unit, state in rows:
        head = f"{doc or plan_title} 第{seq}项「{title}」"
        named.setdefault(pid, (head, []))[1].append(f"{unit}：{STATE_LABELS[State(state)]}")
    return tuple(f"{head}（{'、'.join(units)}）" for head, units in named.values())


def _view(s: Session, viewer: User, task: Task, plan: Plan, unit_name: str, title: str, now: datetime) -> TaskView:
    """The task with the states the viewer may move it to (evidence is checked when they try)."""
    actor = task_actor(s, viewer, task)
    allowed = [m.target for m in allowed_moves(_facts(task, plan, 1), actor)]
    return TaskView(task, unit_name, title, now, actor, allowed)


def get_task(db: Database, viewer: User, task_id: int, now: datetime) -> TaskView:
    s = db.session()
    task = get_visible_task(s, viewer, task_id)
    plan = s.get(Plan, task.plan_id)
    return _view(s, viewer, task, plan, task.unit.name, task.problem.title, now)


def get_overdue_task(db: Database, viewer: User, task_id: int, now: datetime) -> TaskView:
    """A task a supervision notice (督办单) may be printed for: overdue, or on the
    public-notice list. Any other task has no notice: not found."""
    view = get_task(db, viewer, task_id, now)
    if not view.overdue and not view.task.public_notice:
        raise NotFound("任务 {id} 未逾期，没有督办单。", id=task_id)
    return view


def _evidence_to_attach(s: Session, task: Task, data: TransitionIn, needs_evidence: bool) -> list[Evidence]:
    """Evidence not yet attached to a step. For a rectification only what the unit itself
    uploaded counts: the supervisor's own photos cannot stand in for the unit's proof."""
    pending = select(Evidence).where(Evidence.task_id == task.id, Evidence.event_id.is_(None))
    if needs_evidence:
        own = select(User.id).where(User.unit_id == task.unit_id)
        pending = pending.where(Evidence.uploaded_by_id.in_(own))
    if data.evidence_ids is None:
        return list(s.scalars(pending)) if needs_evidence else []
    found = list(s.scalars(pending.where(Evidence.id.in_(data.evidence_ids))))
    missing = set(data.evidence_ids) - {e.id for e in found}
    if missing:
        raise Invalid("佐证材料 {ids} 不属于本任务或已被使用。", ids=sorted(missing))
    return found


def transition_task(db: Database, actor_user: User, task_id: int, data: TransitionIn, now: datetime) -> TaskView:
    """Move a task to ``data.to``. The version check and the write are one guarded
    UPDATE, so of two concurrent requests exactly one wins and the other gets 409."""
    with db.transaction() as s:
        move_task(s, actor_user, task_id, data, now)
    return get_task(db, actor_user, task_id, now)


def move_task(
    s: Session,
    actor_user: User,
    task_id: int,
    data: TransitionIn,
    now: datetime,
    news: str | None = None,
    recorded: dict | None = None,
) -> None:
    """The body of :func:`transition_task` inside the caller's transaction (a spot check
    records its result and reopens the task in one). ``news``: the event the step is (by
    default the move's own, app.domain.events.MOVE_EVENTS); ``recorded``: more for its
    history entry (a look-back's rebound names the look-back)."""
    user = s.get(User, actor_user.id)
    task = get_visible_task(s, user, task_id)
    if task.version != data.version:
        raise Conflict(
            "任务已被他人修改（当前版本 {now}，您提交的是 {sent}），请刷新后重试。", now=task.version, sent=data.version
        )
    plan = s.get(Plan, task.plan_id)
    actor = task_actor(s, user, task)
    target = State(data.to)
    from_state = State(task.state)
    below = open_answers(s, task.id) if target is State.RECTIFIED else ()
    before = _facts(task, plan, 1, below)
    try:
        # who, from where, with what comment first: a refused move must not reveal evidence ids
        move = check_move(before, actor, target, data.comment)
    except TransitionError as err:
        raise refusal(err) from None
    values = {"state": target.value, "version": Task.version + 1, "updated_at": now}
    values |= _schedule_change(s, task, target, now)
    if move.name == "rectify":
        values["rectified_by_id"] = user.id
    if task.owner_id is None and actor.responsible:
        values["owner_id"] = user.id
    # 开始整改 acknowledges a task not yet acknowledged (签收): who and when, and the start's
    # history row is marked as the acknowledgement
    acknowledges = move.name == "start" and task.receipt != ReceiptState.ACKNOWLEDGED
    if acknowledges:
        values |= acknowledged_columns(user.id, now)
    # The version check and the write are one guarded UPDATE, taken before the evidence is
    # counted: whoever loses a race gets 409, never a stale "upload evidence first".
    changed = s.execute(update(Task).where(Task.id == task.id, Task.version == data.version).values(**values)).rowcount
    if changed != 1:
        raise Conflict("任务已被他人修改，请刷新后重试。")
    evidence = _evidence_to_attach(s, task, data, move.needs_evidence)
    try:
        check_move(replace(before, evidence_count=len(evidence)), actor, target, data.comment)
    except TransitionError as err:
        raise refusal(err) from None  # the caller's transaction undoes the write
    said = {"move": move.name} | (recorded or {})
    if acknowledges:  # the start is the acknowledgement: its history row says so
        cancel_pending(s, "ack", task.id)
        said["acknowledged"] = True
    step = Event(task.id, "transition", from_state.value, target.value, user.id, data.comment, said)
    [seq] = append(s, [replace(step, evidence=evidence)], now)
    s.refresh(task)
    if move.name == "close":
        schedule_lookback(s, task, plan, seq, now)
    elif from_state is State.CLOSED:
        silence_lookbacks(s, task.id)
    if kind := news or MOVE_EVENTS.get(move.name):
        notify(s, [task_event(s, kind, task, user, seq, data.comment)], now)


def schedule_lookback(s: Session, task: Task, plan: Plan, closed_seq: int, now: datetime) -> None:
    """回头看: when the plan's policy says so, the task struck off at ``closed_seq`` is due
    for a re-check by the issuing side that many days later (the end of that China day);
    the sweep reminds it from now on, and escalates it if nobody looks back in time."""
    days = policy_for(plan, s.info.get("outbox", {}).get("defaults", {})).lookback_days
    if not days:
        return
    due_on = now.astimezone(CHINA).date() + timedelta(days=days)
    s.add(
        Lookback(
            task_id=task.id,
            plan_id=plan.id,
            unit_id=task.unit_id,
            closed_seq=closed_seq,
            closed_at=now,
            due_at=end_of_day_utc(due_on),
            state=RecheckState.PENDING.value,
            active_since=now,
            swept_until=now,
            next_action_at=now,
            **ladder_columns(0),
        )
    )


def _schedule_change(s: Session, task: Task, target: State, now: datetime) -> dict:
    """Leaving the open states stops the ladder and cancels what is still unsent; coming
    back (rejected, reopened) starts its schedule afresh from now: reminders and nags that
    were missed are not replayed, but a task back after its escalation days climbs at its
    first send window to the level in force (levels it had reached already are kept)."""
    if target not in OPEN_STATES:
        cancel_pending(s, "task", task.id)
        cancel_pending(s, "ack", task.id)
        return {"next_action_at": None, "ack_next_action_at": None}
    if task.state not in OPEN_STATES and task.deadline_kind != "long_term":
        return {"next_action_at": now, "swept_until": now, "active_since": now}
    return {}


def silence_lookbacks(s: Session, task_id: int) -> None:
    """A task reopened before its look-back (a spot check, a supervisor): the pending look-back
    of that closure no longer asks for anyone; the next 销号 schedules a new one."""
    pending = list(
        s.scalars(select(Lookback.id).where(Lookback.task_id == task_id, Lookback.next_action_at.is_not(None)))
    )
    for lookback_id in pending:
        cancel_pending(s, "lookback", lookback_id)
    if pending:
        s.execute(update(Lookback).where(Lookback.id.in_(pending)).values(next_action_at=None))


def cancel_pending(s: Session, item_type: str, item_id: int) -> None:
    """The item's schedule changed: its unsent reminders and escalations no longer hold.
    Events stay: that a task was sent back is still news after it was rectified again."""
    s.execute(
        update(Notification)
        .where(
            Notification.item_type == item_type,
            Notification.item_id == item_id,
            Notification.status.in_(("pending", "held")),
            Notification.kind != "event",
        )
        .values(status="cancelled")
    )


def history(db: Database, viewer: User, task_id: int) -> list[tuple[TaskEvent, list[int]]]:
    s = db.session()
    task = get_visible_task(s, viewer, task_id)
    events = list(s.scalars(select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(TaskEvent.seq)))
    attached: dict[int, list[int]] = {}
    for eid, ev_id in s.execute(
        select(Evidence.event_id, Evidence.id).where(Evidence.task_id == task.id, Evidence.event_id.is_not(None))
    ):
        attached.setdefault(eid, []).append(ev_id)
    return [(e, attached.get(e.id, [])) for e in events]


def withdraw_problem(db: Database, actor_user: User, problem_id: int, data: WithdrawIn, now: datetime) -> list[int]:
    """Withdraw a problem: each of its tasks not yet struck off moves to withdrawn through
    the state table (the reason in its history, its reminders and ladder stopped), all in
    one transaction; closed tasks stay closed. Returns the tasks withdrawn."""
    with db.transaction() as s:
        user = s.get(User, actor_user.id)
        problem = get_visible_problem(s, user, problem_id)
        f = facts(user, s.get(Plan, problem.plan_id))
        require(permissions.may_withdraw_problem(f.who, f.plan), "只有方案下发单位的督办人员可以撤销问题。")
        rows = s.execute(
            select(Task.id, Task.version).where(
                Task.problem_id == problem.id, Task.state.in_([st.value for st in WITHDRAWABLE])
            )
        ).all()
        if not rows:
            raise Conflict("该问题的任务均已销号或已撤销，没有可撤销的任务。")
        for task_id, version in rows:
            move_task(s, user, task_id, TransitionIn(to=State.WITHDRAWN, comment=data.reason, version=version), now)
    return [task_id for task_id, _ in rows]


@dataclass
class ProblemEdit:
    """What an edit did to a problem's tasks."""

    problem: Problem
    added: list[int]  # tasks created for units added
    withdrawn: list[int]  # tasks of units left out, withdrawn with the reason
    redated: list[int]  # open tasks whose deadline the new one moved


def update_problem(db: Database, actor_user: User, problem_id: int, data: ProblemEditIn, now: datetime) -> ProblemEdit:
    """Edit a problem as its supervisors see it now, in one transaction, under the rules of
    adding one (the units through :func:`plans.target_units`, the deadline as a unit
    receiving it now would count it), guarded by the version read (409 for a stale edit).

    Its units are the units of its tasks not withdrawn: a unit added gets a task (and hears
    of it as assigned); a unit left out has its task withdrawn with ``data.reason`` through
    :func:`move_task`, as withdrawing the problem does (a closed task cannot be left out, a
    withdrawn one cannot come back). A changed deadline is counted again for each open task
    that follows the problem's (one an extension moved keeps the extension's), from the day
    that unit received it, and the move is written into the task's history."""
    with db.transaction() as s:
        user = s.get(User, actor_user.id)
        problem = get_visible_problem(s, user, problem_id)
        plan = s.get(Plan, problem.plan_id)
        f = facts(user, plan)
        require(permissions.may_edit_problem(f.who, f.plan), "只有方案下发单位的督办人员可以修改问题。")
        cal = load_calendar(s)
        units = plans.target_units(s, plan, data)
        dl, basis = plans.checked("deadline", plans.deadline_on_receipt, plan, data.deadline, now, cal)
        values = plans.problem_values(data, dl)
        old_text = problem.deadline_text
        guarded = update(Problem).where(Problem.id == problem.id, Problem.version == data.version)
        if s.execute(guarded.values(**values, version=Problem.version + 1)).rowcount != 1:
            raise Conflict("问题已被他人修改，请刷新后查看最新内容再修改。")
        s.refresh(problem)
        have = {t.unit_id: t for t in s.scalars(select(Task).where(Task.problem_id == problem.id))}
        wanted = {u.id for u in units}
        if back := [have[u].unit.name for u in wanted if u in have and have[u].state == State.WITHDRAWN.value]:
            raise Invalid(
                "「{units}」的任务已撤销，不能再交办给同一单位；如需整改，请另行添加问题。", units="、".join(back)
            )
        leaving = [t for uid, t in have.items() if uid not in wanted and t.state != State.WITHDRAWN.value]
        if closed := [t.unit.name for t in leaving if t.state == State.CLOSED.value]:
            raise Invalid("「{units}」的任务已销号，不能移出责任单位。", units="、".join(closed))
        if leaving and not data.reason.strip():
            message = "移出责任单位会撤销该单位的任务，请填写撤销理由。"
            raise Invalid(message, [{"field": "reason", "message": message}])
        for t in leaving:
            move_task(s, user, t.id, TransitionIn(to=State.WITHDRAWN, comment=data.reason, version=t.version), now)
        new_units = [u for u in units if u.id not in have]
        added = plans.insert_tasks(
            s, user, plan, [(problem.id, (dl, basis), new_units)], {problem.id: problem.title}, now
        )
        redated = _redate(s, user, plan, problem, old_text, added, cal, now) if dl.text != old_text else []
    return ProblemEdit(problem, added, [t.id for t in leaving], redated)


def _redate(
    s: Session,
    user: User,
    plan: Plan,
    problem: Problem,
    old_text: str,
    added: list[int],
    cal: WorkCalendar,
    now: datetime,
) -> list[int]:
    """The problem's new deadline for each of its open tasks that follows it (not those just
    ``added``, which start with it), counted from
    the day its unit received it; the move in each task's history, its unsent reminders
    cancelled and its schedule planned again by the next sweep (the ladder starts afresh if
    the new deadline is still ahead, as after an extension); its unit's people hear of the
    old and the new deadline (event ``deadline_changed``)."""
    query = select(Task).where(
        Task.problem_id == problem.id,
        Task.state.in_([st.value for st in OPEN_STATES]),
        Task.deadline_text == old_text,  # not one an extension moved: it reads the extension's
        Task.id.not_in(added),
    )
    entries, news = [], []
    for task in s.scalars(query.with_for_update()).all():
        received_on = task.created_at.astimezone(CHINA).date()
        dl, basis = task_deadline(
            problem.deadline_text, plan.issued_on, received_on, plan.workdays_from == "issued", cal
        )
        old = {"text": task.deadline_text, "due_at": task.due_at.isoformat() if task.due_at else None}
        comment = f"问题的整改时限由「{old_text}」改为「{dl.text}」" + (
            f"，即{dl.due_on:%Y年%m月%d日}" if dl.due_on else ""
        )
        entries.append(Entry(task, "deadline_changed", user.id, comment, {"old": old, "new_text": dl.text}))
        news.append({"deadline": dl.text, "old_deadline": task.deadline_text, "old_due_at": task.due_at})
        if dl.due_at is None or dl.due_at > now:
            for column, value in ladder_columns(0).items():
                setattr(task, column, value)
        task.deadline_kind, task.due_at, task.deadline_text = dl.kind, dl.due_at, dl.text
        task.deadline_basis, task.deadline_from, task.calendar_provisional = basis, dl.counted_from, dl.provisional
        task.active_since = task.swept_until = task.updated_at = now
        task.next_action_at = None if dl.kind == "long_term" else now
        task.version += 1
        cancel_pending(s, "task", task.id)
    seqs = add_events(s, entries, now)
    told = zip(entries, seqs, news, strict=True)
    notify(s, [task_event(s, "deadline_changed", e.task, user, seq, **n) for e, seq, n in told], now)
    return [e.task.id for e in entries]
