"""The history's hash chain read back: a document's chain head as of its date, and the
check of every link (``flask verify-history``). The format is :mod:`app.domain.chain`;
the links are written by :func:`app.services.history.append`.

A head covers a **scope**, which the document prints beside it so a reader can have it
recomputed: a plan (every task of it), a plan's part for a unit (its tasks in units at
or under that unit: what that unit sees of the plan), or named tasks (a 督办单 covers its
one task). :func:`head_as_of` is the one function every report, export and notice calls.

What the check proves, and what it cannot: :func:`verify` finds any event whose fields or
evidence digests were changed, a broken or re-pointed link, a missing event in the
middle of a task's history, and (with the upload folder) an evidence file that no longer
has its recorded digest. Whoever can write the database could also delete a task's last
events or rewrite a whole chain with fresh hashes; that is what the printed heads are
for: recomputed later for the same scope and instant, a head differs after any such change.

A document prints the head from the recorded hashes (cheap: one indexed read per task);
the check (:func:`recompute_head`, ``verify-history --head``) hashes every covered link
again. The instant is the document's own, to the second; a step committed in that very
second but stamped before it could be missing from the printed head and present when
it is recomputed (the event counts printed beside it then differ by that step).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import chain, permissions
from app.domain.deadlines import CHINA
from app.models import Evidence, Task, TaskEvent, Unit, User
from app.services.errors import Invalid, NotFound
from app.services.scope import get_visible_plan, get_visible_task, plan_facts, require, unit_facts, who

_CHUNK = 500  # task ids per IN list
_STREAM = 5000


@dataclass(frozen=True)
class ChainHead:
    """What a document prints: ``algorithm:digest`` over ``tasks`` tasks' chains, which
    hold ``events`` history events at ``as_of``, for the scope named by plan, unit, tasks."""

    algorithm: str
    digest: str
    events: int
    tasks: int = 0
    as_of: datetime | None = None
    plan_id: int | None = None
    unit_id: int | None = None
    task_ids: tuple[int, ...] | None = None

    @property
    def value(self) -> str:
        return f"{self.algorithm}:{self.digest}"

    @property
    def as_of_text(self) -> str:
        """The instant in China time, ISO 8601, exactly as the check takes it back."""
        return self.as_of.astimezone(CHINA).isoformat() if self.as_of else ""

    @property
    def command(self) -> str:
        """The command that recomputes this head (run where the database is)."""
        parts = [f"flask --app app verify-history --head {self.value} --as-of {self.as_of_text}"]
        if self.plan_id is not None:
            parts.append(f"--plan {self.plan_id}")
        if self.unit_id is not None:
            parts.append(f"--unit {self.unit_id}")
        parts += [f"--task {t}" for t in self.task_ids or ()]
        return " ".join(parts)

    def line(self) -> str:
        """The line a Chinese document prints."""
        return (
            f"记录链校验值（{self.algorithm.upper()}）：{self.value}，截至 {self.as_of_text}，"
            f"{self.tasks} 项任务 {self.events} 条记录；核验：{self.command}"
        )


def head_as_of(
    s: Session,
    *,
    as_of: datetime,
    plan_id: int | None = None,
    unit_id: int | None = None,
    task_ids: Iterable[int] | None = None,
    algorithm: str | None = None,
    recompute: bool = False,
) -> ChainHead:
    """The chain head of the tasks in scope (all given filters together; none: every
    task) as of ``as_of`` (aware): each task's latest event stamped at or before it.
    ``algorithm``: the head's (default this machine's, SM3 where it has it), to recompute
    a printed head made elsewhere. ``recompute``: hash every covered link again from its
    stored fields and evidence instead of taking the recorded hashes (what a check does;
    it reads every covered event)."""
    if as_of.tzinfo is None:
        raise Invalid("as_of must be an aware instant")
    algorithm = algorithm or chain.ALGORITHM
    if not chain.available(algorithm):
        raise Invalid("this Python has no {algorithm}: the head cannot be recomputed here", algorithm=algorithm)
    ids = tuple(sorted(set(task_ids))) if task_ids is not None else None
    scope = select(Task.id)
    if plan_id is not None:
        scope = scope.where(Task.plan_id == plan_id)
    if unit_id is not None:
        unit = s.get(Unit, unit_id)
        if unit is None:
            raise NotFound("单位 {id} 不存在。", id=unit_id)
        scope = scope.where(Task.unit_id.in_(select(Unit.id).where(Unit.path.startswith(unit.path))))
    chunks = [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)] if ids is not None else [None]
    scopes = [scope if part is None else scope.where(Task.id.in_(part)) for part in chunks]
    tips = (tip for part in scopes for tip in _tips(s, part, as_of))  # in task id order, streamed
    if recompute:
        tips = _recomputed(s, list(tips))
    head = chain.Head(algorithm)
    for tip in tips:
        head.add(*tip)
    return ChainHead(
        algorithm,
        head.hexdigest(),
        head.events,
        head.tasks,
        as_of,
        plan_id,
        unit_id,
        ids,
    )


def recompute_head(
    db: Database,
    viewer: User,
    *,
    as_of: datetime,
    plan_id: int | None = None,
    unit_id: int | None = None,
    task_ids: Iterable[int] = (),
    algorithm: str | None = None,
) -> ChainHead:
    """A printed head worked out again from the record (every covered link rehashed), for
    a signed-in reader who sees the whole scope: named tasks they see, a unit's part of a
    plan for a unit they see, a whole plan for its issuing side, everything for the admin."""
    s = db.session()
    w = who(viewer)
    task_ids = list(task_ids)
    for tid in task_ids:
        get_visible_task(s, viewer, tid)
    plan = get_visible_plan(s, viewer, plan_id) if plan_id is not None else None
    if unit_id is not None:
        unit = s.get(Unit, unit_id)
        if unit is None or not permissions.sees_unit(w, unit_facts(unit)):
            raise NotFound("单位 {id} 不存在或不在您的权限范围内。", id=unit_id)
    elif not task_ids:
        if plan is not None:
            require(
                permissions.issuing_side(w, plan_facts(plan)),
                "整个方案的记录链只有方案下发单位可以核验；请加上 unit_id（本单位），核验本单位导出的台账。",
            )
        else:
            require(permissions.sees_everything(w), "请指明范围：plan_id、unit_id 或 tasks。")
    return head_as_of(
        s,
        as_of=as_of,
        plan_id=plan_id,
        unit_id=unit_id,
        task_ids=task_ids or None,
        algorithm=algorithm,
        recompute=True,
    )


def _tips(s: Session, tasks: Select, as_of: datetime) -> Iterator[chain.Tip]:
    """Each task's latest link at ``as_of``, in task id order, in one pass over the tasks'
    events: PostgreSQL's DISTINCT ON, and on SQLite max() with bare columns, which SQLite
    takes from the row holding the max (documented: "Bare columns in an aggregate query")."""
    columns = (TaskEvent.task_id, TaskEvent.seq, TaskEvent.chain_alg, TaskEvent.chain_hash)
    where = (TaskEvent.task_id.in_(tasks), TaskEvent.at <= as_of)
    if s.get_bind().dialect.name == "postgresql":
        latest_first = (TaskEvent.task_id, TaskEvent.seq.desc())
        query = select(*columns).where(*where).ext(distinct_on(TaskEvent.task_id)).order_by(*latest_first)
    else:
        query = (
            select(TaskEvent.task_id, func.max(TaskEvent.seq), TaskEvent.chain_alg, TaskEvent.chain_hash)
            .where(*where)
            .group_by(TaskEvent.task_id)
            .order_by(TaskEvent.task_id)
        )
    for tid, seq, alg, h in s.connection().execute(query.execution_options(yield_per=_STREAM)):
        yield chain.Tip(tid, seq, alg or "", h or "")


# ---- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """A link that does not hold: which event, and what differs."""

    task_id: int
    event_id: int | None
    seq: int
    at: datetime | None
    what: str

    def __str__(self) -> str:
        at = self.at.astimezone(CHINA).isoformat() if self.at else "—"
        event = f"event {self.event_id}" if self.event_id else "a missing event"
        return f"task {self.task_id}, {event} (seq {self.seq}, at {at}): {self.what}"


@dataclass
class Verification:
    events: int = 0
    tasks: int = 0
    files: int = 0  # evidence files whose content was hashed again
    algorithms: set[str] = field(default_factory=set)
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    def summary(self) -> str:
        algs = ", ".join(sorted(self.algorithms)) or "none"
        text = f"{self.events} events of {self.tasks} tasks ({algs}), {self.files} evidence files checked"
        return f"history chain intact: {text}" if self.ok else f"history chain BROKEN: {len(self.breaks)} of {text}"


def _recomputed(s: Session, tips: list[chain.Tip]) -> list[chain.Tip]:
    """The tips with their hashes worked out again along each chain from seq 1."""
    want = {t.task_id: t.seq for t in tips}
    ids = sorted(want)
    out = []
    for part in (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)):
        task, prev = None, None
        for row, files in _history(s, part):
            if row["task_id"] != task:
                task, prev = row["task_id"], None
            if row["seq"] > want[task]:
                continue
            if not chain.available(row["chain_alg"] or ""):
                raise Invalid(
                    "task {task}: its links are in {alg}, which this Python lacks", task=task, alg=row["chain_alg"]
                )
            prev = chain.link_hash(row["chain_alg"], row, _digests(files), prev)
            if row["seq"] == want[task]:
                out.append(chain.Tip(task, row["seq"], row["chain_alg"], prev))
    return out


def _digests(files: list[Evidence]) -> list[dict]:
    return [{"id": e.id, "name": e.original_name, "size": e.size, "sha256": e.sha256} for e in files]


def _history(s: Session, task_ids: list[int] | None = None):
    """(event row, its attached evidence) of every task, or of ``task_ids``, in task and
    seq order, streamed."""
    evidence = select(Evidence).where(Evidence.event_id.is_not(None)).order_by(Evidence.id)
    columns = [getattr(TaskEvent, c) for c in ("id", *chain.EVENT_FIELDS, "chain_alg", "chain_prev", "chain_hash")]
    events = select(*columns).order_by(TaskEvent.task_id, TaskEvent.seq)
    if task_ids is not None:
        evidence = evidence.where(Evidence.task_id.in_(task_ids))
        events = events.where(TaskEvent.task_id.in_(task_ids))
    files: dict[int, list[Evidence]] = {}
    for ev in s.scalars(evidence):
        files.setdefault(ev.event_id, []).append(ev)
    for row in s.execute(events.execution_options(yield_per=_STREAM)).mappings():
        yield row, files.get(row["id"], [])


def verify(s: Session, upload_dir: Path | None = None) -> Verification:
    """Check every link of every task's chain, in task and seq order; with
    ``upload_dir``, also hash each attached evidence file again. The breaks come
    earliest event first, so ``breaks[0]`` is the first broken link."""
    report = Verification()
    task, expected, prev = None, 1, None
    for row, files in _history(s):
        if row["task_id"] != task:
            task, expected, prev = row["task_id"], 1, None
            report.tasks += 1
        report.events += 1
        wrong = _link_faults(row, files, expected, prev, upload_dir, report)
        if wrong:
            report.breaks.append(Break(row["task_id"], row["id"], row["seq"], row["at"], "; ".join(wrong)))
        expected, prev = row["seq"] + 1, row["chain_hash"]
    report.breaks.sort(key=lambda b: (b.at is None, b.at, b.event_id or 0))
    return report


def _link_faults(row, attached: list[Evidence], expected: int, prev: str | None, upload_dir, report) -> list[str]:
    wrong = []
    if row["seq"] != expected:
        wrong.append(f"events seq {expected}…{row['seq'] - 1} of this task are missing")
    alg, recorded = row["chain_alg"], row["chain_hash"]
    if not recorded:
        return [*wrong, "not chained (no hash recorded)"]
    report.algorithms.add(alg)
    if row["chain_prev"] != prev:
        wrong.append(
            f"its link is broken: it names the previous hash {row['chain_prev'] or '(none)'}, "
            f"but the previous event's hash is {prev or '(none: this is the first event)'}"
        )
    for ev in attached if upload_dir is not None else ():
        report.files += 1
        if fault := _file_fault(upload_dir / ev.stored_name, ev):
            wrong.append(fault)
    if not chain.available(alg):
        return [*wrong, f"its algorithm {alg} is not available in this Python; cannot check it here"]
    evidence = _digests(attached)
    now = chain.link_hash(alg, row, evidence, row["chain_prev"])
    if now != recorded:
        listed = ", ".join(f"{e['id']} «{e['name']}» sha256 {e['sha256']}" for e in evidence) or "none"
        wrong.append(
            f"its fields or evidence digests were changed: recorded {alg}:{recorded}, they now give {alg}:{now} "
            f"(kind {row['kind']}, {row['from_state']}→{row['to_state']}, actor {row['actor_id']}, "
            f"evidence: {listed})"
        )
    return wrong


def _file_fault(path: Path, ev: Evidence) -> str | None:
    try:
        with path.open("rb") as fh:
            actual = hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return f"evidence {ev.id} «{ev.original_name}»: its file {ev.stored_name} is missing"
    if actual != ev.sha256:
        return f"evidence {ev.id} «{ev.original_name}»: recorded sha256 {ev.sha256}, but its file has {actual}"
    return None
