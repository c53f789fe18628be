"""Export of a plan's ledger in a seed layout, as .xlsx or .csv.

The .xlsx is written by xlsxwriter in constant-memory mode while the rows stream from
the database (one category group held at a time), so a ledger of 100,000 problems costs
no more memory than one of ten. It prints as the seeds do: the title (and, in the Yuzhou
layout, the 单位（盖章） / date line and the 备注 footnote), the header repeated on every
page, A4 landscape fitted to the width, page numbers, and every row tall enough for its
wrapped text. A hidden 台账编号 column names the plan and problem of each row, so that
the file, edited and imported again, updates the plan instead of doubling it.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from array import array
from collections import Counter, namedtuple
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import IO

import xlsxwriter
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.db import Database
from app.domain import permissions
from app.domain.deadlines import CHINA
from app.domain.ledger_layouts import (
    CLOSED,
    COUNT,
    DEADLINE,
    KEY,
    LAYOUTS,
    SEQ,
    Column,
    ExportProblem,
    Layout,
    Receipt,
    all_closed,
    export_columns,
    export_groups,
    heights,
    merged_columns,
    neutralise,
    progress_text,
    receipt_text,
    row_height,
    scope_phrase,
)
from app.domain.workflow import STATE_LABELS, State
from app.models import Plan, Problem, Task, Unit, User
from app.services.chain import head_as_of
from app.services.scope import get_visible_plan, plan_facts, task_visible, who

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"
_STREAM = 2000  # rows fetched at a time


@dataclass(frozen=True)
class Export:
    filename: str  # with Chinese characters, for filename*
    ascii_filename: str
    content: bytes | IO[bytes]  # small files as bytes; a ledger as a temporary file, read from the start
    mimetype: str


@dataclass(frozen=True)
class Sheet:
    """What the printed sheet says around the table."""

    layout: Layout
    title: str
    unit: str  # the exporting unit, for 单位（盖章）
    day: str  # 2022年6月7日, China time
    plan_id: int
    chain: str = ""  # the chain head of the tasks exported, as of the export (ChainHead.line)
    below: bool = False  # the plan is answered below: a 下级整改 column


def export_ledger(db: Database, user: User, plan_id: int, layout_key: str, fmt: str, now: datetime) -> Export:
    """The plan's ledger in a seed layout as .xlsx or .csv: the problems with a task the
    user can see, each with the progress of those tasks only. Named by the plan's 文号,
    the layout and the day."""
    s = db.session()
    plan = get_visible_plan(s, user, plan_id)
    layout = LAYOUTS[layout_key]
    day = now.astimezone(CHINA).date()
    # the issuing side exports the whole plan, anyone else their own units' part (task_visible)
    whole = permissions.issuing_side(who(user), plan_facts(plan))
    head = head_as_of(s, as_of=now.replace(microsecond=0), plan_id=plan.id, unit_id=None if whole else user.unit_id)
    below = below_texts(s, user, plan)
    sheet = Sheet(
        layout=layout,
        title=f"{plan.title}（{plan.doc_number}）" if plan.doc_number else plan.title,
        unit=user.unit.name,
        day=f"{day.year}年{day.month}月{day.day}日",
        plan_id=plan.id,
        chain=head.line(),
        below=bool(below),
    )
    problems = iter_export_problems(s, user, plan, below)
    if fmt == "xlsx":
        content = _in_file(lambda out: write_xlsx(out, sheet, export_groups(layout, problems, below=sheet.below)))
    else:
        header = [c.label for c in export_columns(layout, with_key=False, below=sheet.below)]
        groups = export_groups(layout, problems, with_key=False, below=sheet.below)
        content = _in_file(lambda out: write_csv(out, header, (r for g in groups for r in g), trailer=sheet.chain))
    stem = "_".join(_safe(part) for part in (plan.doc_number, plan.title[:40], layout.name) if _safe(part))
    return Export(
        filename=f"{stem}_{day:%Y%m%d}.{fmt}",
        ascii_filename=f"ledger-{plan.id}-{layout.key}-{day:%Y%m%d}.{fmt}",
        content=content,
        mimetype=XLSX_MIME if fmt == "xlsx" else CSV_MIME,
    )


def _in_file(write: Callable[[IO[bytes]], None]) -> IO[bytes]:
    """What ``write`` writes, in a temporary file (gone once closed) read from the start:
    a ledger of 100,000 rows is megabytes, which the response streams from disk rather
    than from memory."""
    out = tempfile.TemporaryFile()  # noqa: SIM115  (the response closes it once sent)
    try:
        write(out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _safe(text: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f\s]', "", text)


def below_texts(s: Session, user: User, plan: Plan) -> dict[int, str]:
    """下级整改 of each of the plan's problems: for each answering plan with a problem that
    answers one of its tasks, the answering unit, its 文号 and where each of the tasks the
    user sees below stands (one level down; the answering plan's own export goes further)."""
    received, below, county, town = aliased(Task), aliased(Task), aliased(Unit), aliased(Unit)
    rows = s.execute(
        select(received.problem_id, county.name, Plan.doc_number, Problem.seq, town.name, below.state)
        .select_from(Problem)
        .join(received, Problem.answers_task_id == received.id)
        .join(Plan, Problem.plan_id == Plan.id)
        .join(county, Plan.issuing_unit_id == county.id)
        .join(below, below.problem_id == Problem.id)
        .join(town, below.unit_id == town.id)
        .where(received.plan_id == plan.id, below.id.in_(select(Task.id).where(task_visible(user))))
        .order_by(received.problem_id, county.path, Plan.id, Problem.seq, town.path)
    ).all()
    parts: dict[int, dict[tuple[str, str], list[str]]] = {}
    for pid, county_name, doc, _seq, town_name, state in rows:
        parts.setdefault(pid, {}).setdefault((county_name, doc), []).append(f"{town_name} {STATE_LABELS[State(state)]}")
    return {
        pid: "；".join(
            f"{name}（{doc}）：{'、'.join(towns)}" if doc else f"{name}：{'、'.join(towns)}"
            for (name, doc), towns in by.items()
        )
        for pid, by in parts.items()
    }


def iter_export_problems(
    s: Session, user: User, plan: Plan, below: dict[int, str] | None = None
) -> Iterator[ExportProblem]:
    """The plan's problems with a task the user can see, in order, with the progress of
    those tasks; streamed (one problem's tasks in memory at a time)."""
    children = dict(s.execute(select(Unit.id, Unit.name).where(Unit.parent_id == plan.issuing_unit_id)).all())
    phrase = scope_phrase(list(children.values()))
    rows = s.connection().execute(
        select(*_LINE_COLUMNS)
        .join(Task, Task.problem_id == Problem.id)
        .join(Unit, Task.unit_id == Unit.id)
        .outerjoin(User, User.id == Task.acknowledged_by_id)
        .where(Problem.plan_id == plan.id, task_visible(user))
        .order_by(Problem.seq, Unit.id)
        .execution_options(yield_per=_STREAM)
    )
    below = below or {}
    plan_id, key_head = plan.id, f"P{plan.id}-"
    by_state: dict[str, tuple[str, bool]] = {}  # one task's state -> its 进展 and 是否销号
    receipts: dict[tuple, str] = {}  # one task's (receipt, who, when) -> its 签收情况
    for _, group in groupby(map(_Line._make, rows), key=_FIRST):
        tasks = list(group)
        p = tasks[0]
        if len(tasks) == 1:  # the usual problem of a large ledger: one unit's task
            # ExportProblem.of's cells, with the texts a lone task's state and receipt give
            # worked out once per distinct state and receipt rather than once per row
            if p.state not in by_state:
                by_state[p.state] = (progress_text({p.state: 1}), all_closed({p.state: 1}))
            progress, closed = by_state[p.state]
            if p.state == _WITHDRAWN:
                acknowledged = ""
            else:
                said = (p.receipt, p.acknowledger, p.acknowledged_at)
                acknowledged = receipts.get(said)
                if acknowledged is None:
                    if len(receipts) > 1000:
                        receipts.clear()  # kept small whatever the ledger's length
                    acknowledged = receipts[said] = receipt_text(
                        [Receipt(p.unit_name, p.receipt, p.acknowledger, _china_day(p.acknowledged_at))]
                    )
            yield ExportProblem(
                p.id,
                p.seq,
                p.category,
                p.nature,
                p.title,
                p.description,
                p.measures,
                p.deadline_text,
                p.unit_name,
                p.remarks,
                progress,
                closed,
                key_head + str(p.seq),  # row_key(plan_id, p.seq)
                below.get(p.id, ""),
                acknowledged,
            )
            continue
        states = Counter(t.state for t in tasks)
        mine = {t.unit_id: t.unit_name for t in tasks}
        if len(children) > 1 and children.keys() <= mine.keys():
            names = [phrase] + [name for uid, name in mine.items() if uid not in children]
        else:
            names = list(mine.values())
        yield ExportProblem.of(
            p,
            plan_id,
            "、".join(names),
            states,
            below=below.get(p.id, ""),
            acknowledged=receipt_text(
                [
                    Receipt(t.unit_name, t.receipt, t.acknowledger, _china_day(t.acknowledged_at))
                    for t in tasks
                    if t.state != _WITHDRAWN
                ]
            ),
        )


# One task of a problem as the export reads it (the problem's fields, the task's, its unit)
_LINE_COLUMNS = (
    Problem.id,  # first: the lines are grouped by it
    Problem.seq,
    Problem.category,
    Problem.nature,
    Problem.title,
    Problem.description,
    Problem.measures,
    Problem.deadline_text,
    Problem.remarks,
    Task.state,
    Task.receipt,
    Task.acknowledged_at,
    func.coalesce(func.nullif(User.full_name, ""), User.username).label("acknowledger"),
    Unit.id.label("unit_id"),
    Unit.name.label("unit_name"),
)
# a plain named tuple per line: a SQLAlchemy row's attributes cost about a microsecond
# each to read, and a ledger line is read some twenty times
_Line = namedtuple("_Line", [c.key for c in _LINE_COLUMNS])
_FIRST = itemgetter(0)
_WITHDRAWN = State.WITHDRAWN.value


def _china_day(moment: datetime | None):
    return moment.astimezone(CHINA).date() if moment else None


_CENTRED = {SEQ, COUNT, DEADLINE, CLOSED, KEY}


def build_xlsx(sheet: Sheet, groups: Iterable[list[list[str]]]) -> bytes:
    """The sheet as bytes (tests and small files; the export writes to a file)."""
    buf = io.BytesIO()
    write_xlsx(buf, sheet, groups)
    return buf.getvalue()


def write_xlsx(out: IO[bytes], sheet: Sheet, groups: Iterable[list[list[str]]]) -> None:
    """The sheet, written row by row in xlsxwriter's constant-memory mode into ``out``."""
    frame = Frame(out, sheet)
    ws, row, merged = frame.ws, frame.first_row, merged_columns(sheet.layout)
    height = heights(frame.columns)
    # the undecorated writers (write_string is _write_string behind a wrapper that checks
    # for A1 notation, a Python call per cell): the same checks and the same cells
    write_string = getattr(ws, "_write_string", ws.write_string)
    write_blank = getattr(ws, "_write_blank", ws.write_blank)
    set_row, row_info, row_sizes = ws.set_row, ws.row_info, ws.row_sizes
    cells = list(enumerate(frame.formats))
    for group in groups:
        span = len(group) > 1 and merged
        for i, values in enumerate(group):
            set_row(row, height(values))
            if span and i:  # a continuation row: its merged cells are the range's
                values = [None if col in merged else v for col, v in enumerate(values)]
            for (col, fmt), value in zip(cells, values, strict=True):
                if value:
                    write_string(row, col, value, fmt)
                else:
                    write_blank(row, col, None, fmt)
            # drop what xlsxwriter keeps of a row it has already flushed (its height, kept
            # for placing images): without this, constant-memory mode still grows by a
            # row's height and format per row
            row_info.pop(row - 1, None)
            row_sizes.pop(row - 1, None)
            row += 1
        if span:
            # merge_range() writes into rows already flushed in constant-memory mode, which
            # xlsxwriter refuses; the cells are written above, so only the ranges are added
            for col in merged:
                ws.merge.append((row - len(group), col, row - 1, col))
    frame.close(row)


class Frame:
    """The sheet around the table: the workbook and its formats, the title (and the
    stamp line), the header; :meth:`close` adds the footnote and the chain head, the
    print settings, and writes the file. The table's rows go from :attr:`first_row` on,
    each cell in :attr:`formats` of its column. (bench/ledger.py writes the same frame
    around the same cells with xlsxwriter's plain calls, as the floor of the export.)"""

    def __init__(self, out: IO[bytes], sheet: Sheet) -> None:
        self.sheet = sheet
        layout = sheet.layout
        self.columns = columns = export_columns(layout, with_key=True, below=sheet.below)
        self.last = last = len(columns) - 2  # the last printed column: the key after it is hidden
        options = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
        self.wb = wb = xlsxwriter.Workbook(out, options)
        self.ws = ws = wb.add_worksheet("整改台账")
        ws.merge = _Ranges()  # a merge per category and merged column: kept compact, as numbers
        base = {"font_name": "宋体", "font_size": 11, "valign": "vcenter", "text_wrap": True}
        cell = {"border": 1, "border_color": "#808080"}
        title_fmt = wb.add_format(base | {"bold": True, "font_size": 16, "align": "center"})
        line_fmt = wb.add_format(base | {"text_wrap": False})
        right_fmt = wb.add_format(base | {"text_wrap": False, "align": "right"})
        head_fmt = wb.add_format(base | cell | {"bold": True, "align": "center", "bg_color": "#D9E1F2"})
        body_fmt = wb.add_format(base | cell | {"align": "left"})
        centre_fmt = wb.add_format(base | cell | {"align": "center"})
        self._note_fmt = wb.add_format(base | {"align": "left"})
        self._chain_fmt = wb.add_format(base | {"align": "left", "font_size": 9})
        self.formats = [centre_fmt if c.key in _CENTRED else body_fmt for c in columns]
        for i, col in enumerate(columns):
            ws.set_column(i, i, col.width, None, {"hidden": col.key == KEY})

        ws.merge_range(0, 0, 0, last, neutralise(sheet.title), title_fmt)
        ws.set_row(0, row_height([sheet.title], [_span(columns[: last + 1])]) + 12)
        row = 1
        if layout.stamp_line:
            ws.write_string(row, 0, f"单位（盖章）：{neutralise(sheet.unit)}", line_fmt)
            ws.write_string(row, last, sheet.day, right_fmt)
            ws.set_row(row, 22)
            row += 1
        self.header_row = row
        ws.write_row(row, 0, [c.label for c in columns], head_fmt)
        ws.set_row(row, row_height([c.label for c in columns], columns))
        self.first_row = row + 1

    def close(self, row: int) -> None:
        """The footnote, then the chain head from ``row`` (the row after the table): each
        one merged line across the table, which a re-import passes over like any footnote;
        then the print settings, and the file written."""
        ws, last, header_row, columns = self.ws, self.last, self.header_row, self.columns
        for line, fmt in ((self.sheet.layout.footnote, self._note_fmt), (self.sheet.chain, self._chain_fmt)):
            if line:
                ws.merge_range(row, 0, row, last, line, fmt)
                ws.set_row(row, row_height([line], [_span(columns[: last + 1])]))
                row += 1
        ws.freeze_panes(header_row + 1, 0)
        ws.repeat_rows(header_row)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)  # one page wide, as many long as needed
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.center_horizontally()
        ws.set_footer("&C第 &P 页，共 &N 页")
        ws.print_area(0, 0, max(row - 1, header_row + 1), last)
        self.wb.close()


