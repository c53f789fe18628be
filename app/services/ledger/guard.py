"""The upload guard: an uploaded ledger is untrusted.

Before any reader sees it the size, the content (a zip, not a renamed PDF or an old
.xls), the zip directory (bombs) and, when the XML parser is not defused, the XML itself
(entity tricks) are checked.
"""

from __future__ import annotations

import io
import zipfile
from typing import BinaryIO

from openpyxl.xml import DEFUSEDXML

from app.services.errors import Invalid, TooLarge

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
        raise Invalid(UNREADABLE) from None
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
                    raise Invalid(DTD_MESSAGE)
                if len(window) == len(tail):
                    break
                tail = window[-16:]
