"""Uploaded files: checked by content, stored under a random name outside the database.

The file is streamed to a temporary file while its size and sha256 are taken; only a
file within the size limit whose bytes match its claimed type is moved into place.
The caller writes its row afterwards and calls :meth:`StoredFile.discard` if that fails,
so nothing is left half-written either way.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype

from app.services.errors import Invalid, TooLarge

# extension -> the MIME type its bytes must show
ALLOWED = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "pdf": "application/pdf",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class StoredFile:
    original_name: str
    stored_name: str
    content_type: str
    size: int
    sha256: str
    path: Path

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def clean_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip()
    return "".join(ch for ch in base if ch.isprintable())[:200] or "file"


def sniff(head: bytes) -> str | None:
    kind = filetype.guess(head)
    return kind.mime if kind else None


def save_upload(upload_dir: Path, max_bytes: int, stream: BinaryIO, filename: str) -> StoredFile:
    name = clean_name(filename)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED:
        raise Invalid(
            "不支持的文件类型「{ext}」。可上传：{allowed}。", ext=ext or "无扩展名", allowed=", ".join(sorted(ALLOWED))
        )
    upload_dir.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    fd, tmp = tempfile.mkstemp(dir=upload_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge("文件超过 {mb} MB 的上限。", mb=max_bytes // (1024 * 1024))
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Invalid("文件是空的。")
        actual = sniff(head)
        if actual != ALLOWED[ext]:
            raise Invalid(
                "文件内容与扩展名 .{ext} 不符（识别为 {actual}），已拒收。", ext=ext, actual=actual or "未知类型"
            )
        stored = secrets.token_hex(16)
        final = upload_dir / stored
        os.replace(tmp, final)
        tmp = None
        return StoredFile(name, stored, ALLOWED[ext], size, digest.hexdigest(), final)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
