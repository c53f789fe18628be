"""The embedded scheduler: APScheduler inside the web process, for the single-machine
mode. Every tick it renews a lease in the database and runs the jobs only if it holds
it, so starting several web processes still sweeps once."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app import jobs

log = logging.getLogger("rectify.scheduler")


def run_once(app: Flask, holder: str) -> str:
    """One scheduler tick: sweep and deliver if this process holds the lease."""
    rt = app.extensions["rectify"]
    with app.app_context():
        now = rt.clock()
        ttl = timedelta(seconds=rt.config.SWEEP_SECONDS * 3)
        if not jobs.acquire_scheduler_lock(rt, holder, now, ttl):
            return "standby"
        report, delivered = jobs.tick_and_deliver(rt, now)  # delivery starts on the sweep's first batch
        if report.sweep.items or delivered.claimed:
            log.info(
                "%s; delivered %s sent, %s retry, %s failed",
                report.sweep.summary(),
                delivered.sent,
                delivered.retry,
                delivered.failed,
            )
        return "ran"


def start(app: Flask) -> BackgroundScheduler:
    holder = f"{jobs.worker_id()}:{uuid.uuid4().hex[:8]}"
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        run_once,
        "interval",
        args=[app, holder],
        seconds=app.extensions["rectify"].config.SWEEP_SECONDS,
        id="rectify-tick",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    app.extensions["rectify_scheduler"] = scheduler  # ledger imports run in its thread pool
    log.info("embedded scheduler started as %s", holder)
    return scheduler
