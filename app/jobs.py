"""The scheduled work, declared once. Celery (distributed) and APScheduler (embedded)
both call these functions; neither holds any rule of its own.

``tick`` runs the sweep and the digests and returns after they committed, so whatever
it hands to delivery already exists in the database: a lost broker message only delays
a notification until the next tick picks it up as pending.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import false, func, select, update
from sqlalchemy.exc import IntegrityError

from app.db import ids_among
from app.models import Notification, SchedulerLock
from app.services import calendar, ledger
from app.services.delivery import DeliveryReport, claimable, deliver
from app.services.digest import (
    compose_digests,
    compose_escalation_notices,
    compose_group_summaries,
    foldable_later,
)
from app.services.sweep import Pair, StillDue, SweepReport, sweep

log = logging.getLogger("rectify.jobs")


def worker_id() -> str:
    """Who holds a claim: host, process and thread, read at call time (a prefork child
    must not inherit its parent's id, or the lease guard could not tell them apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass
class TickReport:
    sweep: SweepReport
    digests: int
    pending_ids: list[int]  # what delivery can take now: new rows, and rows handed on that no worker took
    handed_on: int = 0  # rows handed on while the sweep ran (``hand_on``)


class _Folds:
    """With a hand-off: once a sweep batch has committed, fold its rows (督办 notices, robot
    summaries) for the people and groups no later batch of the sweep can write to (their
    units have nothing left due), and hand on the ids delivery can take now but those
    held back; the held rows are folded and handed on at the end of the tick, so each
    person still gets one notice per sweep."""

    def __init__(self, rt, now: datetime, hand_on: Callable[[list[int]], None] | None) -> None:
        self.rt, self.now, self.hand_on = rt, now, hand_on
        self.after = 0  # rows up to here were handed on or are held back
        self.held: set[int] = set()  # held back: a later batch may add to their person's notice
        self.handed: set[int] = set()
        self.still_due = StillDue(now)

    def batch_committed(self, taken: Counter[Pair]) -> None:
        db, now = self.rt.db, self.now
        with db.transaction() as s:
            busy = self.still_due.after_batch(s, taken)
        since = min(self.held, default=self.after + 1) - 1  # the new rows and those held back before
        compose_escalation_notices(db, now, since, busy)
        compose_group_summaries(db, now, since, busy)
        with db.transaction() as s:
            top = s.scalar(select(func.max(Notification.id))) or 0
            new = (Notification.id > self.after) & (Notification.id <= top)
            if self.held:
                new |= ids_among(Notification.id, self.held, db.is_sqlite)
            held = foldable_later(now, busy) if busy else false()
            ids = list(s.scalars(select(Notification.id).where(claimable(self.rt.clock()), new, ~held)))
            self.held = set(s.scalars(select(Notification.id).where(new, held)))
        self.after = max(self.after, top)
        ids = sorted(set(ids) - self.handed)
        if ids:
            self.handed.update(ids)
            self.hand_on(ids)


def tick(rt, now: datetime, verbose: bool = False, hand_on: Callable[[list[int]], None] | None = None) -> TickReport:
    """The sweep and what follows it. With ``hand_on``, each sweep batch's outbox rows are
    folded as soon as the batch commits and the ids delivery can take are handed on
    (committed first), so delivery runs while the sweep writes the next batches; the
    returned pending_ids are every row delivery can take now: what is left (the 通报
    lists, digests, rows due already) and any row handed on that is still pending. A
    worker's claim skips a row another transaction holds locked, and the folding of a
    later batch or of the tick's end locks the pending e-mail rows it reads, handed on
    or not: a row its worker skipped would otherwise wait for the next tick (a row
    handed twice is claimed once; the other claim finds it taken)."""
    calendar.reconcile(rt.db, now)  # an upgraded calendar package: count provisional deadlines again first
    folds = _Folds(rt, now, hand_on)
    on_batch = folds.batch_committed if hand_on is not None else None
    report = sweep(rt.db, now, rt.config.REMINDER_DEFAULTS, rt.enabled_channels, verbose=verbose, on_batch=on_batch)
    compose_escalation_notices(rt.db, now)  # every row still pending: those held back, or all without a hand-off
    digests = compose_digests(rt.db, now, rt.config.REMINDER_DEFAULTS)
    compose_group_summaries(rt.db, now)
    # what delivery can take right now (the sweep itself may run as of another instant)
    claim_now = rt.clock()
    pending = list(rt.db.session().scalars(select(Notification.id).where(claimable(claim_now)).order_by("id")))
    rt.db.session().commit()
    for import_id in ledger.stale_imports(rt.db, claim_now):
        run_import(rt, import_id)
    return TickReport(report, digests, pending, len(folds.handed))


def _add_up(total, part) -> None:
    """Add ``part``'s figures into ``total`` (two reports of one dataclass), every field as
    the dataclass declares it: counts summed, lists (the rows settled) extended, so a field
    added to the report is never left out."""
    for f in fields(total):
        mine, theirs = getattr(total, f.name), getattr(part, f.name)
        if isinstance(mine, list):
            mine.extend(theirs)
        elif isinstance(mine, int) and not isinstance(mine, bool):
            setattr(total, f.name, mine + theirs)
        else:
            raise TypeError(f"{type(total).__name__}.{f.name}: no rule to add up a {type(mine).__name__}")


EMBEDDED_DELIVERERS = 2  # delivery threads of the embedded tick (PostgreSQL; SQLite delivers after the sweep)


def tick_and_deliver(rt, now: datetime, deliverers: int = EMBEDDED_DELIVERERS) -> tuple[TickReport, DeliveryReport]:
    """The embedded scheduler's tick: the sweep hands each committed batch's rows to
    ``deliverers`` threads (each its own database connection and SMTP session, claims
    guarded as any worker's) that send them while it writes the next batches; then what
    the tick left (its pending_ids), then one more call for whatever else is due. On
    SQLite, whose writers queue on one lock, delivery follows the tick in this thread."""
    total = DeliveryReport()
    lock = threading.Lock()

    def add(d: DeliveryReport) -> None:
        with lock:
            _add_up(total, d)

    def deliver_chunk(ids: list[int]) -> None:
        add(deliver_due(rt, ids=ids, limit=len(ids)))

    chunk = rt.delivery.batch
    if rt.db.is_sqlite or deliverers < 1:
        report = tick(rt, now)
        for start in range(0, len(report.pending_ids), chunk):
            deliver_chunk(report.pending_ids[start : start + chunk])
    else:
        todo: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        waiting: set[int] = set()  # handed on, their chunk not yet taken by a thread

        def hand_on(ids: list[int]) -> None:
            for start in range(0, len(ids), chunk):
                with lock:
                    waiting.update(ids[start : start + chunk])
                todo.put(ids[start : start + chunk])

        def work() -> None:
            try:
                while (ids := todo.get()) is not None:
                    with lock:
                        waiting.difference_update(ids)
                    try:
                        deliver_chunk(ids)
                    except Exception:  # left pending or leased: the next tick takes them again
                        log.exception("embedded delivery of %d outbox rows failed", len(ids))
            finally:
                rt.db.session.remove()

        threads = [threading.Thread(target=work, name=f"rectify-deliver-{i}", daemon=True) for i in range(deliverers)]
        for t in threads:
            t.start()
        try:
            report = tick(rt, now, hand_on=hand_on)
            with lock:  # a row still in the queue is claimed when its chunk is taken: not twice
                left = [i for i in report.pending_ids if i not in waiting]
            hand_on(left)
        finally:
            for _ in threads:
                todo.put(None)
            for t in threads:
                t.join()
    add(deliver_due(rt))  # anything else due (a retry whose time came), as each tick did
    return report, total


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
