"""gunicorn's settings (``gunicorn -c gunicorn.conf.py 'app:create_app()'``; gunicorn also
reads this file from the working directory by itself). Only what the app needs of it:
each worker freezes its start-up heap once the app is built (see app/heap.py)."""

from app.heap import freeze_startup_heap


def post_worker_init(worker) -> None:
    frozen = freeze_startup_heap()
    worker.log.info("worker %s: start-up heap frozen (%d objects)", worker.pid, frozen)
