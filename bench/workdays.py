"""Calendar benchmark: what a working-day calendar change costs with N open tasks.

What it measures, on SQLite (a fresh database in a temporary directory, the demo loaded,
then one plan issued on Monday 2027-01-04 whose 「5个工作日内」 problems fan out to the
Sanmenxia counties until there are about N open tasks, all provisional)
  * reconcile     ``calendar.reconcile`` when nothing changed: what every tick pays.
  * set_override  an admin day off on 2027-01-06, inside every task's count: each
                  deadline moves one day and is written into its history.
  * official      ``calendar.set_official_year(2027)``: every open task counted again.

Run (from the project root)
  .venv/bin/python bench/workdays.py                 # N = 5,000
  .venv/bin/python bench/workdays.py --tasks 20000
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from app import create_app  # noqa: E402
from app.demo import SMX, load_demo  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import Task, Unit, User  # noqa: E402
from app.schemas import HolidayIn, PlanIn, ProblemIn  # noqa: E402
from app.services import calendar, plans  # noqa: E402
from config import TestConfig  # noqa: E402

NOW = datetime(2027, 1, 4, 1, 30, tzinfo=UTC)  # Monday 09:30 in China, a year no package covers yet


def timed(label: str, fn) -> object:
    start = time.perf_counter()
    result = fn()
    print(f"{label:<14} {1000 * (time.perf_counter() - start):9.1f} ms   {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    args = parser.parse_args()
    logging.getLogger("rectify.calendar").setLevel(logging.ERROR)  # the provisional-year warning, once is enough
    with tempfile.TemporaryDirectory(prefix="rectify-bench-calendar-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        app = create_app(TestConfig(url, Path(tmp) / "instance"), clock=lambda: NOW)
        with app.app_context():
            db = app.extensions["rectify"].db
            load_demo(db, NOW)
            s = db.session()
            deputy = s.scalar(select(User).where(User.username == "smx_deputy"))
            city = s.scalar(select(Unit).where(Unit.name == SMX))
            counties = s.scalar(select(func.count()).select_from(Unit).where(Unit.parent_id == city.id))
            plan = plans.create_plan(db, deputy, PlanIn(title="bench", issued_on=date(2027, 1, 4)))
            print(f"# setting up {args.tasks} tasks ({counties} counties per problem)", file=sys.stderr)
            for i in range(max(1, args.tasks // counties)):
                problem = ProblemIn(nature="common", title=f"p{i}", deadline="5个工作日内", all_units_under=city.id)
                plans.create_problem(db, deputy, plan.id, problem, NOW)
            n = s.scalar(select(func.count()).select_from(Task).where(Task.plan_id == plan.id))
            print(f"tasks          {n} open, provisional")
            timed("reconcile", lambda: f"{calendar.reconcile(db, NOW)} moved")
            day_off = HolidayIn(day=date(2027, 1, 6), is_workday=False, note="bench")
            timed("set_override", lambda: f"{calendar.set_override(db, day_off, NOW)} moved")
            timed("official", lambda: "{}, {} moved".format(*calendar.set_official_year(db, 2027, True, NOW)))
        app.extensions["rectify"].db.dispose()


if __name__ == "__main__":
    main()
