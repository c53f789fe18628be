"""Ledger files in and out: .xlsx import (preview, then commit) and .xlsx/.csv export.

An uploaded ledger is untrusted. Before openpyxl sees it the size, the content (a zip,
not a renamed PDF or an old .xls), the zip directory (bombs) and, when openpyxl cannot
parse through defusedxml, the XML itself (entity tricks) are checked; a first streaming
pass then refuses oversized sheets before the full load that unmerges cells.

Import is two steps so that nothing is written before the official has seen what the
file will become: the preview parses and resolves every row and keeps the result
server-side under a random token (a JSON file under the instance folder, bound to the
user and the plan, valid for an hour: no table for a short-lived draft); the commit
adds all rows through :func:`app.services.plans.add_problem` in one transaction, so
it writes everything or nothing and applies exactly the rules of adding one problem.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import time as systime
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.xml import DEFUSEDXML
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import Database
from app.domain.deadlines import DeadlineError, parse_deadline
from app.domain.ledger_layouts import (
    COUNT,
    DEADLINE,
    HEADER_SCAN_ROWS,
    LAYOUTS,
    PROGRESS_COLUMNS,
    SEQ,
    ExportProblem,
    Header,
    Layout,
    LedgerRow,
    Table,
    abbreviates,
    all_closed,
    cell_text,
    export_table,
    is_scope,
    match_header,
    nature_of,
    neutralise,
    normal_name,
    progress_text,
    read_rows,
    scope_phrase,
    split_units,
    unmerge,
)
from app.domain.workcalendar import WorkCalendar
from app.models import Plan, Problem, Task, Unit, User
from app.schemas import ProblemIn
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Invalid, NotFound, ServiceError, TooLarge
from app.services.plans import add_problem
from app.services.scope import get_visible_plan, task_visible

MAX_ROWS = 10_000  # problem rows in one ledger
MAX_SHEET_ROWS = 5 * MAX_ROWS  # rows including blank formatted ones: beyond this the file is padding
MAX_COLUMNS = 60  # a ledger has about ten; wider sheets are read only this far
MAX_MEMBERS = 1000
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed per zip member; real workbooks stay far below
IMPORT_TTL = timedelta(hours=1)
PROGRESS_EVERY = 50
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and any password-protected Office file
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
_DTD_MESSAGE = "文件中含有 XML 文档类型/实体声明（DTD），正常的 Excel/WPS 文件不会有，已拒收。"
_UNREADABLE = "无法读取该 .xlsx 文件，请在 Excel/WPS 中打开后另存为 .xlsx 再上传。"
_CHUNK = 64 * 1024


# ---- reading an upload safely ---------------------------------------------------------
def read_upload(stream: BinaryIO, max_bytes: int) -> bytes:
    """The uploaded bytes, refusing (413) as soon as they pass ``max_bytes``."""
    buf = io.BytesIO()
    while chunk := stream.read(_CHUNK):
        if buf.tell() + len(chunk) > max_bytes:
            raise TooLarge(f"文件超过 {max_bytes // (1024 * 1024)} MB 的上限。")
        buf.write(chunk)
    if not buf.tell():
        raise Invalid("文件是空的。")
    return buf.getvalue()


def check_zip(data: bytes) -> None:
    """Refuse what is not an .xlsx by content, and zip bombs by their directory alone.

    Python's zipfile never returns more than a member's declared size, so checking the
    declared sizes bounds what openpyxl will ever decompress.
    """
    if data.startswith(_OLE_MAGIC):
        raise Invalid("这是旧版 .xls 文件或设有打开密码的文件。请在 Excel/WPS 中另存为不加密的 .xlsx 后再上传。")
    if not data.startswith(b"PK\x03\x04"):
        raise Invalid("文件内容不是 .xlsx 表格（例如是改了扩展名的 PDF 或图片），已拒收。")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        members = zf.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise Invalid(_UNREADABLE) from None
    with zf:
        if len(members) > MAX_MEMBERS:
            raise Invalid(f"文件内部包含 {len(members)} 个部件（上限 {MAX_MEMBERS}），疑似恶意压缩文件，已拒收。")
        total = sum(m.file_size for m in members)
        if total > MAX_UNCOMPRESSED_BYTES:
            raise Invalid(
                f"文件解压后达 {total // (1024 * 1024)} MB（上限 {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB），"
                "疑似压缩炸弹，已拒收。"
            )
        for m in members:
            if m.file_size > MAX_RATIO * max(m.compress_size, 1):
                raise Invalid(f"文件部件「{m.filename}」压缩比异常（超过 {MAX_RATIO} 倍），疑似压缩炸弹，已拒收。")
        if "[Content_Types].xml" not in zf.namelist():
            raise Invalid("文件内容不是 .xlsx 表格（是其他类型的压缩包），已拒收。")
        if not DEFUSEDXML:
            refuse_dtds(zf)


def refuse_dtds(zf: zipfile.ZipFile) -> None:
    """Refuse any XML part declaring a DTD or entities (billion laughs, external entities).

    Needed only when openpyxl parses with the plain standard-library parser. A part that
    is not UTF-8 (UTF-16 would hide the markers from a byte scan) is refused as well:
    Excel and WPS always write UTF-8.
    """
    for info in zf.infolist():
        if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        with zf.open(info) as part:
            head = part.read(4)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
                raise Invalid(f"文件部件「{info.filename}」不是 UTF-8 编码的 XML，已拒收。")
            tail = head
            while True:
                window = tail + part.read(_CHUNK)
                if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                    raise Invalid(_DTD_MESSAGE)
                if len(window) == len(tail):
                    break
                tail = window[-16:]


@dataclass(frozen=True)
class ParsedLedger:
    layout: Layout
    rows: list[LedgerRow]


def parse_workbook(data: bytes) -> ParsedLedger:
    """The problem rows of the first sheet that has a ledger header, merges undone."""
    check_zip(data)
    try:
        header, grid, merges = _read_sheet(data)
    except ServiceError:
        raise
    except Exception as err:  # openpyxl reports a broken file with all kinds of exceptions
        raise Invalid(_DTD_MESSAGE if _defused(err) else _UNREADABLE) from None
    return ParsedLedger(header.layout, read_rows(header, unmerge(grid, merges)))


def _defused(err: BaseException | None) -> bool:
    """Whether defusedxml refused the XML somewhere in the chain (openpyxl re-raises
    parse errors as a ValueError "from" the original)."""
    while err is not None:
        if isinstance(err, DefusedXmlException):
            return True
        err = err.__cause__ or err.__context__
    return False


def _read_sheet(data: bytes) -> tuple[Header, list[list], list[tuple[int, int, int, int]]]:
    """Header, cell values and merged ranges of the first sheet with a ledger header.

    openpyxl's read-only mode streams the sheet, so rows are counted (and an oversized
    sheet refused) while reading, and no other sheet of the workbook is ever loaded.
    That mode does not report merged cells; they are read from the sheet's XML.
    """
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        for ws in wb.worksheets:
            ws.reset_dimensions()  # the declared size may be wrong either way; read what is there
            found = _scan_sheet(ws.title, ws.iter_rows(values_only=True, max_col=MAX_COLUMNS))
            if found is not None:
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    merges = _merged_ranges(zf, ws._worksheet_path)  # openpyxl 3.1 keeps no public path
                return found[0], found[1], merges
    finally:
        wb.close()
    raise Invalid(
        "没有找到台账表头。支持的表头："
        + "；".join(f"{layout.name}：{' / '.join(c.label for c in layout.columns)}" for layout in LAYOUTS.values())
        + f"（须在前 {HEADER_SCAN_ROWS} 行内）。"
    )


def _scan_sheet(title: str, rows: Iterator[tuple]) -> tuple[Header, list[list]] | None:
    """The header and the rows up to the last one with content, or None if the first
    :data:`HEADER_SCAN_ROWS` rows hold no header."""
    header, content, grid, last = None, 0, [], 0
    for number, values in enumerate(rows, start=1):
        if number > MAX_SHEET_ROWS:
            raise Invalid(f"工作表「{title}」超过 {MAX_SHEET_ROWS} 行（含空行），请删除多余的空行后再上传。")
        grid.append(list(values))
        if header is None:
            if number > HEADER_SCAN_ROWS:
                return None
            found = match_header(values)
            if found:
                header, last = Header(found[0], number, found[1]), number
        elif any(cell_text(v) for v in values):
            content, last = content + 1, number
            if content > MAX_ROWS:
                raise Invalid(f"工作表「{title}」的数据超过 {MAX_ROWS} 行，请拆分成多个文件分批导入。")
    return None if header is None else (header, grid[:last])


_MERGE_CELL = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}mergeCell"
_ROW = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}row"


def _merged_ranges(zf: zipfile.ZipFile, sheet_path: str) -> list[tuple[int, int, int, int]]:
    """``(min_row, min_col, max_row, max_col)`` of every merged range of a sheet."""
    ranges = []
    with zf.open(sheet_path) as src:
        for _, el in iterparse(src):
            if el.tag == _MERGE_CELL:
                min_col, min_row, max_col, max_row = range_boundaries(el.get("ref", ""))
                ranges.append((min_row, min_col, max_row, max_col))
            elif el.tag == _ROW:
                el.clear()  # the values were read already; keep memory flat
    return ranges


# ---- resolving 责任单位 -----------------------------------------------------------------
@dataclass
class Resolved:
    units: list[Unit]
    scope: bool  # a 「各…」 phrase was among the names
    errors: list[str]


class UnitResolver:
    """责任单位 text → units in the subtree of the plan's issuing unit."""

    def __init__(self, s: Session, issuer: Unit) -> None:
        self.issuer = issuer
        self.units = list(s.scalars(select(Unit).where(Unit.path.startswith(issuer.path)).order_by(Unit.id)))
        self.children = [u for u in self.units if u.parent_id == issuer.id]
        self.by_name: dict[str, list[Unit]] = defaultdict(list)
        for u in self.units:
            self.by_name[normal_name(u.name)].append(u)
        self._memo: dict[str, Unit | str] = {}

    def resolve(self, text: str) -> Resolved:
        names = split_units(text)
        if not names:
            return Resolved([], False, ["责任单位为空"])
        units: dict[int, Unit] = {}
        scope, errors = False, []
        for name in names:
            if is_scope(name):
                scope = True
                if not self.children:
                    errors.append(f"责任单位「{name}」指下级单位，但「{self.issuer.name}」没有下级单位")
                units.update((u.id, u) for u in self.children)
                continue
            found = self._memo.get(name) or self._memo.setdefault(name, self._one(name))
            if isinstance(found, str):
                errors.append(found)
            else:
                units[found.id] = found
        return Resolved(list(units.values()), scope, errors)

    def _one(self, name: str) -> Unit | str:
        """The unit a name means: the exact name, else a short form (卢氏县住建局, 古城镇);
        among several, the one nearest the issuer if that is unambiguous."""
        norm = normal_name(name)
        found = self.by_name.get(norm) or [u for u in self.units if abbreviates(norm, normal_name(u.name))]
        if not found:
            return f"责任单位「{name}」不是「{self.issuer.name}」或其下级单位"
        nearest = [u for u in found if u.depth == min(x.depth for x in found)]
        if len(nearest) > 1:
            return f"责任单位「{name}」可能指：{'、'.join(u.name for u in nearest[:5])}，请写全称"
        return nearest[0]


