"""Daily digests: for people who asked for one, the e-mails held back during the day
become one message per person per day, listing every item and every workflow event."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select, update

from app.db import Database
from app.domain.deadlines import CHINA
from app.domain.reminders import Policy, into_window
from app.models import Notification
from app.services.calendar import load_calendar
from app.services.outbox_rows import insert_ignoring_duplicates


def compose_digests(db: Database, now: datetime, defaults: dict) -> int:
    """From the day's send window on, fold each person's held e-mails into one digest
    (key digest:<user>:<date>, so a day has at most one). Returns digests written."""
    policy = Policy.from_dict(defaults)
    with db.transaction() as s:
        if into_window(now, policy, load_calendar(s)) != now:
            return 0  # outside the send window: wait for the morning
        held = list(
            s.scalars(
                select(Notification)
                .where(Notification.status == "held", Notification.next_attempt_at <= now)
                .order_by(Notification.recipient_id, Notification.id)
                .with_for_update(skip_locked=True)
            )
        )
        day = now.astimezone(CHINA).date().isoformat()
        done_today = set(s.scalars(select(Notification.recipient_id).where(Notification.step == f"digest:{day}")))
        by_user: dict[int, list[Notification]] = defaultdict(list)
        for row in held:
            if row.recipient_id not in done_today:  # theirs went out this morning: wait for tomorrow
                by_user[row.recipient_id].append(row)
        rows = []
        for user_id, items in by_user.items():
            key = f"digest:{user_id}:{day}"
            rows.append(
                {
                    "key": key,
                    "item_type": "digest",
                    "item_id": user_id,
                    "plan_id": None,
                    "step": f"digest:{day}",
                    "kind": "digest",
                    "level": max(r.level for r in items),
                    "recipient_id": user_id,
                    "unit_id": items[0].unit_id,
                    "channel": "email",
                    "status": "pending",
                    "subject": f"【整改台账每日汇总】您有 {len(items)} 项待办",
                    "body": "\n".join(r.subject for r in items),
                    "data": {
                        "items": [
                            {
                                "title": r.data.get("title", r.subject),
                                "unit": r.data.get("unit", ""),
                                "due_at": r.data.get("due_at"),
                                "state": r.data.get("state", "in_progress"),
                                "overdue_days": r.data.get("overdue_days", 0),
                            }
                            for r in items
                            if r.kind != "event"
                        ],
                        # workflow events: already worded in the recipient's language when written
                        "events": [
                            {"subject": r.subject, "url": r.data.get("url", "")} for r in items if r.kind == "event"
                        ],
                    },
                    "created_at": now,
                    "next_attempt_at": now,
                    "attempts": 0,
                    "last_error": "",
                }
            )
        written = insert_ignoring_duplicates(s, rows)
        folded = [r.id for items in by_user.values() for r in items]
        if folded:
            s.execute(
                update(Notification)
                .where(Notification.id.in_(folded), Notification.status == "held")
                .values(status="folded")
            )
        return written
