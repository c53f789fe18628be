"""Writing entries into tasks' append-only history, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.models import Task, TaskEvent

_CHUNK = 500  # task ids per seq lookup, well inside every driver's parameter limit


@dataclass(frozen=True)
class Entry:
    """A step that leaves the task's state as it is (extension, deadline moved, …)."""

    task: Task
    kind: str
    actor_id: int | None
    comment: str
    data: dict


def add_event(s: Session, task: Task, kind: str, actor_id: int | None, now: datetime, comment: str, data: dict) -> int:
    """One entry; returns its seq (an event's outbox keys name it)."""
    return add_events(s, [Entry(task, kind, actor_id, comment, data)], now)[0]


def add_events(s: Session, entries: Iterable[Entry], now: datetime) -> list[int]:
    """Many entries in one insert, each after its task's latest (one lookup per 500 tasks);
    returns their seqs, in order."""
    entries = list(entries)
    seqs: dict[int, int] = {}
    ids = sorted({e.task.id for e in entries})
    for chunk in (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
        query = select(TaskEvent.task_id, func.max(TaskEvent.seq)).where(TaskEvent.task_id.in_(chunk))
        seqs.update(s.execute(query.group_by(TaskEvent.task_id)).all())
    rows = []
    for e in entries:
        seqs[e.task.id] = seqs.get(e.task.id, 0) + 1
        rows.append(
            {
                "task_id": e.task.id,
                "seq": seqs[e.task.id],
                "kind": e.kind,
                "from_state": e.task.state,
                "to_state": e.task.state,
                "actor_id": e.actor_id,
                "at": now,
                "comment": e.comment,
                "data": e.data,
            }
        )
    if rows:
        s.execute(insert(TaskEvent), rows)
    return [r["seq"] for r in rows]
