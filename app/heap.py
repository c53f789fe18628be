"""What a long-running server process does with its start-up heap.

A started app holds about 200,000 objects that live as long as the process: modules,
functions, classes, SQLAlchemy's mappers and compiled statements, the templates. Python's
cyclic collector walks all of them at every full (generation 2) collection, about 160 ms
on this project's 2-core CI host (measured in process), and a web worker runs one every
fifty to a hundred requests: 2–3 keyword pages in 200 took 142–184 ms where the rest took
12–30 (SQLite, gunicorn, 10,000 tasks), which is what bench/pages.py's p95 of 113–125 ms
against a p50 of 17–28 ms had been. ``gc.freeze()`` moves
what exists at that moment into a permanent generation the collector no longer walks,
so a full collection costs what the requests' own objects do. The Python documentation
recommends the same before a fork, so that children share those pages (copy-on-write
is not undone by the collector writing to them).

Called only where a server has finished starting (gunicorn's ``post_worker_init``,
``flask serve``, the Celery worker before its pool forks), never from ``create_app``:
the test suite builds thousands of apps, and frozen garbage is never collected."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left as garbage, then freeze the rest; returns how many
    objects are now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
