"""Evidence files: checked by content, stored under a random name outside the database.

The file is streamed to a temporary file while its size and sha256 are taken; only a
file within the size limit whose bytes match its claimed type is moved into place, and
the row is written after it. A failed row write removes the file, so nothing is left
half-written either way.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import filetype
from sqlalchemy import select

from app.db import Database
from app.models import Evidence, Plan, User
from app.services.errors import Forbidden, Invalid, NotFound, TooLarge
from app.services.scope import actor_for, get_visible_task

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


def _clean_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip()
    return "".join(ch for ch in base if ch.isprintable())[:200] or "file"


def sniff(head: bytes) -> str | None:
    kind = filetype.guess(head)
    return kind.mime if kind else None


def store_evidence(
    db: Database,
    upload_dir: Path,
    max_bytes: int,
    user: User,
    task_id: int,
    stream: BinaryIO,
    filename: str,
    now: datetime,
) -> Evidence:
    name = _clean_name(filename)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED:
        raise Invalid(f"不支持的文件类型「{ext or '无扩展名'}」。可上传：{', '.join(sorted(ALLOWED))}。")
    with db.transaction() as s:
        u = s.get(User, user.id)
        task = get_visible_task(s, u, task_id)
        plan = s.get(Plan, task.plan_id)
        actor = actor_for(u, task, plan.issuing_unit)
        if u.role not in ("official", "supervisor") or not (actor.responsible or actor.supervising):
            raise Forbidden("只有责任单位或督办单位的人员可以上传佐证材料。")
        upload_dir.mkdir(parents=True, exist_ok=True)
        digest, size, head = hashlib.sha256(), 0, b""
        fd, tmp = tempfile.mkstemp(dir=upload_dir, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"文件超过 {max_bytes // (1024 * 1024)} MB 的上限。")
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise Invalid("文件是空的。")
            actual = sniff(head)
            if actual != ALLOWED[ext]:
                raise Invalid(f"文件内容与扩展名 .{ext} 不符（识别为 {actual or '未知类型'}），已拒收。")
            stored = secrets.token_hex(16)
            final = upload_dir / stored
            os.replace(tmp, final)
            tmp = None
            ev = Evidence(
                task_id=task.id,
                original_name=name,
                stored_name=stored,
                content_type=ALLOWED[ext],
                size=size,
                sha256=digest.hexdigest(),
                uploaded_by_id=u.id,
                uploaded_at=now,
            )
            s.add(ev)
            try:
                s.flush()
            except Exception:
                final.unlink(missing_ok=True)
                raise
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
    return ev


def list_evidence(db: Database, viewer: User, task_id: int) -> list[Evidence]:
    s = db.session()
    task = get_visible_task(s, viewer, task_id)
    return list(s.scalars(select(Evidence).where(Evidence.task_id == task.id).order_by(Evidence.id)))


def open_evidence(db: Database, upload_dir: Path, viewer: User, evidence_id: int) -> tuple[Evidence, Path]:
    s = db.session()
    ev = s.get(Evidence, evidence_id)
    if ev is None:
        raise NotFound(f"佐证材料 {evidence_id} 不存在或不在您的权限范围内。")
    try:
        get_visible_task(s, viewer, ev.task_id)
    except NotFound:
        raise NotFound(f"佐证材料 {evidence_id} 不存在或不在您的权限范围内。") from None
    return ev, upload_dir / ev.stored_name