# ---- preview and commit ---------------------------------------------------------------
_FIELD_LABELS = {
    "category": "类型",
    "title": "具体问题",
    "description": "问题简述",
    "measures": "整改措施",
    "deadline": "整改时限",
    "remarks": "备注",
}


def _row_problem(
    row: LedgerRow, resolver: UnitResolver, plan: Plan, cal: WorkCalendar
) -> tuple[dict, ProblemIn | None]:
    """The preview line of one row and, if it has no errors, the problem it will add."""
    resolved = resolver.resolve(row.units)
    errors = list(resolved.errors)
    nature = None
    try:
        nature = nature_of(row.nature, resolved.scope)
    except ValueError as err:
        errors.append(str(err))
    due_at = None
    try:
        due_at = parse_deadline(row.deadline, plan.issued_on, cal).due_at
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


def preview_import(
    db: Database, instance_dir: Path, user: User, plan_id: int, stream: BinaryIO, max_bytes: int, now: datetime
) -> dict:
    """Parse and resolve an uploaded ledger and keep the result for :func:`commit_import`.

    Returns ``{token, layout, rows, errors_count}``; ``rows[i].seq`` is the number the
    problem will get (after the plan's existing ones). Nothing is written to the
    database; a refused file leaves nothing behind at all.
    """
    s = db.session()
    plan = get_visible_plan(s, user, plan_id)
    parsed = parse_workbook(read_upload(stream, max_bytes))
    resolver = UnitResolver(s, plan.issuing_unit)
    cal = load_calendar(s)
    next_seq = (s.scalar(select(func.max(Problem.seq)).where(Problem.plan_id == plan.id)) or 0) + 1
    lines = []
    for offset, row in enumerate(parsed.rows):
        line, problem = _row_problem(row, resolver, plan, cal)
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
            plan = get_visible_plan(s, user, plan_id)
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