class _Ranges:
    """xlsxwriter's list of merged ranges ([first row, first col, last row, last col]
    each), held as an array of numbers: 16 bytes a range instead of a list of four ints
    (about 120), which at a merge per category and column is most of what a long grouped
    ledger would otherwise keep until the sheet is closed."""

    def __init__(self) -> None:
        self._numbers = array("l")

    def append(self, cell_range) -> None:
        self._numbers.extend(cell_range)

    def __len__(self) -> int:
        return len(self._numbers) // 4

    def __iter__(self):
        n = self._numbers
        return (n[i : i + 4] for i in range(0, len(n), 4))


def _span(columns: tuple[Column, ...]) -> Column:
    """A column as wide as several together (for the title and the footnote)."""
    return Column("", "", sum(c.width for c in columns))


def csv_file(table, trailer: str = "") -> bytes:
    """A whole table as CSV bytes (:func:`write_csv`)."""
    buf = io.BytesIO()
    write_csv(buf, table.header, table.rows, trailer)
    return buf.getvalue()


def write_csv(out: IO[bytes], header: list[str], rows: Iterable[list[str]], trailer: str = "") -> None:
    """UTF-8 with a BOM: without it Excel opens a CSV as the local ANSI code page and the
    Chinese turns to mojibake. Merged cells are repeated on every row. ``trailer``: a
    last line in the first column (the chain head). Rows are written as they come."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    if trailer:
        writer.writerow([trailer])
    text.flush()
    text.detach()  # ``out`` stays open for the caller
