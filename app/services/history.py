"""Writing entries into tasks' append-only history, inside the caller's transaction.

:func:`append` is the one place a ``task_events`` row is written (a workflow step, the
sweep's escalations, a ledger import's created tasks and progress notes, a calendar
move): it numbers each event after its task's latest, chains it to that one
(:mod:`app.domain.chain`) and attaches the event's evidence. The previous link is read
with the ``max(seq)`` lookup the numbering needs anyway (one query per 500 tasks), so
chaining costs a hash per row and no extra round trip. On PostgreSQL that lookup is
one query per batch (an array parameter) and a large batch of rows goes in by COPY.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Integer, any_, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from app.db import copy_rows
from app.domain import chain
from app.models import Evidence, Task, TaskEvent

_CHUNK = 500  # task ids per tip lookup, well inside every driver's parameter limit
COPY_FROM = 100  # rows: a batch this large (a sweep's escalations) goes by COPY on PostgreSQL
_COLUMNS = [c.name for c in TaskEvent.__table__.columns if c.name != "id"]


@dataclass(frozen=True)
class Event:
    """One history row to write; ``seq``, ``at`` and the chain columns are filled in."""

    task_id: int
    kind: str
    from_state: str | None
    to_state: str
    actor_id: int | None
    comment: str = ""
    data: dict = field(default_factory=dict)
    evidence: Sequence[Evidence] = ()  # attached to this event (uploaded, not yet attached)


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
    """Many entries that keep their task's state; returns their seqs, in order."""
    return append(
        s,
        [Event(e.task.id, e.kind, e.task.state, e.task.state, e.actor_id, e.comment, e.data) for e in entries],
        now,
    )


def tips(s: Session, task_ids: Iterable[int]) -> dict[int, tuple[int, str | None]]:
    """Each task's latest link: ``{task_id: (seq, chain_hash)}`` (tasks without history absent)."""
    out: dict[int, tuple[int, str | None]] = {}
    ids = sorted(set(task_ids))
    if s.get_bind().dialect.name == "postgresql":  # one array parameter, so one query whatever the batch
        chunks = [TaskEvent.task_id == any_(bindparam("ids", ids, type_=ARRAY(Integer)))] if ids else []
    else:
        chunks = [TaskEvent.task_id.in_(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]
    for among in chunks:
        last = (
            select(TaskEvent.task_id, func.max(TaskEvent.seq).label("seq"))
            .where(among)
            .group_by(TaskEvent.task_id)
            .subquery()
        )
        query = select(TaskEvent.task_id, TaskEvent.seq, TaskEvent.chain_hash).join(
            last, (TaskEvent.task_id == last.c.task_id) & (TaskEvent.seq == last.c.seq)
        )
        out.update((tid, (seq, h)) for tid, seq, h in s.execute(query))
    return out


def append(s: Session, events: Sequence[Event], now: datetime, *, new_tasks: bool = False) -> list[int]:
    """Write ``events`` (several may name one task: they follow each other in order), each
    numbered and chained after its task's latest; returns their seqs, in order.
    ``new_tasks``: the tasks were inserted in this transaction and have no history yet
    (a set-based import), so there is nothing to look up."""
    last = {} if new_tasks else tips(s, (e.task_id for e in events))
    rows, attach, seqs = [], [], []
    for e in events:
        seq, prev = last.get(e.task_id, (0, None))
        row = {
            "task_id": e.task_id,
            "seq": seq + 1,
            "kind": e.kind,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "actor_id": e.actor_id,
            "at": now,
            "comment": e.comment,
            "data": e.data,
        }
        files = [{"id": f.id, "name": f.original_name, "size": f.size, "sha256": f.sha256} for f in e.evidence]
        row |= {
            "chain_alg": chain.ALGORITHM,
            "chain_prev": prev,
            "chain_hash": chain.link_hash(chain.ALGORITHM, row, files, prev),
        }
        last[e.task_id] = (row["seq"], row["chain_hash"])
        seqs.append(row["seq"])
        if e.evidence:
            attach.append((row, e.evidence))
        else:
            rows.append(row)
    if len(rows) >= COPY_FROM and s.get_bind().dialect.name == "postgresql":
        # data as its JSON text, dumped as SQLAlchemy's JSON type does on the other path
        values = ([json.dumps(r[c]) if c == "data" else r[c] for c in _COLUMNS] for r in rows)
        copy_rows(s, "task_events", _COLUMNS, values)
    elif rows:
        s.execute(insert(TaskEvent.__table__), rows)
    for row, evidence in attach:  # a workflow step, one at a time: its id is what the files point to
        event_id = s.execute(insert(TaskEvent.__table__), row).inserted_primary_key[0]
        for f in evidence:
            f.event_id = event_id
    return seqs
