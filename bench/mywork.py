"""My work and the keyword, in-process on PostgreSQL, at ledger scale.

What it prints, for a ledger of ``--size`` tasks (bench/pages.py's builder: one city, 1000
counties, 10 plans, tasks in every state with their history):
  * header_counts   queue.counts(header=True): the one statement behind the header's number
                    (the city supervisor: to check, extensions, reports; a county official:
                    to start, to rectify, sent back, reports), p50/p95 in ms;
  * my_work         queue.my_work: every box's count and its first 10 items;
  * search[...]     tasks.list_tasks with q: a problem-title substring few tasks match, a
                    measures text every task matches, a unit's name, and a word found
                    nowhere (the worst case: every candidate is looked at).
Each call runs ``--repeat`` times on a warm connection; the statements are the service's
own, so the figures are the database's work plus SQLAlchemy's, without HTTP or templates.

Run (from the project root)
  .venv/bin/python bench/mywork.py                 # 100,000 tasks
  .venv/bin/python bench/mywork.py --size 10000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import api as base  # bench/ is on sys.path when run as a script; api puts the root there
import pages
from sqlalchemy import select

from app.db import Database
from app.domain.deadlines import CHINA
from app.migrate import upgrade
from app.models import User
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
        db = Database(url)
        try:
            s = db.session()
            supervisor, official = (s.get(User, uid) for uid in (o.supervisor_id, o.official_id))
            now = datetime.now(UTC)
            for who in (supervisor, official):
                who.unit.path  # noqa: B018  (a page has it loaded: the header names the unit)
                name = "city_deputy" if who is supervisor else "county_head"
                found = queue.counts(db, who, now, header=True)
                ms = timed(lambda w=who: queue.counts(db, w, now, header=True), args.repeat)
                print(f"size={n} header_counts[{name}] {base.fmt_ms(ms, (50, 95))} counts={found}")
                ms = timed(lambda w=who: queue.my_work(db, w, now), args.repeat)
                print(f"size={n} my_work[{name}] {base.fmt_ms(ms, (50, 95))}")
            unit_name = s.scalar(select(User).where(User.id == o.official_id)).unit.name
            for label, word in (
                ("title", "共性问题42"),
                ("measures", "销号管理"),
                ("unit", unit_name),
                ("nowhere", "不存在的词"),
            ):
                q = TaskQuery(q=word)
                page = tasks.list_tasks(db, supervisor, q, now)
                ms = timed(lambda q=q: tasks.list_tasks(db, supervisor, q, now), args.repeat)
                total = f"{page.total}{'+' if page.more else ''}"
                print(f"size={n} search[{label}] {base.fmt_ms(ms, (50, 95))} total={total}")
        finally:
            db.dispose()
    base.host_line("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
