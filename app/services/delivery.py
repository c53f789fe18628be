"""Delivery: claim due outbox rows, hand them to their channel, record the verdict.

A row is claimed with a guarded UPDATE (only rows still pending, or whose lease has
run out, change), so two workers never hold the same row. It is marked sent only after
the channel accepted it; a temporary failure goes back to pending with a backoff, a
permanent one (or too many attempts) ends in failed, where the admin page shows it.
A worker killed mid-batch leaves its rows "sending" until the lease runs out; then any
worker claims them again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from app.db import Database
from app.models import Notification, Unit, User
from app.notify import Outgoing, Result, render, robot_for
from app.notify.base import Channel

log = logging.getLogger("rectify.delivery")

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)
SUB_BATCH = 50
_KIND_TEMPLATE = {"remind": "reminder", "escalate": "escalation", "nag": "escalation", "daily": "daily"}


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most an hour: a mail server down for a while is retried,
    not hammered."""
    return timedelta(minutes=min(60, 2 ** max(attempts - 1, 0)))


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    ids: list[int] = field(default_factory=list)


def claimable(now: datetime):
    """Rows a worker may take: due and pending, or left "sending" by a worker whose lease ran out."""
    return and_(
        Notification.channel.not_in(("inbox", "none")),
        or_(
            and_(Notification.status == "pending", Notification.next_attempt_at <= now),
            and_(Notification.status == "sending", Notification.lease_until < now),
        ),
    )


def claim(
    db: Database, now: datetime, worker: str, limit: int, ids: list[int] | None = None, lease: timedelta = LEASE
) -> list[int]:
    with db.transaction() as s:
        q = select(Notification.id).where(claimable(now))
        if ids is not None:
            q = q.where(Notification.id.in_(ids))
        candidates = list(s.scalars(q.order_by(Notification.id).limit(limit).with_for_update(skip_locked=True)))
        if not candidates:
            return []
        return list(
            s.scalars(
                update(Notification)
                .where(Notification.id.in_(candidates), claimable(now))
                .values(
                    status="sending",
                    claimed_by=worker,
                    lease_until=now + lease,
                    attempts=Notification.attempts + 1,
                )
                .returning(Notification.id)
            )
        )


@dataclass
class Channels:
    """The configured channels. Robots are per unit, so they are built per row."""

    email: Channel | None = None
    webhook: Channel | None = None
    robot_factory: Callable[[str, str, str | None], Channel] = robot_for

    def for_row(self, row: Notification, unit: Unit | None) -> Channel | None:
        if row.channel == "email":
            return self.email
        if row.channel == "webhook":
            return self.webhook
        if unit is not None and unit.robot_url and row.channel == unit.robot_kind:
            return self.robot_factory(unit.robot_kind, unit.robot_url, unit.robot_secret)
        return None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _days(template: str, data: dict) -> int:
    """The day count each template speaks of: days overdue, days since a 立行立改 item
    was assigned, or days left (negative once a report is late)."""
    overdue = data.get("overdue_days", 0)
    if template == "escalation":
        return overdue
    if template == "daily":
        return data.get("days_since_assigned", 0)
    return -overdue if overdue > 0 else data.get("days_left", 0)


def _outgoing(row: Notification, user: User | None, base_url: str) -> Outgoing:
    data = dict(row.data or {})
    if row.kind == "event":  # rendered when written, in the recipient's language (app.services.events)
        html = data.pop("html", None)
        return _message(row, user, row.subject, row.body, html, data)
    if row.kind in ("digest", "notice_list"):
        items = [i | {"due_at": _instant(i.get("due_at"))} for i in data.get("items", [])]
        kind, ctx = row.kind, {"items": items, "url": base_url + data.get("url", "/inbox")}
        if row.kind == "notice_list":
            ctx["issuer"] = data.get("issuer", "")
        else:
            ctx["events"] = [e | {"url": base_url + e["url"]} for e in data.get("events", [])]
    else:
        kind = "obligation" if row.item_type == "submission" else _KIND_TEMPLATE.get(row.kind, "reminder")
        ctx = {
            "title": data.get("title", row.subject),
            "unit": data.get("unit", ""),
            "due_at": _instant(data.get("due_at")),
            "days": _days(kind, data),
            "level": row.level,
            "url": base_url + data.get("url", ""),
            "deadline_text": data.get("deadline_text", ""),
        }
    if user is not None:
        ctx["name"] = user.full_name or user.username
    try:
        subject, text, html = render(kind, ctx, user.lang if user else "zh")
    except Exception:
        log.exception("notification template %s failed for outbox row %s; sent as written", kind, row.key)
        subject, text, html = row.subject, row.body, None
    return _message(row, user, subject, text, html, data)