# ---- export ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Export:
    filename: str  # with Chinese characters, for filename*
    ascii_filename: str
    content: bytes
    mimetype: str


def export_ledger(db: Database, user: User, plan_id: int, layout_key: str, fmt: str) -> Export:
    """The plan's ledger in a seed layout as .xlsx or .csv: the problems with a task the
    user can see, each with the progress of those tasks only."""
    s = db.session()
    plan = get_visible_plan(s, user, plan_id)
    layout = LAYOUTS[layout_key]
    problems = _export_problems(s, user, plan)
    table = export_table(layout, problems)
    title = f"{plan.title}（{plan.doc_number}）" if plan.doc_number else plan.title
    content = _xlsx(layout, title, table) if fmt == "xlsx" else _csv(table)
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "", plan.title)[:60] or "整改方案"
    return Export(
        filename=f"{stem}_整改台账.{fmt}",
        ascii_filename=f"ledger-{plan.id}-{layout.key}.{fmt}",
        content=content,
        mimetype=XLSX_MIME if fmt == "xlsx" else CSV_MIME,
    )


def _export_problems(s: Session, user: User, plan: Plan) -> list[ExportProblem]:
    tasks = s.execute(
        select(Task.problem_id, Task.state, Unit.id, Unit.name)
        .join(Unit, Task.unit_id == Unit.id)
        .where(Task.plan_id == plan.id, task_visible(user))
        .order_by(Unit.id)
    ).all()
    states: dict[int, Counter] = defaultdict(Counter)
    units: dict[int, dict[int, str]] = defaultdict(dict)
    for problem_id, state, unit_id, unit_name in tasks:
        states[problem_id][state] += 1
        units[problem_id][unit_id] = unit_name
    children = dict(s.execute(select(Unit.id, Unit.name).where(Unit.parent_id == plan.issuing_unit_id)).all())
    phrase = scope_phrase(list(children.values()))
    problems = s.scalars(select(Problem).where(Problem.plan_id == plan.id).order_by(Problem.seq))
    out = []
    for p in problems:
        if p.id not in states:
            continue
        mine = units[p.id]
        if len(children) > 1 and children.keys() <= mine.keys():
            names = [phrase] + [name for uid, name in mine.items() if uid not in children]
        else:
            names = list(mine.values())
        out.append(
            ExportProblem(
                seq=p.seq,
                category=p.category,
                nature=p.nature,
                title=p.title,
                description=p.description,
                measures=p.measures,
                deadline_text=p.deadline_text,
                units="、".join(names),
                remarks=p.remarks,
                progress=progress_text(states[p.id]),
                closed=all_closed(states[p.id]),
            )
        )
    return out


