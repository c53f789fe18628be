"""Writing one step into a task's append-only history, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Task, TaskEvent


def add_event(s: Session, task: Task, kind: str, actor_id: int | None, now: datetime, comment: str, data: dict) -> None:
    """A step that leaves the task's state as it is (extension, deadline moved, …)."""
    seq = (s.scalar(select(func.max(TaskEvent.seq)).where(TaskEvent.task_id == task.id)) or 0) + 1
    s.add(
        TaskEvent(
            task_id=task.id,
            seq=seq,
            kind=kind,
            from_state=task.state,
            to_state=task.state,
            actor_id=actor_id,
            at=now,
            comment=comment,
            data=data,
        )
    )
