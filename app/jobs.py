"""The scheduled work, declared once. Celery (distributed) and APScheduler (embedded)
both call these functions; neither holds any rule of its own.

``tick`` runs the sweep and the digests and returns after they committed, so whatever
it hands to delivery already exists in the database: a lost broker message only delays
a notification until the next tick picks it up as pending.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.models import Notification, SchedulerLock
from app.services import calendar, ledger
from app.services.delivery import DeliveryReport, claimable, deliver
from app.services.digest import compose_digests, compose_escalation_notices, compose_group_summaries
from app.services.sweep import SweepReport, sweep

log = logging.getLogger("rectify.jobs")


def worker_id() -> str:
    """Who holds a claim: host, process and thread, read at call time (a prefork child
    must not inherit its parent's id, or the lease guard could not tell them apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass
class TickReport:
    sweep: SweepReport
    digests: int
    pending_ids: list[int]


def tick(rt, now: datetime, verbose: bool = False) -> TickReport:
    calendar.reconcile(rt.db, now)  # an upgraded calendar package: count provisional deadlines again first
    report = sweep(rt.db, now, rt.config.REMINDER_DEFAULTS, rt.enabled_channels, verbose=verbose)
    compose_escalation_notices(rt.db, now)
    digests = compose_digests(rt.db, now, rt.config.REMINDER_DEFAULTS)
    compose_group_summaries(rt.db, now)
    # what delivery can take right now (the sweep itself may run as of another instant)
    claim_now = rt.clock()
    pending = list(
        rt.db.session().scalars(select(Notification.id).where(claimable(claim_now)).order_by(Notification.id))
    )
    rt.db.session().commit()
    for import_id in ledger.stale_imports(rt.db, claim_now):
        run_import(rt, import_id)
    return TickReport(report, digests, pending)


def import_progress(rt) -> ledger.Progress:
    return ledger.progress_store(rt.config.INSTANCE_DIR, rt.config.REDIS_URL)


def run_import(rt, import_id: int) -> str:
    """The ledger import job, wherever it runs."""
    return ledger.run_import(rt.db, import_progress(rt), import_id, rt.clock())


def submit_import(rt, extensions: dict, import_id: int) -> None:
    """Run a queued import outside the request that confirmed it (after that request's
    commit): a Celery task in the distributed mode, else the embedded scheduler's thread
    pool, else (a process without the scheduler, such as a test) a thread of its own.
    A message that is lost only delays it: the tick runs imports left queued."""
    if rt.config.SCHEDULER == "off" and rt.config.REDIS_URL:
        extensions["celery"].send_task("rectify.import_ledger", args=[import_id])
        return
    scheduler = extensions.get("rectify_scheduler")
    if scheduler is not None and scheduler.running:
        scheduler.add_job(run_import, args=[rt, import_id], id=f"ledger-import-{import_id}")
    else:
        threading.Thread(
            target=run_import, args=(rt, import_id), name=f"ledger-import-{import_id}", daemon=True
        ).start()


def deliver_due(
    rt, ids: list[int] | None = None, limit: int = 500, clock: Callable[[], datetime] | None = None
) -> DeliveryReport:
    """Send what is due by ``clock`` (the app's own unless the caller passes another, as
    ``flask sweep --at`` does: the shared clock is never swapped)."""
    return deliver(rt.db, rt.channels, clock or rt.clock, worker_id(), limit, ids, rt.config.BASE_URL, rt.delivery)


def acquire_scheduler_lock(rt, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the embedded scheduler's lease. Several web processes may start an
    APScheduler each; only the one holding the lease runs the jobs, and another takes
    over within ``ttl`` if it dies."""
    with rt.db.transaction() as s:
        taken = s.execute(
            update(SchedulerLock)
            .where(
                SchedulerLock.name == "embedded", (SchedulerLock.holder == holder) | (SchedulerLock.expires_at < now)
            )
            .values(holder=holder, expires_at=now + ttl)
        ).rowcount
        if taken:
            return True
        if s.get(SchedulerLock, "embedded") is not None:
            return False
    try:
        with rt.db.transaction() as s:
            s.add(SchedulerLock(name="embedded", holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:
        return False
