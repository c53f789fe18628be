"""The in-app inbox: a user's own notifications, newest first, with an unread count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from app.db import Database
from app.domain import permissions
from app.models import Notification, User
from app.services.delivery import subject_of
from app.services.errors import NotFound
from app.services.scope import require, who


def _mine(user: User):
    """The user's inbox messages (one whose template failed is on the admin's list instead)."""
    return (Notification.recipient_id == user.id) & (Notification.channel == "inbox") & (Notification.status == "sent")


def unread_count(db: Database, user: User) -> int:
    q = select(func.count()).select_from(Notification).where(_mine(user), Notification.read_at.is_(None))
    return db.session().scalar(q) or 0


@dataclass(frozen=True)
class Message:
    """One inbox row as its reader sees it: the subject worded in the reader's language."""

    id: int
    kind: str
    level: int
    item_type: str
    item_id: int
    subject: str
    data: dict
    created_at: datetime
    read_at: datetime | None


def list_inbox(
    db: Database,
    user: User,
    unread_only: bool = False,
    limit: int = 50,
    lang: str | None = None,
    before: int | None = None,
) -> tuple[list[Message], int | None]:
    """One page of messages, newest first, and the ``before`` of the next (older) page, or
    None on the last. Keyset paging on the id (the inbox index then the primary key): a
    page deep in a long inbox costs what the first does, and a message arriving meanwhile
    shifts nothing. Each subject is rendered now from its kind and data in ``lang`` (the
    page's language), else the user's own (the sweep that wrote them words nothing)."""
    q = select(Notification).where(_mine(user))
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    if before is not None:
        q = q.where(Notification.id < before)
    rows = list(db.session().scalars(q.order_by(Notification.id.desc()).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    lang = lang or user.lang
    page = [
        Message(r.id, r.kind, r.level, r.item_type, r.item_id, subject_of(r, lang), r.data, r.created_at, r.read_at)
        for r in rows
    ]
    return page, (rows[-1].id if more else None)


def mark_read(db: Database, user: User, notification_id: int | None, now: datetime) -> int:
    """Mark one notification (or, with None, all of them) read. Returns how many changed."""
    with db.transaction() as s:
        q = update(Notification).where(_mine(user), Notification.read_at.is_(None))
        if notification_id is not None:
            exists = s.scalar(select(Notification.id).where(_mine(user), Notification.id == notification_id))
            if exists is None:
                raise NotFound("通知 {id} 不存在。", id=notification_id)
            q = q.where(Notification.id == notification_id)
        return s.execute(q.values(read_at=now)).rowcount


def failed_deliveries(db: Database, admin: User, limit: int = 200) -> list[Notification]:
    """Messages an administrator should look at (admins only), newest first: those that
    failed for good, those handed over without an answer twice (``unconfirmed``: they may
    or may not have arrived, and are not sent again) and those that may have arrived twice
    (``possibly_sent_twice``: a worker died after handing one over, and it went again)."""
    require(permissions.may_administer(who(admin)), "只有系统管理员可以查看发送失败的消息。")
    needs_a_look = Notification.status.in_(("failed", "unconfirmed")) | Notification.possibly_sent_twice.is_(True)
    q = select(Notification).where(needs_a_look).order_by(Notification.id.desc()).limit(limit)
    return list(db.session().scalars(q))
