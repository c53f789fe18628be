"""The upload guard: an uploaded ledger is untrusted.

Before any reader sees it the size, the content (a zip, not a renamed PDF or an old
.xls), the zip directory (bombs) and the XML itself (entity tricks) are checked; before a
sheet's cells are read its XML is checked for what would make reading it expensive (a
declared or real extent beyond the limits, too many or too large merged ranges); and the
work done after reading runs under a CPU :class:`Budget`.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from defusedxml.ElementTree import fromstring
from openpyxl.utils import column_index_from_string

from app.services.errors import Invalid, TooLarge

MAX_ROWS = 10_000  # problem rows in one ledger
MAX_SHEET_ROWS = 5 * MAX_ROWS  # rows including blank formatted ones: beyond this the file is padding
MAX_COLUMNS = 60  # a ledger has about ten; wider sheets are read only this far
MAX_SHEET_COLUMNS = 200  # a sheet with cells beyond this is not a ledger
MAX_MERGES = 3 * MAX_ROWS  # 序号/类型/数量 merged per category, a title or two
MAX_MERGED_CELLS = 6 * MAX_SHEET_ROWS  # cells covered by all merged ranges together
CPU_SECONDS = 5.0  # per file, after the guards; a normal 10,000-row ledger needs well under one
MAX_MEMBERS = 1000
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed per zip member; real workbooks stay far below
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and any password-protected Office file
DTD_MESSAGE = "文件中含有 XML 文档类型/实体声明（DTD），正常的 Excel/WPS 文件不会有，已拒收。"
UNREADABLE = "无法读取该 .xlsx 文件，请在 Excel/WPS 中打开后另存为 .xlsx 再上传。"
_CHUNK = 64 * 1024


def read_upload(stream: BinaryIO, max_bytes: int) -> bytes:
    """The uploaded bytes, refusing (413) as soon as they pass ``max_bytes``."""
    buf = io.BytesIO()
    while chunk := stream.read(_CHUNK):
        if buf.tell() + len(chunk) > max_bytes:
            raise TooLarge("文件超过 {mb} MB 的上限。", mb=max_bytes // (1024 * 1024))
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
        raise Invalid(UNREADABLE) from None
    with zf:
        if len(members) > MAX_MEMBERS:
            raise Invalid(
                "文件内部包含 {n} 个部件（上限 {most}），疑似恶意压缩文件，已拒收。", n=len(members), most=MAX_MEMBERS
            )
        total = sum(m.file_size for m in members)
        if total > MAX_UNCOMPRESSED_BYTES:
            raise Invalid(
                "文件解压后达 {mb} MB（上限 {most} MB），疑似压缩炸弹，已拒收。",
                mb=total // (1024 * 1024),
                most=MAX_UNCOMPRESSED_BYTES // (1024 * 1024),
            )
        for m in members:
            if m.file_size > MAX_RATIO * max(m.compress_size, 1):
                raise Invalid(
                    "文件部件「{part}」压缩比异常（超过 {ratio} 倍），疑似压缩炸弹，已拒收。",
                    part=m.filename,
                    ratio=MAX_RATIO,
                )
        if "[Content_Types].xml" not in zf.namelist():
            raise Invalid("文件内容不是 .xlsx 表格（是其他类型的压缩包），已拒收。")
        refuse_dtds(zf)


def refuse_dtds(zf: zipfile.ZipFile) -> None:
    """Refuse any XML part declaring a DTD or entities (billion laughs, external entities).

    calamine's XML reader neither expands nor refuses them, so they are refused here,
    before it runs. A part that is not UTF-8 (UTF-16 would hide the markers from a byte scan) is refused as well:
    Excel and WPS always write UTF-8.
    """
    for info in zf.infolist():
        if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        with zf.open(info) as part:
            head = part.read(4)
            if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
                raise Invalid("文件部件「{part}」不是 UTF-8 编码的 XML，已拒收。", part=info.filename)
            tail = head
            while True:
                window = tail + part.read(_CHUNK)
                if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                    raise Invalid(DTD_MESSAGE)
                if len(window) == len(tail):
                    break
                tail = window[-16:]


class Budget:
    """CPU seconds this thread may spend on one file; :meth:`check` refuses beyond them.

    Thread time, not wall time: a busy server must not refuse a normal file, and the
    other requests of the process do not count.
    """

    def __init__(self, seconds: float = CPU_SECONDS) -> None:
        self.seconds = seconds
        self.start = time.thread_time()

    def check(self) -> None:
        if time.thread_time() - self.start > self.seconds:
            raise Invalid(
                "解析该文件超过 {seconds} 秒的处理时间上限，已停止。请检查文件是否含有大量空行或合并单元格。",
                seconds=f"{self.seconds:g}",
            )


_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "p": "http://schemas.openxmlformats.org/package/2006/relationships",
}


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> the zip member holding its XML, from the workbook and its relations
    (both small, and parsed with defusedxml)."""
    try:
        book = fromstring(zf.read("xl/workbook.xml"))
        rels = fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except KeyError:
        raise Invalid(UNREADABLE) from None
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iterfind("p:Relationship", _NS)}
    out = {}
    for sheet in book.iterfind("m:sheets/m:sheet", _NS):
        target = targets.get(sheet.get(f"{{{_NS['r']}}}id"), "")
        out[sheet.get("name", "")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return out


@dataclass(frozen=True)
class SheetFacts:
    formulas: frozenset[tuple[int, int]]  # (row, column), 1-based, of cells holding a formula


_DIMENSION = re.compile(rb'<dimension ref="([A-Z]{1,3})?([0-9]{1,7})?(?::([A-Z]{1,3})([0-9]{1,7}))?"')
_LAST_ROW = re.compile(rb'<row r="([0-9]{1,8})"')
_WIDE_CELL = re.compile(rb'<c r="([A-Z]{2,3})[0-9]')
_MERGE = re.compile(rb'<mergeCell ref="([A-Z]{1,3})([0-9]{1,8})(?::([A-Z]{1,3})([0-9]{1,8}))?"')
_FORMULA = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,8})"[^>]*>\s*<f[\s>/]')


