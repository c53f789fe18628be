"""Reading a ledger file: the first sheet with a ledger header, merged cells undone.

python-calamine (Rust) reads the cell values and the merged ranges; openpyxl is not used
to read at all, since nothing here depends on styles. Before calamine builds a sheet's
grid the sheet's XML is checked against :mod:`.guard`'s limits (its declared and its
real extent, its merged ranges), and the Python work after it runs under a CPU
:class:`~app.services.ledger.guard.Budget`, so a small hostile file cannot cost more than
a normal one.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import python_calamine

from app.domain.ledger_layouts import (
    EXTRA_COLUMNS,
    HEADER_SCAN_ROWS,
    LAYOUTS,
    Header,
    Layout,
    LedgerRow,
    match_header,
    read_rows,
    unmerge,
)
from app.services.errors import Invalid
from app.services.ledger.guard import (
    MAX_COLUMNS,
    MAX_ROWS,
    UNREADABLE,
    Budget,
    SheetFacts,
    check_sheet,
    check_zip,
    sheet_parts,
)


@dataclass(frozen=True)
class ParsedLedger:
    layout: Layout
    rows: list[LedgerRow]
    formulas: dict[int, list[str]]  # sheet row -> labels of its columns holding a formula


def parse_workbook(data: bytes, budget: Budget | None = None) -> ParsedLedger:
    """The problem rows of the first sheet that has a ledger header, merges undone."""
    check_zip(data)
    budget = budget or Budget()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        parts = sheet_parts(zf)
        try:
            wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        except python_calamine.CalamineError:
            raise Invalid(UNREADABLE) from None
        with wb:
            for index, name in enumerate(wb.sheet_names):
                facts = check_sheet(name, zf.read(parts[name])) if name in parts else SheetFacts(frozenset())
                try:
                    grid = wb.get_sheet_by_index(index)
                    values = grid.to_python(skip_empty_area=False)
                    merges = grid.merged_cell_ranges or []
                except python_calamine.CalamineError:
                    raise Invalid(UNREADABLE) from None
                budget.check()
                found = _find_header(name, values)
                if found is None:
                    continue
                header, last = found
                rows = values[:last]
                ranges = [(r0 + 1, c0 + 1, r1 + 1, c1 + 1) for (r0, c0), (r1, c1) in merges]
                ledger_rows = read_rows(header, unmerge(rows, ranges, budget.check), budget.check)
                return ParsedLedger(header.layout, ledger_rows, _formula_rows(header, facts, ledger_rows))
    raise Invalid(
        "没有找到台账表头。支持的表头：{headers}（须在前 {rows} 行内）。",
        headers="；".join(
            f"{layout.name}：{' / '.join(c.label for c in layout.columns)}" for layout in LAYOUTS.values()
        ),
        rows=HEADER_SCAN_ROWS,
    )


def _find_header(title: str, values: list[list]) -> tuple[Header, int] | None:
    """The header and the number of the last row with content, or None if the first
    :data:`HEADER_SCAN_ROWS` rows hold no header."""
    header = None
    for number, row in enumerate(values[:HEADER_SCAN_ROWS], start=1):
        found = match_header(row[:MAX_COLUMNS])
        if found:
            header = Header(found[0], number, found[1])
            break
    if header is None:
        return None
    content, last = 0, header.row
    for number in range(header.row + 1, len(values) + 1):
        if any(values[number - 1][:MAX_COLUMNS]):  # "" for an empty cell
            content, last = content + 1, number
            if content > MAX_ROWS:
                raise Invalid(
                    "工作表「{name}」的数据超过 {rows} 行，请拆分成多个文件分批导入。", name=title, rows=MAX_ROWS
                )
    return header, last


def _formula_rows(header: Header, facts: SheetFacts, rows: list[LedgerRow]) -> dict[int, list[str]]:
    """Which columns of which problem rows were formulas (read as the value last shown)."""
    names = {c.key: c.label for c in (*header.layout.columns, *EXTRA_COLUMNS)}
    labels = {i: names[key] for key, i in header.columns.items()}
    wanted = {r.row for r in rows}
    out: dict[int, list[str]] = {}
    for row, col in sorted(facts.formulas):
        if row in wanted and col - 1 in labels:
            out.setdefault(row, []).append(labels[col - 1])
    return out