_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTRED = {SEQ, COUNT, DEADLINE, "closed"}


def _style(wb: Workbook, name: str) -> str:
    """A named style registered once per workbook: giving each of tens of thousands of
    cells its own Alignment and Border objects makes openpyxl hash them all."""
    if name not in wb.named_styles:
        style = NamedStyle(name=name, border=_BORDER)
        style.alignment = Alignment(
            horizontal="left" if name == "台账正文" else "center", vertical="center", wrap_text=True
        )
        if name == "台账表头":
            style.font = Font(bold=True)
            style.fill = PatternFill("solid", fgColor="D9E1F2")
        wb.add_named_style(style)
    return name


def _xlsx(layout: Layout, title: str, table: Table) -> bytes:
    """A sheet that looks like the annex: title row, bold header repeated on every
    printed page, wrapped text, the grouped cells merged, landscape A4 fitted to width."""
    wb = Workbook()
    ws = wb.active
    ws.title = "整改台账"
    columns = layout.columns + PROGRESS_COLUMNS
    ws.append([neutralise(title)])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[1].height = 36
    ws.append(table.header)
    for cell in ws[2]:
        cell.style = _style(wb, "台账表头")
    styles = [_style(wb, "台账居中" if col.key in _CENTRED else "台账正文") for col in columns]
    for r, values in enumerate(table.rows, start=3):
        for c, (value, style) in enumerate(zip(values, styles, strict=True), start=1):
            ws.cell(row=r, column=c, value=value or None).style = style  # blank, not an empty string
    for first, last, col in table.merges:
        ws.merge_cells(start_row=3 + first, start_column=col + 1, end_row=3 + last, end_column=col + 1)
    for i, col in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = col.width
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _csv(table: Table) -> bytes:
    """UTF-8 with a BOM: without it Excel opens a CSV as the local ANSI code page and the
    Chinese turns to mojibake. Merged cells are repeated on every row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(table.header)
    writer.writerows(table.rows)
    return buf.getvalue().encode("utf-8-sig")
