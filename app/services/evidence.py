"""Evidence files (佐证材料) attached to tasks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from app.db import Database
from app.domain.workflow import State, TransitionError, check_evidence
from app.models import Evidence, User
from app.services.errors import NotFound, refusal
from app.services.files import save_upload
from app.services.scope import get_visible_task, task_actor


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
    with db.transaction() as s:
        u = s.get(User, user.id)
        task = get_visible_task(s, u, task_id, lock=True)  # a rectification waits for this upload
        try:
            check_evidence(State(task.state), task_actor(s, u, task))
        except TransitionError as err:
            raise refusal(err) from None
        stored = save_upload(upload_dir, max_bytes, stream, filename)
        ev = Evidence(
            task_id=task.id,
            original_name=stored.original_name,
            stored_name=stored.stored_name,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
            uploaded_by_id=u.id,
            uploaded_at=now,
        )
        s.add(ev)
        try:
            s.flush()
        except Exception:
            stored.discard()
            raise
    return ev


def list_evidence(db: Database, viewer: User, task_id: int) -> list[Evidence]:
    s = db.session()
    task = get_visible_task(s, viewer, task_id)
    return list(s.scalars(select(Evidence).where(Evidence.task_id == task.id).order_by(Evidence.id)))


def open_evidence(db: Database, upload_dir: Path, viewer: User, evidence_id: int) -> tuple[Evidence, Path]:
    s = db.session()
    ev = s.get(Evidence, evidence_id)
    if ev is None:
        raise NotFound("佐证材料 {id} 不存在或不在您的权限范围内。", id=evidence_id)
    try:
        get_visible_task(s, viewer, ev.task_id)
    except NotFound:
        raise NotFound("佐证材料 {id} 不存在或不在您的权限范围内。", id=evidence_id) from None
    return ev, upload_dir / ev.stored_name
