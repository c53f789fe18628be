"""The worker and beat entry point: one Flask app from the factory, and the Celery
instance it carries (see app/celery_init.py).

Run a worker:  celery -A workers.celery_app worker --loglevel=info
Run the beat:  celery -A workers.celery_app beat   (exactly one)

The engine is disposed in each forked worker process: connections must not be shared
across fork.
"""

from __future__ import annotations

from celery.signals import worker_process_init

from app import create_app
from workers import tasks  # noqa: F401  (registers the shared tasks)

flask_app = create_app()
celery = flask_app.extensions["celery"]


@worker_process_init.connect
def _fresh_connections(**_kw) -> None:
    flask_app.extensions["rectify"].db.engine.dispose(close=False)
