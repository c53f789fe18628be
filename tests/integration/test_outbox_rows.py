"""Outbox rows written in bulk (a sweep's thousands, an event's few) on both databases:
a key already there is skipped, what was added is counted, and the rows read back as
written, in the order given (delivery claims by id)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.models import Notification
from app.services.outbox_rows import COPY_FROM, addressed, insert_ignoring_duplicates, message

NOW = datetime(2022, 6, 21, 1, 1, tzinfo=UTC)


def rows(n: int, prefix: str = "bulk") -> list[dict]:
    common = message(
        ("task", 7, None),
        "escalate:2",
        "escalate",
        2,
        ("农村危房改造档案不规范", "农村危房改造档案不规范"),
        {"title": "农村危房改造档案不规范", "overdue_days": 3, "unit": "卢氏县", "items": [{"url": "/tasks/7"}]},
        NOW,
        NOW,
    )
    return [addressed(common, f"{prefix}:{i}:email", "email", "pending", None, None) for i in range(n)]


@pytest.mark.parametrize("n", [COPY_FROM - 1, COPY_FROM + 500])
def test_a_bulk_insert_skips_keys_already_there_and_keeps_what_it_writes(rt, n):
    batch = rows(n)
    with rt.db.transaction() as s:
        assert insert_ignoring_duplicates(s, batch[:300]) == 300
    with rt.db.transaction() as s:
        assert insert_ignoring_duplicates(s, batch) == n - 300  # the first 300 are there already
        assert insert_ignoring_duplicates(s, batch) == 0  # again in the same transaction: nothing
        assert insert_ignoring_duplicates(s, rows(n, "fresh")) == n  # all new: all in, after a refusal or not

    with rt.db.transaction() as s:
        mine = Notification.key.like("bulk:%")
        assert s.scalar(select(func.count()).select_from(Notification).where(mine)) == n
        stored = list(s.scalars(select(Notification).where(mine).order_by(Notification.id)))
    assert [r.key for r in stored] == [r["key"] for r in batch]  # in the order given
    last = stored[-1]
    assert (last.status, last.channel, last.level, last.attempts, last.possibly_sent_twice) == (
        "pending",
        "email",
        2,
        0,
        False,
    )
    assert last.data == batch[-1]["data"] and last.subject == "农村危房改造档案不规范"
    assert last.next_attempt_at == NOW and last.recipient_id is None and last.sent_at is None
