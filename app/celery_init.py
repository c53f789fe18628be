"""Celery inside the app factory (the pattern of pallets/flask ``examples/celery``).

``create_app`` calls :func:`celery_init_app`, so every Flask app carries its Celery
instance at ``app.extensions["celery"]``: the web process uses it only to send (a
confirmed ledger import), a worker or beat to run. Tasks are declared with
``@shared_task`` in ``workers/tasks.py`` and bind to this instance; they reach the app
through ``current_app``, so nothing in ``workers/`` imports the app and there is no
import cycle. Building the instance opens no connection.

Reliability settings, and why:
- acks_late + reject_on_worker_lost: a task whose worker dies is redelivered, not lost.
- prefetch 1: a killed worker holds at most one unacknowledged task.
- No ETA or countdown tasks: Redis redelivers those after its visibility timeout,
  so the schedule lives in the database and beat only says "tick now".
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def celery_init_app(app: Flask, broker: str | None, sweep_seconds: int) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, broker=broker or DEFAULT_BROKER, task_cls=FlaskTask)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        beat_schedule={"tick": {"task": "rectify.tick", "schedule": float(sweep_seconds)}},
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