def _message(row: Notification, user: User | None, subject: str, text: str, html: str | None, data: dict) -> Outgoing:
    return Outgoing(
        key=row.key,
        to_name=(user.full_name or user.username) if user else "",
        to_email=user.email if user else None,
        to_mobile=user.phone if user else None,
        subject=subject,
        text=text,
        html=html,
        data=data | {"kind": row.kind, "level": row.level, "item_type": row.item_type, "item_id": row.item_id},
    )


def _record(db: Database, worker: str, row_id: int, result: Result, attempts: int, now: datetime) -> str:
    if result.status == "sent":
        values = {"status": "sent", "sent_at": now, "lease_until": None, "last_error": ""}
        outcome = "sent"
    elif result.status == "temporary" and attempts < MAX_ATTEMPTS:
        values = {
            "status": "pending",
            "lease_until": None,
            "next_attempt_at": now + backoff(attempts),
            "last_error": result.detail[:2000],
        }
        outcome = "retry"
    else:
        values = {"status": "failed", "lease_until": None, "last_error": result.detail[:2000] or "gave up"}
        outcome = "failed"
    with db.transaction() as s:
        s.execute(
            update(Notification)
            .where(Notification.id == row_id, Notification.status == "sending", Notification.claimed_by == worker)
            .values(**values)
            .execution_options(synchronize_session=False)  # the session holds the whole batch: don't scan it
        )
    return outcome


def deliver(
    db: Database,
    channels: Channels,
    clock: Callable[[], datetime],
    worker: str,
    limit: int = 500,
    ids: list[int] | None = None,
    base_url: str = "",
) -> DeliveryReport:
    """Claim up to ``limit`` due rows and send them, group by group (one SMTP connection
    per sub-batch). Each verdict is committed the moment the channel gives it."""
    report = DeliveryReport()
    claimed = claim(db, clock(), worker, limit, ids)
    report.claimed = len(claimed)
    if not claimed:
        return report
    s = db.session()
    rows = list(s.scalars(select(Notification).where(Notification.id.in_(claimed)).order_by(Notification.id)))
    users = {
        u.id: u for u in s.scalars(select(User).where(User.id.in_({r.recipient_id for r in rows if r.recipient_id})))
    }
    units = {u.id: u for u in s.scalars(select(Unit).where(Unit.id.in_({r.unit_id for r in rows if r.unit_id})))}
    s.commit()
    groups: dict[tuple[str, int | None], list[Notification]] = defaultdict(list)
    for row in rows:
        groups[(row.channel, row.unit_id if row.channel in ("wecom", "dingtalk") else None)].append(row)
    for (_name, unit_id), group in groups.items():
        channel = channels.for_row(group[0], units.get(unit_id) if unit_id else None)
        for start in range(0, len(group), SUB_BATCH):
            part = group[start : start + SUB_BATCH]

            def record(i: int, result: Result, part=part) -> None:
                outcome = _record(db, worker, part[i].id, result, part[i].attempts, clock())
                setattr(report, outcome, getattr(report, outcome) + 1)
                report.ids.append(part[i].id)

            if channel is None:
                for i, row in enumerate(part):
                    record(i, Result.permanent(f"channel {row.channel} is not configured"))
            else:
                batch = [_outgoing(r, users.get(r.recipient_id), base_url) for r in part]
                channel.send_batch(batch, clock(), record)
    return report
