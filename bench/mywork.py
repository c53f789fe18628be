"""My work and the keyword, in-process on PostgreSQL and SQLite, at ledger scale.

What it prints, for a ledger of ``--size`` tasks (bench/pages.py's builder: one city, 1000
counties, 10 plans, tasks in every state with their history):
  * header_counts   queue.counts(header=True): the one statement behind the header's number
                    (the city supervisor: to check, extensions, reports; a county official:
                    to start, to rectify, sent back, reports), p50/p95 in ms;
  * my_work         queue.my_work: every box's count and its first 10 items;
  * search[...]     tasks.list_tasks with q: a problem-title substring few tasks match, a
                    measures text every task matches, a unit's name, and a word found
                    nowhere (the worst case: every candidate is looked at).
  * baseline_pk     one task read by its primary key (select by id, the ORM object built),
                    the same run's yardstick: every figure is also given as a multiple of it.
Each call runs ``--repeat`` times on a warm connection; the statements are the service's
own, so the figures are the database's work plus SQLAlchemy's, without HTTP or templates.
SQLite gets the same rows (bench/pages.py's copy into a fresh migrated file).

Run (from the project root)
  .venv/bin/python bench/mywork.py                 # 100,000 tasks
  .venv/bin/python bench/mywork.py --size 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import api as base  # bench/ is on sys.path when run as a script; api puts the root there
import pages
from sqlalchemy import select

from app.db import Database
from app.domain.deadlines import CHINA
from app.migrate import upgrade
from app.models import Task, User
from app.schemas import TaskQuery
from app.services import queue, tasks


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(url: str, label: str, n: int, o: base.Org, repeat: int) -> None:
    db = Database(url)
    try:
        s = db.session()
        supervisor, official = (s.get(User, uid) for uid in (o.supervisor_id, o.official_id))
        now = datetime.now(UTC)
        some = s.scalar(select(Task.id).order_by(Task.id.desc()).limit(1))
        ms = timed(
            lambda: s.scalars(select(Task).where(Task.id == some).execution_options(populate_existing=True)).one(),
            repeat,
        )
        pk = base.pct(ms, 50)
        print(f"db={label} size={n} baseline_pk {base.fmt_ms(ms, (50, 95))}")

        def show(name: str, ms: list[float], extra: str = "") -> None:
            print(f"db={label} size={n} {name} {base.fmt_ms(ms, (50, 95))} x_pk_p50={base.pct(ms, 50) / pk:.1f}{extra}")

        for who in (supervisor, official):
            who.unit.path  # noqa: B018  (a page has it loaded: the header names the unit)
            name = "city_deputy" if who is supervisor else "county_head"
            found = queue.counts(db, who, now, header=True)
            show(
                f"header_counts[{name}]",
                timed(lambda w=who: queue.counts(db, w, now, header=True), repeat),
                f" counts={found}",
            )
            show(f"my_work[{name}]", timed(lambda w=who: queue.my_work(db, w, now), repeat))
        unit_name = s.scalar(select(User).where(User.id == o.official_id)).unit.name
        for label_, word in (
            ("title", "共性问题42"),
            ("measures", "销号管理"),
            ("unit", unit_name),
            ("nowhere", "不存在的词"),
            ("two_chars", "护栏"),
        ):
            q = TaskQuery(q=word)
            page = tasks.list_tasks(db, supervisor, q, now)
            ms = timed(lambda q=q: tasks.list_tasks(db, supervisor, q, now), repeat)
            show(f"search[{label_}]", ms, f" total={page.total}{'+' if page.more else ''}")
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args(argv)
    with base.scratch_database(args.pg_admin_url) as url:
        upgrade(url)
        db = Database(url)
        try:
            o = base.build_org(db, 1000, 0)
            plan_ids = base.make_plans(db, o.supervisor_id, 10, datetime.now(CHINA).date())
        finally:
            db.dispose()
        n = pages.grow(url, plan_ids, o.supervisor_id, 1000, args.size)
        measure(url, "postgresql", n, o, args.repeat)
        with tempfile.TemporaryDirectory(prefix="rectify_bench_") as tmp:
            measure(pages.copy_to_sqlite(url, Path(tmp) / "bench.db"), "sqlite", n, o, args.repeat)
    base.host_line("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
