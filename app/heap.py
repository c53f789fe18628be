"""What a long-running server process does with its start-up heap.

A started app holds about 200,000 objects that live as long as the process: modules,
functions, classes, SQLAlchemy's mappers and compiled statements, the templates. Python's
cyclic collector walks all of them at every full (generation 2) collection, about 160 ms
on this project's 2-core CI host, and a web worker runs one every dozen or so requests:
one page in fifteen took 100–160 ms longer than the rest (the keyword list's p95 at
113–125 ms on SQLite against a p50 of 17–28 ms, bench/pages.py). ``gc.freeze()`` moves
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
