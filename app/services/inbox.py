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
    db: Database, user: User, unread_only: bool = False, limit: int = 50, lang: str | None = None
) -> list[Message]:
    """The newest messages, each subject rendered now from its kind and data in ``lang``
    (the page's language), else the user's own (a page is a few dozen rows; the sweep
    that wrote them words nothing)."""
    q = select(Notification).where(_mine(user))
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    rows = db.session().scalars(q.order_by(Notification.id.desc()).limit(limit))
    lang = lang or user.lang
    return [
        Message(r.id, r.kind, r.level, r.item_type, r.item_id, subject_of(r, lang), r.data, r.created_at, r.read_at)
        for r in rows
    ]


def mark_read(db: Database, user: User, notification_id: int | None, now: datetime) -> int:
    """Mark one notification (or, with None, all of them) read. Returns how many changed."""
    with db.transaction() as s:
        q = update(Notification).where(_mine(user), Notification.read_at.is_(None))
        if notification_id is not None:
            exists = s.scalar(select(Notification.id).where(_mine(user), Notification.id == notification_id))
            if exists is None:
                raise NotFound(f"通知 {notification_id} 不存在。")
            q = q.where(Notification.id == notification_id)
        return s.execute(q.values(read_at=now)).rowcount


def failed_deliveries(db: Database, admin: User, limit: int = 200) -> list[Notification]:
    """Messages that will not go out without someone's help (admins only)."""
    require(permissions.may_administer(who(admin)), "只有系统管理员可以查看发送失败的消息。")
    q = select(Notification).where(Notification.status == "failed").order_by(Notification.id.desc()).limit(limit)
    return list(db.session().scalars(q))
