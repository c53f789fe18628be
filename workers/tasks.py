"""Named Celery tasks. Thin: they take ids, call app.jobs, and enqueue only after the
work they hand on has been committed. Declared with ``@shared_task``: they bind to the
Celery instance the app factory built and reach the app through ``current_app``."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import shared_task
from flask import current_app

from app import jobs

DELIVERY_CHUNK = 100


def _rt():
    return current_app.extensions["rectify"]


@shared_task(name="rectify.tick")
def tick(at: str | None = None) -> str:
    """Beat sends it bare; ``at`` (an ISO instant) sweeps as of another moment, like
    `flask sweep --at`."""
    rt = _rt()
    now = datetime.fromisoformat(at).astimezone(UTC) if at else rt.clock()

    def hand_on(ids: list[int]) -> None:  # each sweep batch's rows, committed: workers start on them at once
        for start in range(0, len(ids), DELIVERY_CHUNK):
            deliver.delay(ids[start : start + DELIVERY_CHUNK])

    report = jobs.tick(rt, now, hand_on=hand_on)  # committed when it returns
    hand_on(report.pending_ids)  # the rest (通报 lists, digests, rows due already) and any row a worker skipped
    return report.sweep.summary()


@shared_task(name="rectify.deliver")
def deliver(ids: list[int]) -> str:
    d = jobs.deliver_due(_rt(), ids=ids, limit=len(ids))
    return f"{d.sent} sent, {d.retry} retry, {d.failed} failed"


@shared_task(name="rectify.import_ledger")
def import_ledger(import_id: int) -> str:
    """A confirmed ledger import (claimed by a guarded UPDATE, so a redelivery is a no-op)."""
    return jobs.run_import(_rt(), import_id)
