"""催办: a supervisor urges one task, or a selection from the list.

Each urge is written into the task's history and reaches the unit like every other
workflow event (app.services.events). A task is urged at most once per working day: the
day its message goes out, so an urge on Saturday is Monday's and a second one on Monday
is refused with 409. Urging a selection urges what may be urged and says why the rest
was left; when none could be, that is the 409.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from app.db import Database
from app.domain.deadlines import CHINA
from app.domain.reminders import into_window
from app.domain.workflow import OPEN_STATES, State, may_urge
from app.models import Plan, TaskEvent, User
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Forbidden, NotFound, ServiceError
from app.services.events import notify, task_event
from app.services.history import add_event
from app.services.scope import get_visible_task, task_actor
from app.services.sweep import policy_for


@dataclass
class UrgeResult:
    urged: list[int] = field(default_factory=list)
    skipped: list[tuple[int, ServiceError]] = field(default_factory=list)  # (task id, why)


def urge_tasks(db: Database, actor: User, task_ids: list[int], comment: str, now: datetime) -> UrgeResult:
    """Urge each task in ``task_ids`` (in one transaction). A single task that cannot be
    urged raises (404 unseen, 403 not the supervising side, 409 closed or urged today)."""
    result = UrgeResult()
    with db.transaction() as s:
        user = s.get(User, actor.id)
        settings = s.info.get("outbox", {})
        cal = load_calendar(s)
        events = []
        for task_id in dict.fromkeys(task_ids):
            try:
                events.append(_urge_one(s, user, task_id, comment, now, settings.get("defaults", {}), cal))
            except (NotFound, Forbidden, Conflict) as err:
                if len(task_ids) == 1:
                    raise
                result.skipped.append((task_id, err))
            else:
                result.urged.append(task_id)
        if not result.urged:
            reasons = [
                part
                for i, (tid, why) in enumerate(result.skipped)
                for part in ((("；", {}),) if i else ()) + (("任务 {id}：", {"id": tid}), *why.parts)
            ]
            raise Conflict("所选任务都不能催办：").then(*reasons)
        notify(s, events, now)
    return result


def _urge_one(s, user: User, task_id: int, comment: str, now: datetime, defaults, cal):
    # lock the task: two supervisors urging it at the same moment queue here, and the second sees the first
    task = get_visible_task(s, user, task_id, lock=True)
    plan = s.get(Plan, task.plan_id)
    if not may_urge(State(task.state), task_actor(s, user, task)):
        if State(task.state) in OPEN_STATES:
            raise Forbidden("只有方案下发单位的督办人员可以催办。")
        raise Conflict("该任务已整改完毕或已销号，无需催办。")
    day = into_window(now, policy_for(plan, defaults), cal).astimezone(CHINA).date().isoformat()
    urged = s.scalars(select(TaskEvent.data).where(TaskEvent.task_id == task.id, TaskEvent.kind == "urged"))
    if any((d or {}).get("day") == day for d in urged):
        raise Conflict("该任务已于 {day} 催办过，每个工作日只能催办一次。", day=day)
    seq = add_event(s, task, "urged", user.id, now, comment, {"day": day})
    s.flush()
    return task_event(s, "urged", task, user, seq, comment)
