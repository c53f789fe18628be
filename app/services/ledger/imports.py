"""Import in two steps, preview then commit.

Nothing is written before the official has seen what the file will become: the preview
parses and resolves every row and keeps the result server-side under a random token
(bound to the user and the plan, valid for an hour); the commit adds all rows in one
transaction, so it writes everything or nothing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time as systime
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import permissions
from app.domain.deadlines import DeadlineError
from app.domain.ledger_layouts import (
    LedgerRow,
    nature_of,
)
from app.domain.workcalendar import WorkCalendar
from app.models import Plan, Problem, Task, User
from app.schemas import ProblemIn
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Invalid, NotFound, ServiceError
from app.services.ledger.guard import read_upload
from app.services.ledger.reading import parse_workbook
from app.services.ledger.units import UnitResolver
from app.services.plans import add_problem, deadline_on_receipt
from app.services.scope import Facts, facts, get_visible_plan, require, unit_facts

IMPORT_TTL = timedelta(hours=1)
PROGRESS_EVERY = 50
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


_FIELD_LABELS = {
    "category": "类型",
    "title": "具体问题",
    "description": "问题简述",
    "measures": "整改措施",
    "deadline": "整改时限",
    "remarks": "备注",
}


def _row_problem(
    row: LedgerRow, resolver: UnitResolver, plan: Plan, cal: WorkCalendar, now: datetime, f: Facts
) -> tuple[dict, ProblemIn | None]:
    """The preview line of one row and, if it has no errors, the problem it will add."""
    resolved = resolver.resolve(row.units)
    errors = list(resolved.errors)
    if resolved.units and permissions.problem_side(f.who, f.plan, [unit_facts(u) for u in resolved.units]) is None:
        errors.append("您只能导入本单位自查发现的问题，本行的责任单位不是（或不只是）本单位")
    nature = None
    try:
        nature = nature_of(row.nature, resolved.scope)
    except ValueError as err:
        errors.append(str(err))
    due_at = basis = None
    try:  # the units receive their tasks when the import is confirmed, which is about now
        deadline, basis = deadline_on_receipt(plan, row.deadline, now, cal)
        due_at = deadline.due_at
    except DeadlineError as err:
        errors.append(str(err))
    if not row.title:
        errors.append("没有问题表述，无法确定问题标题")
    line = {
        "row": row.row,
        "category": row.category,
        "nature": nature,
        "title": row.title,
        "deadline_text": row.deadline,
        "due_at": due_at.isoformat() if due_at else None,
        "deadline_basis": basis,
        "units": [u.name for u in resolved.units],
        "errors": errors,
    }
    if errors:
        return line, None
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
        return line, None
    return line, problem


def _importable_plan(s: Session, user: User, plan_id: int) -> Plan:
    plan = get_visible_plan(s, user, plan_id)
    f = facts(user, plan)
    require(permissions.may_import(f.who, f.plan), "只有方案下发单位的督办人员可以导入台账。")
    return plan


def preview_import(
    db: Database, instance_dir: Path, user: User, plan_id: int, stream: BinaryIO, max_bytes: int, now: datetime
) -> dict:
    """Parse and resolve an uploaded ledger and keep the result for :func:`commit_import`.

    Returns ``{token, layout, rows, errors_count}``; ``rows[i].seq`` is the number the
    problem will get (after the plan's existing ones). Nothing is written to the
    database; a refused file leaves nothing behind at all.
    """
    s = db.session()
    plan = _importable_plan(s, user, plan_id)  # before the file is even read
    f = facts(user, plan)
    parsed = parse_workbook(read_upload(stream, max_bytes))
    resolver = UnitResolver(s, plan.issuing_unit)
    cal = load_calendar(s)
    next_seq = (s.scalar(select(func.max(Problem.seq)).where(Problem.plan_id == plan.id)) or 0) + 1
    lines = []
    for offset, row in enumerate(parsed.rows):
        line, problem = _row_problem(row, resolver, plan, cal, now, f)
        lines.append(
            {"seq": next_seq + offset}
            | line
            | {"problem": problem.model_dump(mode="json", exclude_none=True) if problem else None}
        )
    token = secrets.token_urlsafe(24)
    state = {
        "token": token,
        "user_id": user.id,
        "plan_id": plan.id,
        "created_at": now.isoformat(),
        "expires_at": (now + IMPORT_TTL).isoformat(),
        "layout": parsed.layout.key,
        "state": "previewed",
        "done": 0,
        "total": len(lines),
        "error": None,
        "rows": lines,
    }
    folder = _imports_dir(instance_dir)
    _sweep(folder)
    _save(folder / f"{token}.json", state)
    return {
        "token": token,
        "layout": parsed.layout.key,
        "rows": [{k: v for k, v in line.items() if k != "problem"} for line in lines],
        "errors_count": sum(len(line["errors"]) for line in lines),
    }


def commit_import(db: Database, instance_dir: Path, user: User, plan_id: int, token: str, now: datetime) -> dict:
    """Add every previewed row in one transaction; returns the numbers created.

    Refused (422) while any row has errors. Progress is written to the import's file
    every :data:`PROGRESS_EVERY` rows for :func:`import_status`. Who may add what is
    decided by ``add_problem`` itself; its refusal names the row and undoes all rows.
    """
    path, state = _load(instance_dir, user, plan_id, token, now)
    if state["state"] != "previewed":
        raise Conflict("该台账已经提交过导入，请重新上传文件。")
    bad = [line for line in state["rows"] if line["errors"]]
    if bad:
        raise Invalid(
            f"有 {len(bad)} 行存在错误，请在表格中改正后重新上传。",
            [{"row": line["row"], "message": "；".join(line["errors"])} for line in bad],
        )
    if not state["rows"]:
        raise Invalid("表格中没有问题行，没有可导入的内容。")
    try:
        os.close(os.open(path.with_suffix(".lock"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        raise Conflict("该台账正在导入中。") from None
    total, rows = state["total"], state.pop("rows")  # a started import is never previewed again:
    state.update(state="running", done=0)  # the progress writes need not carry the rows
    _save(path, state)
    try:
        with db.transaction() as s:
            plan = _importable_plan(s, user, plan_id)
            cal = load_calendar(s)
            count_tasks = select(func.count()).select_from(Task).where(Task.plan_id == plan.id)
            before = s.scalar(count_tasks)
            for done, line in enumerate(rows, start=1):
                try:
                    add_problem(s, user, plan, ProblemIn.model_validate(line["problem"]), cal, now)
                except ServiceError as err:
                    raise type(err)(f"第 {line['row']} 行：{err.message}", err.details) from None
                if done % PROGRESS_EVERY == 0 and done < total:
                    state["done"] = done
                    _save(path, state)
            created_tasks = s.scalar(count_tasks) - before
    except ServiceError as err:
        state.update(state="failed", error=err.message)
        _save(path, state)
        raise
    except Exception:
        state.update(state="failed", error="导入失败（服务器内部错误），没有写入任何内容。")
        _save(path, state)
        raise
    state.update(state="done", done=total)
    _save(path, state)
    return {"created_problems": total, "created_tasks": created_tasks}


def import_status(instance_dir: Path, user: User, plan_id: int, token: str, now: datetime) -> dict:
    """``{state, done, total, error}`` of an import, for a page polling a long commit."""
    _, state = _load(instance_dir, user, plan_id, token, now)
    return {k: state[k] for k in ("state", "done", "total", "error")}


def _imports_dir(instance_dir: Path) -> Path:
    return instance_dir / "imports"


def _load(instance_dir: Path, user: User, plan_id: int, token: str, now: datetime) -> tuple[Path, dict]:
    """The import behind a token, if it is this user's, for this plan, and not expired;
    anything else is "not found", so a token reveals nothing to another user."""
    missing = NotFound("导入记录不存在或已过期，请重新上传文件。")
    if not _TOKEN.fullmatch(token):
        raise missing
    path = _imports_dir(instance_dir) / f"{token}.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise missing from None
    if state["user_id"] != user.id or state["plan_id"] != plan_id:
        raise missing
    if now > datetime.fromisoformat(state["expires_at"]):
        _remove(path)
        raise missing
    return path, state


def _save(path: Path, state: dict) -> None:
    """Write atomically, so a polling reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_suffix(".lock").unlink(missing_ok=True)


def _sweep(folder: Path) -> None:
    """Delete imports nobody committed. Tokens expire by the app's clock; the files are
    swept by the file system's, a day late, which only matters for disk space."""
    if not folder.is_dir():
        return
    cutoff = systime.time() - IMPORT_TTL.total_seconds() * 24
    for path in folder.glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                _remove(path)
        except FileNotFoundError:
            continue
