"""Acting on many tasks at once: verify, close, 催办 or export a selection from the list.

Each task goes alone through the guards one task meets (verify and close through
:func:`app.services.tasks.transition_task` and so app.domain.workflow; an urge through
:func:`app.services.urges.urge_tasks`; an export through the seeing rules), each in its
own transaction: what may be done is done, and every other task says why it was refused.
Nothing is all-or-nothing, and nothing is refused silently.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.db import Database
from app.domain.deadlines import CHINA
from app.domain.ledger_layouts import neutralise
from app.domain.workflow import STATE_LABELS, State
from app.models import Plan, Problem, Task, Unit, User
from app.schemas import TransitionIn
from app.services import urges
from app.services.chain import head_as_of
from app.services.errors import ServiceError
from app.services.ledger.export import CSV_MIME, Export, csv_file
from app.services.scope import task_visible
from app.services.tasks import TaskView, is_overdue, transition_task

MOVES = {"verify": State.VERIFIED, "close": State.CLOSED}
MAX_SELECTION = 500


@dataclass(frozen=True)
class Outcome:
    task_id: int
    done: bool
    reason: ServiceError | None = None  # why it was refused, as the guard said it


def offers(views: list[TaskView]) -> set[str]:
    """The moves of :data:`MOVES` the viewer may make on at least one listed task."""
    return {action for action, target in MOVES.items() if any(target in v.allowed for v in views)}


def move_each(db: Database, user: User, picked: list[tuple[int, int]], action: str, now: datetime) -> list[Outcome]:
    """``picked``: (task id, the version the person saw). A task changed since is
    refused (409) like a single move would be."""
    target = MOVES[action]
    out = []
    for task_id, version in picked:
        try:
            transition_task(db, user, task_id, TransitionIn(to=target, version=version), now)
        except ServiceError as err:
            out.append(Outcome(task_id, False, err))
        else:
            out.append(Outcome(task_id, True))
    return out


def urge_each(db: Database, user: User, task_ids: list[int], comment: str, now: datetime) -> list[Outcome]:
    out = []
    for task_id in task_ids:
        try:
            urges.urge_tasks(db, user, [task_id], comment, now)
        except ServiceError as err:
            out.append(Outcome(task_id, False, err))
        else:
            out.append(Outcome(task_id, True))
    return out


_Table = namedtuple("_Table", "header rows")
HEADER = [
    "任务编号",
    "整改方案",
    "文号",
    "问题",
    "整改措施",
    "责任单位",
    "状态",
    "整改时限",
    "到期日",
    "是否逾期",
    "督办级别",
    "说明",
]


def export_selection(db: Database, user: User, task_ids: list[int], now: datetime) -> Export:
    """The selected tasks as a CSV (UTF-8 with a BOM, formulas neutralised), in the order
    picked; a task the user cannot see is a row saying so, with nothing of it shown."""
    s = db.session()
    rows = s.execute(
        select(Task, Plan.title, Plan.doc_number, Problem.title, Problem.measures, Unit.name)
        .join(Plan, Task.plan_id == Plan.id)
        .join(Problem, Task.problem_id == Problem.id)
        .join(Unit, Task.unit_id == Unit.id)
        .where(Task.id.in_(task_ids), task_visible(user))
    ).all()
    found = {r[0].id: r for r in rows}
    lines = []
    for tid in task_ids:
        if tid not in found:
            lines.append([str(tid), *[""] * (len(HEADER) - 2), "未导出：任务不存在或不在您的权限范围内"])
            continue
        t, plan, doc, title, measures, unit = found[tid]
        due = t.due_at.astimezone(CHINA).date().isoformat() if t.due_at else ""
        cells = [t.id, plan, doc, title, measures, unit, STATE_LABELS[State(t.state)], t.deadline_text, due]
        cells += ["是" if is_overdue(t, now) else "否", t.escalation_level or "", ""]
        lines.append([str(neutralise(str(c))) for c in cells])
    day = now.astimezone(CHINA).date()
    head = head_as_of(s, as_of=now.replace(microsecond=0), task_ids=found)
    return Export(
        filename=f"所选整改任务_{day:%Y%m%d}.csv",
        ascii_filename=f"tasks-{day:%Y%m%d}.csv",
        content=csv_file(_Table(HEADER, lines), trailer=head.line()),
        mimetype=CSV_MIME,
    )


def titles(db: Database, user: User, task_ids: list[int]) -> dict[int, tuple[str, str]]:
    """(problem title, unit name) of the selected tasks the user can see, for the result page."""
    rows = db.session().execute(
        select(Task.id, Problem.title, Unit.name)
        .join(Problem, Task.problem_id == Problem.id)
        .join(Unit, Task.unit_id == Unit.id)
        .where(Task.id.in_(task_ids), task_visible(user))
    )
    return {tid: (title, unit) for tid, title, unit in rows}
