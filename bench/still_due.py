"""The hand-off's count of the units still due (app.services.sweep.StillDue), in a tick
with hand-off (app.jobs.tick(hand_on=...)) over N tasks, every one due: the time spent
keeping it, incremental (read once, then each batch's items taken off) against a full read
of everything still due after every batch (as units_still_due did before), alternately on
fresh copies of the same database (bench/sweep.py's build, every task due), in one run.

Run (from the project root; PostgreSQL at RECTIFY_TEST_PG, user postgres)
  .venv/bin/python bench/still_due.py 100000
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import sweep as b  # noqa: E402  (bench/sweep.py)

from app import create_app, jobs  # noqa: E402
from app.domain.reminders import Policy  # noqa: E402
from app.domain.workcalendar import WorkCalendar  # noqa: E402
from app.services import sweep as sw  # noqa: E402
from config import TestConfig  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
admin = os.environ.get("RECTIFY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
defaults = b.reminder_defaults()
policy, cal = Policy.from_dict(defaults), WorkCalendar()
now = b.pick_now(policy, cal)
mix, esc, future = b.make_profiles(now, policy, cal)
dbs = b.Databases(admin)
base = f"rectify_bench_still_due_{os.getpid()}"


class Timed(sw.StillDue):
    spent = 0.0
    calls = 0

    def after_batch(self, s, taken):
        t = time.perf_counter()
        r = super().after_batch(s, taken)
        Timed.spent += time.perf_counter() - t
        Timed.calls += 1
        return r


class FullRead(Timed):
    def after_batch(self, s, taken):
        self.counts = None  # read everything still due after every batch, as units_still_due did
        return super().after_batch(s, taken)


try:
    tpl = dbs.create(base)
    print(b.build(tpl, N, 1000, 10, mix, future, every=1), flush=True)
    for label, cls in (
        ("full_read_each_batch", FullRead),
        ("incremental", Timed),
        ("full_read_each_batch", FullRead),
        ("incremental", Timed),
    ):
        url = dbs.create(f"{base}_run", template=base)
        Timed.spent, Timed.calls = 0.0, 0
        jobs.StillDue = cls
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(TestConfig(url, Path(tmp)))
            rt = app.extensions["rectify"]
            with app.app_context():
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                rep = jobs.tick(rt, now, hand_on=lambda ids: None)
                wall = time.perf_counter() - t0
            rt.db.dispose()
        dbs.drop(f"{base}_run")
        print(
            f"{label}: due={N} batches={rep.sweep.batches} items={rep.sweep.items} still_due_calls={Timed.calls} "
            f"still_due_s={Timed.spent:.2f} tick_s={wall:.1f} share={Timed.spent / wall:.1%} "
            f"load_before={load:.2f} load_after={os.getloadavg()[0]:.2f}",
            flush=True,
        )
finally:
    dbs.drop_all()
