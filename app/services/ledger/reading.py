"""Reading a ledger file: the first sheet with a ledger header, merged cells undone."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from openpyxl import load_workbook
from openpyxl.utils import range_boundaries

from app.domain.ledger_layouts import (
    HEADER_SCAN_ROWS,
    LAYOUTS,
    Header,
    Layout,
    LedgerRow,
    cell_text,
    match_header,
    read_rows,
    unmerge,
)
from app.services.errors import Invalid, ServiceError
from app.services.ledger.guard import DTD_MESSAGE, UNREADABLE, check_zip

MAX_ROWS = 10_000  # problem rows in one ledger
MAX_SHEET_ROWS = 5 * MAX_ROWS  # rows including blank formatted ones: beyond this the file is padding
MAX_COLUMNS = 60  # a ledger has about ten; wider sheets are read only this far


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
        raise Invalid(DTD_MESSAGE if _defused(err) else UNREADABLE) from None
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
