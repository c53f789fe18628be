"""Import in two steps, preview then commit, the commit running as a job.

Nothing is written before the official has seen what the file will become: the preview
parses and resolves every row, compares it with the plan (a row carrying the hidden
台账编号 of an exported ledger of this plan updates its problem; any other row adds one)
and keeps the result as a :class:`~app.models.LedgerImport` draft under a random token,
bound to the user and the plan and valid for an hour.

Confirming only queues the draft; :func:`run_import` (a Celery task in the distributed
mode, a thread of the web process otherwise: see :mod:`app.jobs`) then writes every row
in one transaction, set-based, so it writes everything or nothing, and records the
result or the error on the draft in that same transaction. Progress while it runs goes
to a side store (:class:`FileProgress` or :class:`RedisProgress`): the transaction is
not visible to the page that polls it, and on SQLite it holds the only write lock.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from pydantic import ValidationError
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import permissions
from app.domain.deadlines import DeadlineError
from app.domain.ledger_layouts import (
    NATURE,
    TITLE,
    Layout,
    LedgerRow,
    nature_of,
    parse_key,
    short_title,
)
from app.domain.workcalendar import WorkCalendar
from app.models import LedgerImport, Plan, Problem, Task, User
from app.schemas import ProblemIn
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from app.services.history import Entry, add_events
from app.services.ledger.export import iter_export_problems
from app.services.ledger.guard import Budget, read_upload
from app.services.ledger.reading import parse_workbook
from app.services.ledger.units import UnitResolver
from app.services.plans import add_problems, deadline_on_receipt
from app.services.scope import Facts, facts, get_visible_plan, require, task_visible, unit_facts

log = logging.getLogger("rectify.ledger")

IMPORT_TTL = timedelta(hours=1)
LEASE = timedelta(minutes=10)  # a running import not finished by then has rolled back
REQUEUE_AFTER = timedelta(minutes=2)  # a queued import nobody took (lost message, restart)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
_KEPT = ("row", "action", "errors", "problem", "problem_id", "update", "note")  # what the commit and its job read

_FIELD_LABELS = {
    "category": "类型",
    "title": "具体问题",
    "description": "问题简述",
    "measures": "整改措施",
    "deadline": "整改时限",
    "remarks": "备注",
}
# What a re-imported row may change in its problem; deadline and units have their own ways
CHANGEABLE = ("category", "nature", "title", "description", "measures", "remarks")
_CHANGE_LABELS = {"category": "类型", "nature": "问题性质", "title": "问题", "description": "问题表述"} | {
    "measures": "整改措施",
    "remarks": "备注",
}


# ---- progress while a job runs ---------------------------------------------------------
class Progress(Protocol):
    def set(self, token: str, done: int) -> None: ...
    def get(self, token: str) -> int | None: ...


class FileProgress:
    """The embedded mode: a small file per import in the instance folder, which every
    web process on the machine can read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def set(self, token: str, done: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{token}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(str(done))
        os.replace(tmp, self.folder / f"{token}.progress")

    def get(self, token: str) -> int | None:
        try:
            return int((self.folder / f"{token}.progress").read_text())
        except (FileNotFoundError, ValueError):
            return None


class RedisProgress:
    """The distributed mode: the worker and the web processes share Redis."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=5)

    def set(self, token: str, done: int) -> None:
        self.client.set(f"rectify:import:{token}", done, ex=int(IMPORT_TTL.total_seconds()))

    def get(self, token: str) -> int | None:
        value = self.client.get(f"rectify:import:{token}")
        return int(value) if value is not None else None


def progress_store(instance_dir: Path, redis_url: str | None) -> Progress:
    return RedisProgress(redis_url) if redis_url else FileProgress(instance_dir / "imports")


# ---- preview ---------------------------------------------------------------------------
def _importable_plan(s: Session, user: User, plan_id: int) -> Plan:
    plan = get_visible_plan(s, user, plan_id)
    f = facts(user, plan)
    require(permissions.may_import(f.who, f.plan), "只有方案下发单位的督办人员可以导入台账。")
    return plan


def _row_problem(
    row: LedgerRow, resolver: UnitResolver, plan: Plan, cal: WorkCalendar, now: datetime, f: Facts, deadlines: dict
) -> tuple[dict, ProblemIn | None, list]:
    """The preview line of one row, the problem it describes if it has no errors, and
    the units it names."""
    resolved = resolver.resolve(row.units)
    errors = list(resolved.errors)
    if resolved.units and permissions.problem_side(f.who, f.plan, [unit_facts(u) for u in resolved.units]) is None:
        errors.append("您只能导入本单位自查发现的问题，本行的责任单位不是（或不只是）本单位")
    nature = None
    try:
        nature = nature_of(row.nature, resolved.scope)
    except ValueError as err:
        errors.append(str(err))
    if row.deadline not in deadlines:
        try:  # the units receive their tasks when the import is confirmed, which is about now
            deadline, basis = deadline_on_receipt(plan, row.deadline, now, cal)
            deadlines[row.deadline] = deadline.due_at, basis, None
        except DeadlineError as err:
            deadlines[row.deadline] = None, None, str(err)
    due_at, basis, deadline_error = deadlines[row.deadline]
    if deadline_error:
        errors.append(deadline_error)
    if not row.title:
        errors.append("没有问题表述，无法确定问题标题")
    line = {
        "row": row.row,
        "action": "add",
        "category": row.category,
        "nature": nature,
        "title": row.title,
        "deadline_text": row.deadline,
        "due_at": due_at.isoformat() if due_at else None,
        "deadline_basis": basis,
        "units": [u.name for u in resolved.units],
        "errors": errors,
        "warnings": [],
        "changes": [],
    }
    if errors:
        return line, None, resolved.units
    everyone = resolved.scope and {u.id for u in resolved.units} == {u.id for u in resolver.children}
    try:
        problem = ProblemIn(
            category=row.category,
            nature=nature,
            title=row.title,
            description=row.description,
            measures=row.measures,
            deadline=row.deadline,
            remarks=row.remarks,
            unit_ids=None if everyone else [u.id for u in resolved.units],
            all_units_under=plan.issuing_unit_id if everyone else None,
        )
    except ValidationError as err:
        line["errors"] = [
            f"{_FIELD_LABELS.get(str(e['loc'][0]) if e['loc'] else '', '内容')}：{e['msg']}" for e in err.errors()
        ]
        return line, None, resolved.units
    return line, problem, resolved.units


def importable_plan(db: Database, user: User, plan_id: int) -> Plan:
    """A plan the user may import a ledger into (404 if they cannot see it, 403 if they
    may not add problems to it), for the upload page."""
    return _importable_plan(db.session(), user, plan_id)


def preview_import(db: Database, user: User, plan_id: int, stream: BinaryIO, max_bytes: int, now: datetime) -> dict:
    """Parse and resolve an uploaded ledger, compare it with the plan, and keep the
    result for :func:`commit_import`.

    Returns ``{token, layout, rows, errors_count, counts, missing}``: each row is to be
    added (``seq`` is the number it will get), changed (``changes`` names the fields) or
    is unchanged; ``missing`` lists the plan's problems a re-imported ledger of the plan
    no longer has (shown only: withdrawing a problem is its own step). Nothing is written
    to the plan; a refused file leaves nothing behind at all.
    """
    s = db.session()
    plan = _importable_plan(s, user, plan_id)  # before the file is even read
    f = facts(user, plan)
    budget = Budget()
    parsed = parse_workbook(read_upload(stream, max_bytes), budget)
    resolver = UnitResolver(s, plan.issuing_unit)
    cal = load_calendar(s)
    existing = {p.seq: p for p in iter_export_problems(s, user, plan)}
    keyed = {key[1] for r in parsed.rows if (key := parse_key(r.key)) and key[0] == plan.id}
    next_seq = (s.scalar(select(Problem.seq).where(Problem.plan_id == plan.id).order_by(Problem.seq.desc())) or 0) + 1
    units_of = _task_units(s, user, plan) if keyed else {}
    may_change = permissions.supervises(f.who, f.plan)
    lines, deadlines, seen = [], {}, set()
    for row in parsed.rows:
        if len(lines) % 200 == 0:
            budget.check()
        line, problem, units = _row_problem(row, resolver, plan, cal, now, f, deadlines)
        key = parse_key(row.key)
        current = existing.get(key[1]) if key and key[0] == plan.id and key[1] not in seen else None
        line["warnings"] = [
            f"「{label}」是公式，已按表格中显示的内容导入" for label in parsed.formulas.get(row.row, [])
        ]
        if current is None:
            line |= {
                "seq": next_seq,
                "problem": problem.model_dump(mode="json", exclude_none=True) if problem else None,
            }
            next_seq += 1
        else:
            seen.add(current.seq)
            line |= _compare(parsed.layout, row, problem, current, units, units_of.get(current.id, set()), may_change)
        lines.append(line)
    missing = [{"seq": seq, "title": p.title} for seq, p in sorted(existing.items()) if keyed and seq not in seen]
    counts = {a: sum(1 for line in lines if line["action"] == a) for a in ("add", "change", "same")}
    draft = LedgerImport(
        token=secrets.token_urlsafe(24),
        user_id=user.id,
        plan_id=plan.id,
        layout=parsed.layout.key,
        state="previewed",
        total=len(lines),
        done=0,
        rows=[{k: line[k] for k in _KEPT if k in line} for line in lines],
        created_at=now,
        expires_at=now + IMPORT_TTL,
    )
    with db.transaction() as t:
        t.execute(update(LedgerImport).where(LedgerImport.expires_at < now - IMPORT_TTL * 24).values(rows=None))
        t.add(draft)
    return {
        "token": draft.token,
        "layout": parsed.layout.key,
        "rows": [{k: v for k, v in line.items() if k not in ("problem", "update")} for line in lines],
        "errors_count": sum(len(line["errors"]) for line in lines),
        "counts": counts | {"missing": len(missing)},
        "missing": missing,
    }


def _task_units(s: Session, user: User, plan: Plan) -> dict[int, set[int]]:
    """problem id -> the units of its tasks the user can see."""
    out: dict[int, set[int]] = defaultdict(set)
    rows = s.execute(select(Task.problem_id, Task.unit_id).where(Task.plan_id == plan.id, task_visible(user)))
    for problem_id, unit_id in rows:
        out[problem_id].add(unit_id)
    return out


def _compare(layout: Layout, row: LedgerRow, problem: ProblemIn | None, current, units, had: set[int], may_change):
    """A keyed row against its problem: unchanged, or the fields to change; deadline and
    units are not changed by a file (an extension and the problem's page do that)."""
    out = {"seq": current.seq, "problem_id": current.id, "action": "same", "changes": []}
    if problem is None:
        return out
    errors = []
    if row.deadline != current.deadline_text:
        errors.append(f"整改时限由「{current.deadline_text}」改为「{row.deadline}」：修改时限请走延期申请")
    if {u.id for u in units} != had:
        errors.append("责任单位与方案中的不同：增减责任单位请在问题页面操作")
    new = {
        "category": problem.category,
        "nature": problem.nature if layout.column(NATURE) else current.nature,
        "title": problem.title,
        "description": problem.description,
        "measures": problem.measures,
        "remarks": problem.remarks if layout.column("remarks") else current.remarks,
    }
    if not layout.column(TITLE):  # the Yuzhou layout: 问题表述 holds the description, or the title
        if problem.description == (current.description or current.title):
            new |= {"title": current.title, "description": current.description}
        else:
            new["title"] = short_title(problem.description) or current.title
    changes = [f for f in CHANGEABLE if new[f] != getattr(current, f)]
    note = row.progress if row.progress and row.progress != current.progress else ""
    if changes and not may_change:
        errors.append("只有方案下发单位可以修改问题内容")
    out |= {"errors": errors} if errors else {}
    if changes:
        out |= {"action": "change", "changes": [_CHANGE_LABELS[f] for f in changes]}
        out["update"] = {f: new[f] for f in changes}
    if note:
        out |= {"note": note}
    return out


# ---- commit ----------------------------------------------------------------------------
def commit_import(db: Database, user: User, plan_id: int, token: str, now: datetime) -> dict:
    """Queue a previewed import for :func:`run_import`; returns its status.

    Refused (422) while any row has errors or when nothing would change, 409 once it has
    been queued. Who may add and change what is decided again when the job runs.
    """
    with db.transaction() as s:
        draft = _load(s, user, plan_id, token, now)
        _importable_plan(s, user, plan_id)
        if draft.state != "previewed":
            raise Conflict("该台账已经提交过导入，请重新上传文件。")
        bad = [line for line in draft.rows if line["errors"]]
        if bad:
            raise Invalid(
                "有 {n} 行存在错误，请在表格中改正后重新上传。",
                [{"row": line["row"], "message": "；".join(line["errors"])} for line in bad],
                n=len(bad),
            )
        if not any(line["action"] != "same" or line.get("note") for line in draft.rows):
            raise Invalid("表格中没有新增或修改的问题，没有可导入的内容。")
        taken = s.execute(
            update(LedgerImport)
            .where(LedgerImport.id == draft.id, LedgerImport.state == "previewed")
            .values(state="queued", queued_at=now)
        ).rowcount
        if not taken:
            raise Conflict("该台账已经提交过导入，请重新上传文件。")
    return {"token": token, "state": "queued", "done": 0, "total": draft.total, "error": None, "result": None}


def run_import(db: Database, progress: Progress, import_id: int, now: datetime) -> str:
    """The job: claim a queued import and write it in one transaction. Returns the state
    it left (``done``, ``failed``, or ``skipped`` when another worker has it)."""
    with db.transaction() as s:
        claimed = s.execute(
            update(LedgerImport)
            .where(LedgerImport.id == import_id, LedgerImport.state == "queued")
            .values(state="running", lease_until=now + LEASE)
        ).rowcount
    if not claimed:
        return "skipped"
    draft = db.session().get(LedgerImport, import_id)
    token = draft.token
    progress.set(token, 0)
    try:
        with db.transaction() as s:
            result = _write(s, draft, lambda done: progress.set(token, done), now)
            s.execute(
                update(LedgerImport)
                .where(LedgerImport.id == import_id)
                .values(state="done", done=draft.total, result=result, rows=None, finished_at=now, lease_until=None)
            )
    except ServiceError as err:
        _fail(db, import_id, err, now)
        return "failed"
    except Exception:
        log.exception("ledger import %s failed", import_id)
        _fail(db, import_id, ServiceError("导入失败（服务器内部错误），没有写入任何内容。"), now)
        return "failed"
    finally:
        db.remove()
    if draft.total >= ANALYZE_AFTER:
        _analyze(db)
    return "done"


ANALYZE_AFTER = 1000  # rows: a larger import refreshes PostgreSQL's statistics at once


def _analyze(db: Database) -> None:
    """Refresh the planner's statistics after a large import: until autovacuum gets to
    it, PostgreSQL plans the next export or re-import preview of a freshly filled plan
    from stale counts, and one of 20,000 rows took 26 s instead of 0.5 s. Best effort: a
    role that may not ANALYZE leaves it to autovacuum."""
    if db.is_sqlite:
        return
    try:
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE problems, tasks, task_events"))
            conn.commit()
    except Exception:
        log.warning("ANALYZE after a ledger import failed; autovacuum will refresh the statistics", exc_info=True)


def _fail(db: Database, import_id: int, err: ServiceError, now: datetime) -> None:
    """Keep why the job failed: the Chinese message, and its parts for a reader who
    switched to English (app.web.i18n.refusal)."""
    with db.transaction() as s:
        s.execute(
            update(LedgerImport)
            .where(LedgerImport.id == import_id)
            .values(state="failed", error=err.message, error_parts=err.stored(), finished_at=now, lease_until=None)
        )


def _write(s: Session, draft: LedgerImport, report, now: datetime) -> dict:
    user = s.get(User, draft.user_id)
    plan = _importable_plan(s, user, draft.plan_id)  # the user's powers as they are now
    rows = draft.rows
    adds = [line for line in rows if line["action"] == "add"]
    changes = [line for line in rows if line["action"] == "change"]
    where = [("第 {row} 行：", {"row": line["row"]}) for line in adds]
    count_tasks = select(func.count()).select_from(Task).where(Task.plan_id == plan.id)
    before = s.scalar(count_tasks) if adds else 0
    add_problems(
        s,
        user,
        plan,
        [ProblemIn.model_validate(line["problem"]) for line in adds],
        load_calendar(s),
        now,
        where=where.__getitem__,
        progress=report,
    )
    created_tasks = s.scalar(count_tasks) - before if adds else 0
    if changes:
        if not permissions.supervises(*facts(user, plan)[:2]):
            raise Forbidden("第 {row} 行：只有方案下发单位可以修改问题内容", row=changes[0]["row"])
        s.execute(update(Problem), [{"id": line["problem_id"]} | line["update"] for line in changes])
        # an edit form read before the import names an older version now: it is refused (409), not overwriting
        changed = [line["problem_id"] for line in changes]
        s.execute(update(Problem).where(Problem.id.in_(changed)).values(version=Problem.version + 1))
    notes = _progress_notes(s, user, plan, [line for line in rows if line.get("note")], now)
    report(len(rows))
    return {
        "created_problems": len(adds),
        "created_tasks": created_tasks,
        "changed_problems": len(changes),
        "progress_notes": notes,
    }


def _progress_notes(s: Session, user: User, plan: Plan, lines: list[dict], now: datetime) -> int:
    """进展 typed into the file, as a note in the history of each of the problem's tasks
    the importer can see. States are not touched: they move only through the workflow."""
    if not lines:
        return 0
    text = {line["problem_id"]: line["note"] for line in lines}
    tasks = s.execute(
        select(Task.id, Task.problem_id, Task.state).where(
            Task.problem_id.in_(text), Task.plan_id == plan.id, task_visible(user)
        )
    ).all()
    add_events(
        s, [Entry(t, "progress_note", user.id, text[t.problem_id], {"source": "ledger_import"}) for t in tasks], now
    )
    return len(tasks)


def import_status(db: Database, progress: Progress, user: User, plan_id: int, token: str, now: datetime) -> dict:
    """``{state, done, total, error, result}`` of an import: live progress while its
    job runs, and its result or its error afterwards (kept after the draft expires).
    ``error`` is the refusal (a ServiceError), to be worded in the reader's language."""
    draft = _load(db.session(), user, plan_id, token, now, expired_ok=True)
    done = draft.done
    if draft.state == "running":
        done = progress.get(token) or 0
    error = None
    if draft.error is not None:  # imports that failed before their parts were kept have the message alone
        error = ServiceError.from_stored(draft.error_parts or [[draft.error, {}]])
    return {"state": draft.state, "done": done, "total": draft.total, "error": error, "result": draft.result}


def stale_imports(db: Database, now: datetime) -> list[int]:
    """Imports to run again: queued and not taken for a while (a lost message, a
    restarted process), or running past their lease (the worker died; its transaction
    rolled back, since it records ``done`` itself). They go back to queued."""
    with db.transaction() as s:
        ids = list(
            s.scalars(
                select(LedgerImport.id).where(
                    ((LedgerImport.state == "queued") & (LedgerImport.queued_at < now - REQUEUE_AFTER))
                    | ((LedgerImport.state == "running") & (LedgerImport.lease_until < now))
                )
            )
        )
        if ids:
            s.execute(
                update(LedgerImport)
                .where(LedgerImport.id.in_(ids))
                .values(state="queued", queued_at=now, lease_until=None)
            )
    return ids


def _load(s: Session, user: User, plan_id: int, token: str, now: datetime, expired_ok: bool = False) -> LedgerImport:
    """The import behind a token, if it is this user's, for this plan, and not expired;
    anything else is "not found", so a token reveals nothing to another user."""
    missing = NotFound("导入记录不存在或已过期，请重新上传文件。")
    if not _TOKEN.fullmatch(token):
        raise missing
    draft = s.scalar(select(LedgerImport).where(LedgerImport.token == token))
    if draft is None or draft.user_id != user.id or draft.plan_id != plan_id:
        raise missing
    if now > draft.expires_at and not (expired_ok and draft.state != "previewed"):
        raise missing
    return draft


def import_id(db: Database, token: str) -> int:
    """The id a job is given (jobs take ids, never objects)."""
    return db.session().scalar(select(LedgerImport.id).where(LedgerImport.token == token))
