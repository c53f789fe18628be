"""The Celery app: built from the Flask app factory, tasks run inside its app context.

Run a worker:  celery -A workers.celery_app worker --loglevel=info
Run the beat:  celery -A workers.celery_app beat   (exactly one)

Reliability settings, and why:
- acks_late + reject_on_worker_lost: a task whose worker dies is redelivered, not lost.
- prefetch 1: a killed worker holds at most one unacknowledged task.
- No ETA or countdown tasks: Redis redelivers those after its visibility timeout,
  so the schedule lives in the database and beat only says "tick now".
- The engine is disposed in each forked worker process: connections must not be
  shared across fork.
"""

from __future__ import annotations

from celery import Celery, Task
from celery.signals import worker_process_init

from app import create_app


def make_celery(flask_app) -> Celery:
    rt = flask_app.extensions["rectify"]
    broker = rt.config.REDIS_URL or "redis://127.0.0.1:6379/0"

    class AppContextTask(Task):
        def __call__(self, *args, **kwargs):
            with flask_app.app_context():
                return super().__call__(*args, **kwargs)

    celery = Celery("rectify", broker=broker, task_cls=AppContextTask)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        beat_schedule={
            "tick": {"task": "rectify.tick", "schedule": float(rt.config.SWEEP_SECONDS)},
        },
    )
    flask_app.extensions["celery"] = celery
    return celery


flask_app = create_app()
celery = make_celery(flask_app)


@worker_process_init.connect
def _fresh_connections(**_kw) -> None:
    flask_app.extensions["rectify"].db.engine.dispose(close=False)


from workers import tasks  # noqa: E402,F401  (register tasks)