def check_sheet(name: str, xml: bytes) -> SheetFacts:
    """Refuse a sheet whose reading would cost far more than a ledger's, from its XML
    alone (a few byte searches, no parsing); return where its formulas are."""
    declared = _DIMENSION.search(xml, 0, 4096)
    if declared and declared.group(4):
        rows, cols = int(declared.group(4)), column_index_from_string(declared.group(3).decode())
        if rows > MAX_SHEET_ROWS or cols > MAX_SHEET_COLUMNS:
            raise Invalid(
                "工作表「{name}」声明的范围达 {rows} 行 × {cols} 列（上限 {max_rows} 行、{max_cols} 列），"
                "请删除多余的空行、空列后再上传。",
                name=name,
                rows=rows,
                cols=cols,
                max_rows=MAX_SHEET_ROWS,
                max_cols=MAX_SHEET_COLUMNS,
            )
    end = xml.rfind(b"</sheetData>")
    last = xml.rfind(b"<row ", 0, end if end >= 0 else len(xml))
    found = _LAST_ROW.match(xml, last) if last >= 0 else None
    rows = max(int(found.group(1)) if found else 0, xml.count(b"<row ", 0, end if end >= 0 else len(xml)))
    if rows > MAX_SHEET_ROWS:
        raise Invalid(
            "工作表「{name}」超过 {rows} 行（含空行），请删除多余的空行后再上传。", name=name, rows=MAX_SHEET_ROWS
        )
    widest = max((column_index_from_string(m.group(1).decode()) for m in _WIDE_CELL.finditer(xml)), default=0)
    if widest > MAX_SHEET_COLUMNS:
        raise Invalid(
            "工作表「{name}」在第 {widest} 列还有内容（上限 {cols} 列），请删除多余的列后再上传。",
            name=name,
            widest=widest,
            cols=MAX_SHEET_COLUMNS,
        )
    merges = _MERGE.finditer(xml, max(end, 0))
    area = 0
    for count, m in enumerate(merges, start=1):
        first_col, first_row = column_index_from_string(m.group(1).decode()), int(m.group(2))
        last_col = column_index_from_string(m.group(3).decode()) if m.group(3) else first_col
        last_row = int(m.group(4)) if m.group(4) else first_row
        area += (abs(last_row - first_row) + 1) * (abs(last_col - first_col) + 1)
        if count > MAX_MERGES or area > MAX_MERGED_CELLS:
            raise Invalid(
                "工作表「{name}」的合并单元格过多或过大（上限 {merges} 处、共 {cells} 个单元格），"
                "不像是整改台账，已拒收。",
                name=name,
                merges=MAX_MERGES,
                cells=MAX_MERGED_CELLS,
            )
    formulas = (
        frozenset((int(m.group(2)), column_index_from_string(m.group(1).decode())) for m in _FORMULA.finditer(xml))
        if b"<f" in xml
        else frozenset()
    )
    return SheetFacts(formulas)
