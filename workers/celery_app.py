"""The worker and beat entry point: one Flask app from the factory, and the Celery
instance it carries (see app/celery_init.py).

Run a worker:  celery -A workers.celery_app worker --loglevel=info
Run the beat:  celery -A workers.celery_app beat   (exactly one)

The engine is disposed in each forked worker process: connections must not be shared
across fork.
"""

from __future__ import annotations

import gc
import logging

from celery.signals import worker_process_init

from app import create_app, jobs
from app.heap import freeze_startup_heap
from app.notify.render import warm_up as compile_templates
from app.services import delivery
from workers import tasks  # noqa: F401  (registers the shared tasks)

flask_app = create_app()
celery = flask_app.extensions["celery"]
compile_templates()  # compiled once here, before the pool forks: every child has them
freeze_startup_heap()  # and the start-up heap frozen, so no child's collector walks it (app/heap.py)


@worker_process_init.connect
def _fresh_connections(**_kw) -> None:
    rt = flask_app.extensions["rectify"]
    rt.db.engine.dispose(close=False)
    # A worker runs for days: warmed up here, its first messages cost what the rest do.
    # A database that is not there yet only means the first task connects itself.
    try:
        delivery.warm_up(rt.db, rt.clock, jobs.worker_id())
    except Exception:
        logging.getLogger("rectify.delivery").warning("delivery warm-up failed", exc_info=True)
    # The worker's own " ready." comes before its pool processes are: this line says one
    # is, so an operator (and a test) can tell a worker that takes tasks side by side.
    frozen = gc.get_freeze_count()  # inherited from the parent, which froze it before the fork
    logging.getLogger("rectify.worker").info("pool process ready (start-up heap frozen: %d objects)", frozen)
