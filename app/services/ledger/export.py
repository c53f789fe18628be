"""Export of a plan's ledger in a seed layout, as .xlsx or .csv."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database
from app.domain.ledger_layouts import (
    COUNT,
    DEADLINE,
    LAYOUTS,
    PROGRESS_COLUMNS,
    SEQ,
    ExportProblem,
    Layout,
    Table,
    all_closed,
    export_table,
    neutralise,
    progress_text,
    scope_phrase,
)
from app.models import Plan, Problem, Task, Unit, User
from app.services.scope import get_visible_plan, task_visible

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"


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
    problems = export_problems(s, user, plan)
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


def export_problems(s: Session, user: User, plan: Plan) -> list[ExportProblem]:
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
                id=p.id,
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
