"""Sweep benchmark: app.services.sweep.sweep on PostgreSQL at 100,000 and 1,000,000 open tasks.

What it measures, per N (each figure from a fresh child process on a fresh copy of the
same database, so peak RSS is the sweep's own and no run sees another's rows)
  * sweep        wall time and peak RSS of ``sweep(db, now, defaults, channels)`` with 1 % of
                 the N tasks due at ``now`` (half reminders, half escalations to level 1-3),
                 every e-mail channel enabled ("inbox", "email", "robot").
  * floor        a raw psycopg ``executemany`` INSERT, in one transaction, of exactly the
                 notification rows the sweep wrote (the same values, copied from the sweep's
                 database): the least any implementation must spend to produce that
                 outbox. ``x_floor`` = sweep / floor (aim: <= 3).
  * floor_plus   the floor plus a raw UPDATE of each due task's schedule columns, for context.
  * escalation   the same database with every due task's next step an escalation (levels
                 1, 2, 3 by id): escalations per second of the sweep.
  * helpdesk     bench/helpdesk.sh (django-helpdesk ``escalate_tickets``; pip-installs into a
                 temporary directory) for --helpdesk N...; escalation rate ratio (aim: >= 100).

How the data looks
  One city (three supervisors) over --units counties, each with a head, a deputy and a
  handler (all with e-mail); --plans plans; N / units problems, each fanned out to every
  county, so N tasks, all open, deadline kind "date". ``now`` is the start of the latest
  working-day send window (09:01 China time). Due tasks (every 100th id) sit just before a
  step at ``now``; the rest have their next step weeks ahead. Rows are bulk-inserted with
  INSERT ... SELECT generate_series (setup, not timed), then VACUUM ANALYZE.

Run (from the project root; PostgreSQL at RECTIFY_TEST_PG or 127.0.0.1:5432, user postgres)
  .venv/bin/python bench/sweep.py                          # N = 100,000 and 1,000,000; helpdesk 1000 10000
  .venv/bin/python bench/sweep.py --tasks 100000 --no-helpdesk
  .venv/bin/python bench/sweep.py --tasks 100000 --profile --no-helpdesk   # + cProfile of the sweep

The databases (rectify_bench_sweep_<pid> and its copies) are dropped at exit, also on
error or Ctrl-C. Progress goes to stderr as "# ..." lines; figures go to stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import pstats
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgadmin import admin_sql, pg_url  # noqa: E402  (bench/ is on sys.path when run as a script)
from sqlalchemy import create_engine, text  # noqa: E402

DUE_EVERY = 100  # every 100th task is due: 1 %
FUTURE_VARIANTS = 60  # distinct far deadlines among the tasks not due
CHANNELS = ("inbox", "email", "robot")
NOTIFICATION_COLUMNS = (
    "key",
    "item_type",
    "item_id",
    "plan_id",
    "step",
    "kind",
    "level",
    "recipient_id",
    "unit_id",
    "channel",
    "status",
    "subject",
    "body",
    "data",
    "created_at",
    "next_attempt_at",
    "attempts",
    "lease_until",
    "claimed_by",
    "sent_at",
    "read_at",
    "last_error",
)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# ---- databases --------------------------------------------------------------------------


class Databases:
    """Every database this run creates, dropped (WITH FORCE) when the run ends however it ends."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.names: list[str] = []

    def create(self, name: str, template: str | None = None) -> str:
        admin_sql(self.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.names.append(name)
        admin_sql(self.admin_url, f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return pg_url(self.admin_url, name)

    def drop(self, name: str) -> None:
        admin_sql(self.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if name in self.names:
            self.names.remove(name)

    def drop_all(self) -> None:
        for name in reversed(list(self.names)):
            try:
                self.drop(name)
                log(f"dropped database {name}")
            except Exception as err:  # keep dropping the others
                log(f"could not drop {name}: {err}")


# ---- the schedule -----------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    """One kind of task: its deadline and where its schedule stands at ``now``."""

    name: str
    due_at: datetime
    active_since: datetime
    swept_until: datetime | None
    next_action_at: datetime
    level_before: int


def reminder_defaults() -> dict:
    from config import TestConfig

    with tempfile.TemporaryDirectory() as tmp:
        return TestConfig("postgresql://unused", Path(tmp)).REMINDER_DEFAULTS


def pick_now(policy, cal) -> datetime:
    """One minute into the latest working-day send window that has started."""
    from app.domain.deadlines import CHINA

    real = datetime.now(UTC)
    day = real.astimezone(CHINA).date()
    while True:
        start = datetime.combine(day, policy.window_start, tzinfo=CHINA).astimezone(UTC)
        if cal.is_workday(day) and start <= real:
            return start + timedelta(minutes=1)
        day -= timedelta(days=1)


def make_profiles(now: datetime, policy, cal) -> tuple[list[Profile], dict[str, Profile], list[Profile]]:
    """(the due profiles in the mix, the escalation profiles by name, the not-due profiles)."""
    from app.domain.deadlines import CHINA, end_of_day_utc
    from app.domain.reminders import Item, next_step_after, steps_between

    today = now.astimezone(CHINA).date()
    active_since = now - timedelta(days=60)
    before = now - timedelta(minutes=2)

    def due_with(want: str, days: range) -> Profile:
        for d in days:
            due_on = today + timedelta(days=d)
            item = Item("date", due_on, active_since)
            steps = steps_between(item, policy, cal, before, now)
            if steps and steps[-1].key == want:
                level = steps[-1].level - 1 if steps[-1].kind == "escalate" else 0
                return Profile(want, end_of_day_utc(due_on), active_since, before, steps[0].at, level)
        raise RuntimeError(f"no due date puts step {want!r} at {now.isoformat()}")

    remind = next(
        (
            p
            for want in ("remind:3d", "remind:1d", "remind:7d", "remind:day")
            for p in _try(due_with, want, range(0, 12))
        ),
        None,
    )
    if remind is None:
        raise RuntimeError(f"no due date puts a reminder at {now.isoformat()}")
    escalations = {f"escalate:{n}": due_with(f"escalate:{n}", range(-1, -40, -1)) for n in (1, 2, 3)}
    mix = [remind, remind, remind, *escalations.values()]  # half reminders, half escalations
    future = []
    for d in range(30, 30 + FUTURE_VARIANTS):
        due_on = today + timedelta(days=d)
        step = next_step_after(Item("date", due_on, now - timedelta(days=1)), policy, cal, now)
        future.append(Profile(f"future:{d}", end_of_day_utc(due_on), now - timedelta(days=1), now, step.at, 0))
    return mix, escalations, future


def _try(fn, *args) -> list:
    try:
        return [fn(*args)]
    except RuntimeError:
        return []


# ---- building the database (not timed) --------------------------------------------------
def build(url: str, n_tasks: int, n_units: int, n_plans: int, mix: list[Profile], future: list[Profile]) -> dict:
    from app.migrate import upgrade

    t0 = time.perf_counter()
    upgrade(url)
    engine = create_engine(url)
    created = datetime.now(UTC) - timedelta(days=60)
    try:
        with engine.begin() as conn:
            x = conn.execute
            city = x(
                text(
                    "INSERT INTO units (name, kind, parent_id, path, depth, created_at) "
                    "VALUES ('基准市住房和城乡建设局', '市级', NULL, '', 0, :c) RETURNING id"
                ),
                {"c": created},
            ).scalar_one()
            x(text("UPDATE units SET path = '/' || id || '/' WHERE id = :id"), {"id": city})
            x(
                text(
                    "INSERT INTO units (name, kind, parent_id, path, depth, created_at) "
                    "SELECT '基准县' || g || '住房和城乡建设局', '县级', :city, '/' || :city || '/', 1, :c "
                    "FROM generate_series(1, :n) g"
                ),
                {"city": city, "n": n_units, "c": created},
            )
            x(text("UPDATE units SET path = path || id || '/' WHERE depth = 1"))
            unit0 = x(text("SELECT min(id) FROM units WHERE depth = 1")).scalar_one()
            users = (
                "INSERT INTO users (username, password_hash, full_name, unit_id, role, position, email, active, "
                "created_at, notify_email, digest) "
                "SELECT 'u' || u.id || '_' || p.pos, 'x', u.name || p.pos, u.id, :role, p.pos, "
                "'u' || u.id || '.' || p.pos || '@bench.example.cn', true, :c, true, false "
                "FROM units u CROSS JOIN (VALUES ('head'), ('deputy'), ('handler')) p(pos) WHERE u.depth = :depth"
            )
            x(text(users), {"role": "supervisor", "c": created, "depth": 0})
            x(text(users), {"role": "official", "c": created, "depth": 1})
            plan0 = x(
                text(
                    "INSERT INTO plans (title, doc_number, issuing_unit_id, issued_on, evidence_required, created_at) "
                    "SELECT '基准整改方案' || g, '基建〔2026〕' || g || '号', :city, :issued, true, :c "
                    "FROM generate_series(1, :n) g RETURNING id"
                ),
                {"city": city, "issued": created.date(), "c": created, "n": n_plans},
            ).scalars()
            plan0 = min(plan0)
            n_problems = -(-n_tasks // n_units)
            x(
                text(
                    "INSERT INTO problems (plan_id, seq, category, nature, title, description, source, measures, "
                    "deadline_text, deadline_kind, due_at, remarks, created_at) "
                    "SELECT :plan0 + g % :plans, g / :plans + 1, '基准', 'common', '共性问题' || g, '', '', "
                    "'逐项排查，建立台账，销号管理。', '30日内', 'date', NULL, '', :c "
                    "FROM generate_series(0, :n - 1) g ORDER BY g"
                ),
                {"plan0": plan0, "plans": n_plans, "c": created, "n": n_problems},
            )
            problem0 = x(text("SELECT min(id) FROM problems")).scalar_one()
            x(
                text(
                    "CREATE TEMP TABLE bench_profiles (pidx int PRIMARY KEY, due_at timestamptz, "
                    "active_since timestamptz, swept_until timestamptz, next_action_at timestamptz, level int)"
                )
            )
            profiles = [*mix, *future]
            x(
                text("INSERT INTO bench_profiles VALUES (:i, :due_at, :active_since, :swept_until, :next_at, :level)"),
                [
                    {
                        "i": i,
                        "due_at": p.due_at,
                        "active_since": p.active_since,
                        "swept_until": p.swept_until,
                        "next_at": p.next_action_at,
                        "level": p.level_before,
                    }
                    for i, p in enumerate(profiles)
                ],
            )
            log(f"inserting {n_tasks} tasks")
            x(
                text(
                    "INSERT INTO tasks (problem_id, plan_id, unit_id, state, deadline_kind, due_at, version, "
                    "created_at, updated_at, active_since, swept_until, escalation_level, public_notice, "
                    "next_action_at) "
                    "SELECT :problem0 + g / :units, :plan0 + (g / :units) % :plans, :unit0 + g % :units, "
                    "CASE WHEN g % 2 = 0 THEN 'in_progress' ELSE 'identified' END, 'date', pr.due_at, 1, :c, :c, "
                    "pr.active_since, pr.swept_until, pr.level, pr.level = 3, pr.next_action_at "
                    "FROM generate_series(0, :n - 1) g JOIN bench_profiles pr ON pr.pidx = "
                    "CASE WHEN g % :every = 0 THEN (g / :every) % :nmix ELSE :nmix + g % :nfuture END "
                    "ORDER BY g"
                ),
                {
                    "problem0": problem0,
                    "units": n_units,
                    "plan0": plan0,
                    "plans": n_plans,
                    "unit0": unit0,
                    "c": created,
                    "n": n_tasks,
                    "every": DUE_EVERY,
                    "nmix": len(mix),
                    "nfuture": len(future),
                },
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        with engine.connect() as conn:
            facts = {
                "units": conn.execute(text("SELECT count(*) FROM units")).scalar_one(),
                "users": conn.execute(text("SELECT count(*) FROM users")).scalar_one(),
                "plans": n_plans,
                "problems": n_problems,
                "tasks": conn.execute(text("SELECT count(*) FROM tasks")).scalar_one(),
                "db_mb": conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() // 2**20,
            }
    finally:
        engine.dispose()
    facts["setup_s"] = round(time.perf_counter() - t0, 1)
    return facts


def due_facts(url: str, now: datetime) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "due": conn.execute(
                    text("SELECT count(*) FROM tasks WHERE next_action_at <= :n"), {"n": now}
                ).scalar_one()
            }
    finally:
        engine.dispose()


def make_all_due_escalations(url: str, now: datetime, escalations: dict[str, Profile]) -> int:
    """In this copy, every due task's next step becomes an escalation (level 1, 2, 3 by id)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            total = 0
            for i, p in enumerate(escalations.values()):
                total += conn.execute(
                    text(
                        "UPDATE tasks SET due_at = :due_at, active_since = :active_since, swept_until = :swept_until, "
                        "next_action_at = :next_at, escalation_level = :level, public_notice = false "
                        "WHERE next_action_at <= :now AND id % 3 = :i"
                    ),
                    {
                        "due_at": p.due_at,
                        "active_since": p.active_since,
                        "swept_until": p.swept_until,
                        "next_at": p.next_action_at,
                        "level": p.level_before,
                        "now": now,
                        "i": i,
                    },
                ).rowcount
        return total
    finally:
        engine.dispose()


# ---- the children (one measurement each) ------------------------------------------------
def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_sweep(url: str, now: datetime, rows_out: str | None, profile_out: str | None) -> dict:
    from app.db import Database
    from app.services.sweep import sweep

    defaults = reminder_defaults()
    db = Database(url)
    db.session().execute(text("SELECT 1"))  # connect outside the timed part
    db.session().commit()
    rss_before = maxrss_mb()
    profiler = None
    if profile_out:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    report = sweep(db, now, defaults, frozenset(CHANNELS))
    wall = time.perf_counter() - t0
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_out)
    rss_peak = maxrss_mb()
    s = db.session()
    by = s.execute(text("SELECT channel, status, count(*) FROM notifications GROUP BY 1, 2 ORDER BY 1, 2")).all()
    events = s.execute(text("SELECT count(*) FROM task_events WHERE kind = 'escalation'")).scalar_one()
    still_due = s.execute(text("SELECT count(*) FROM tasks WHERE next_action_at <= :n"), {"n": now}).scalar_one()
    if rows_out:
        cols = ", ".join(NOTIFICATION_COLUMNS)
        rows = [tuple(r) for r in s.execute(text(f"SELECT {cols} FROM notifications ORDER BY id")).all()]
        with open(rows_out, "wb") as f:
            pickle.dump(rows, f)
    s.rollback()
    db.dispose()
    return {
        "wall_s": wall,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
        "items": report.items,
        "notifications": report.notifications,
        "escalations": report.escalations,
        "folded": report.folded,
        "batches": report.batches,
        "escalation_events": events,
        "still_due": still_due,
        "rows": {f"{c}/{st}": n for c, st, n in by},
    }


def child_floor(url: str, rows_in: str, task_updates: bool, now: datetime) -> dict:
    """A raw INSERT of the sweep's rows (and optionally a raw UPDATE of the due tasks)."""
    import psycopg

    with open(rows_in, "rb") as f:
        rows = pickle.load(f)
    data_at = NOTIFICATION_COLUMNS.index("data")
    rows = [(*r[:data_at], json.dumps(r[data_at], ensure_ascii=False), *r[data_at + 1 :]) for r in rows]
    cols = ", ".join(NOTIFICATION_COLUMNS)
    marks = ", ".join("%s::json" if c == "data" else "%s" for c in NOTIFICATION_COLUMNS)
    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    due_ids = []
    if task_updates:
        due_ids = [r[0] for r in conn.execute("SELECT id FROM tasks WHERE next_action_at <= %s", (now,))]
        conn.commit()
    rss_before = maxrss_mb()
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO notifications ({cols}) VALUES ({marks})", rows)
        if task_updates:
            later = now + timedelta(days=2)
            cur.executemany(
                "UPDATE tasks SET swept_until = %s, next_action_at = %s, escalation_level = escalation_level "
                "WHERE id = %s",
                [(now, later, i) for i in due_ids],
            )
    conn.commit()
    wall = time.perf_counter() - t0
    conn.close()
    return {"wall_s": wall, "rows": len(rows), "tasks_updated": len(due_ids), "rss_before_mb": rss_before}


def run_child(args: list[str]) -> dict:
    """This script as a fresh process; its last stdout line is the JSON result."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- helpdesk ---------------------------------------------------------------------------
def run_helpdesk(ns: list[int]) -> dict[int, dict[str, str]]:
    script = ROOT / "bench" / "helpdesk.sh"
    log(f"running {script.relative_to(ROOT)} {' '.join(map(str, ns))} (pip install + ~100 tickets/s)")
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(script), *map(str, ns)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"helpdesk failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return {}
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("helpdesk escalate "):
            print(line)
            fields = dict(re.findall(r"(\w+)=(\S+)", line))
            out[int(fields["N"])] = fields
    log(f"helpdesk took {time.perf_counter() - t0:.0f} s")
    return out


# ---- main -------------------------------------------------------------------------------
def print_profile(path: str, n: int) -> None:
    for order in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(path, stream=buf).strip_dirs().sort_stats(order).print_stats(25)
        print(f"profile N={n} sorted by {order}:")
        for line in buf.getvalue().splitlines():
            if line.strip() and not line.startswith(("   Ordered", "   List")):
                print("  " + line)


def bench_n(dbs: Databases, base: str, n: int, args, now: datetime, mix, escalations, future) -> dict:
    url = dbs.create(base)
    log(f"N={n}: building {base}")
    facts = build(url, n, args.units, args.plans, mix, future)
    facts |= due_facts(url, now)
    print(
        f"setup N={n} units={facts['units']} users={facts['users']} problems={facts['problems']} "
        f"tasks={facts['tasks']} due={facts['due']} db_mb={facts['db_mb']} setup_s={facts['setup_s']}"
    )
    results: dict = {"n": n, "due": facts["due"]}
    with tempfile.TemporaryDirectory(prefix="rectify_bench_sweep_") as tmp:
        rows_file = str(Path(tmp) / "rows.pickle")
        copy = dbs.create(f"{base}_sweep", template=base)
        log(f"N={n}: sweep")
        sw = run_child(["sweep", copy, now.isoformat(), rows_file, ""])
        dbs.drop(f"{base}_sweep")
        print(
            f"sweep N={n} due={facts['due']} wall_s={sw['wall_s']:.3f} items={sw['items']} batches={sw['batches']} "
            f"notifications={sw['notifications']} escalations={sw['escalations']} folded={sw['folded']} "
            f"items_per_s={sw['items'] / sw['wall_s']:.0f} rows_per_s={sw['notifications'] / sw['wall_s']:.0f} "
            f"rss_before_mb={sw['rss_before_mb']:.0f} rss_peak_mb={sw['rss_peak_mb']:.0f} "
            f"still_due={sw['still_due']}"
        )
        print(f"  rows {' '.join(f'{k}={v}' for k, v in sw['rows'].items())}")
        for label, updates in (("floor", False), ("floor_plus", True)):
            copy = dbs.create(f"{base}_{label}", template=base)
            log(f"N={n}: {label}")
            fl = run_child(["floor", copy, now.isoformat(), rows_file, "1" if updates else "0"])
            dbs.drop(f"{base}_{label}")
            results[label] = fl
            what = "raw INSERT" + (f" + raw UPDATE of {fl['tasks_updated']} tasks" if updates else "")
            print(
                f"{label} N={n} rows={fl['rows']} wall_s={fl['wall_s']:.3f} ({what}, psycopg executemany, "
                f"one transaction) x_{label}={sw['wall_s'] / fl['wall_s']:.2f}"
                + (" (aim: <= 3)" if label == "floor" else "")
            )
        copy = dbs.create(f"{base}_esc", template=base)
        changed = make_all_due_escalations(copy, now, escalations)
        log(f"N={n}: escalation sweep over {changed} due tasks")
        es = run_child(["sweep", copy, now.isoformat(), "", ""])
        dbs.drop(f"{base}_esc")
        rate = es["escalations"] / es["wall_s"]
        print(
            f"escalation N={n} due={changed} wall_s={es['wall_s']:.3f} escalations={es['escalations']} "
            f"events={es['escalation_events']} notifications={es['notifications']} escalations_per_s={rate:.0f} "
            f"rss_peak_mb={es['rss_peak_mb']:.0f}"
        )
        if args.profile:
            copy = dbs.create(f"{base}_prof", template=base)
            prof = str(Path(tmp) / "sweep.prof")
            log(f"N={n}: profiled sweep")
            pr = run_child(["sweep", copy, now.isoformat(), "", prof])
            dbs.drop(f"{base}_prof")
            print(f"profiled sweep N={n} wall_s={pr['wall_s']:.3f} (under cProfile)")
            print_profile(prof, n)
    dbs.drop(base)
    results |= {"sweep": sw, "escalation": es, "escalations_per_s": rate}
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the reminder/escalation sweep on PostgreSQL against a raw-INSERT floor "
        "and django-helpdesk's escalate_tickets.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--tasks", type=int, nargs="+", default=[100_000, 1_000_000], help="N open tasks per run")
    p.add_argument("--units", type=int, default=1000, help="counties (three users with e-mail each)")
    p.add_argument("--plans", type=int, default=10, help="plans the problems are spread over")
    p.add_argument("--helpdesk", type=int, nargs="+", default=[1000, 10000], help="N for bench/helpdesk.sh")
    p.add_argument("--no-helpdesk", action="store_true", help="skip the django-helpdesk comparison")
    p.add_argument("--profile", action="store_true", help="also run the sweep under cProfile and print the top")
    p.add_argument(
        "--pg-admin-url",
        default=os.environ.get("RECTIFY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a database on the server to connect to for CREATE/DROP DATABASE",
    )
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.child and (min(args.tasks) < DUE_EVERY or args.units < 1 or args.plans < 1):
        p.error(f"--tasks must be >= {DUE_EVERY}; --units and --plans positive")
    return args


def child_main(argv: list[str]) -> int:
    kind, url, now_text, *rest = argv
    now = datetime.fromisoformat(now_text)
    if kind == "sweep":
        rows_out, profile_out = rest
        result = child_sweep(url, now, rows_out or None, profile_out or None)
    else:
        rows_in, updates = rest
        result = child_floor(url, rows_in, updates == "1", now)
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from app.domain.reminders import Policy
    from app.domain.workcalendar import WorkCalendar

    defaults = reminder_defaults()
    policy, cal = Policy.from_dict(defaults), WorkCalendar()
    now = pick_now(policy, cal)
    mix, escalations, future = make_profiles(now, policy, cal)
    load1, load5, _ = os.getloadavg()
    print(f"host cpus={os.cpu_count()} loadavg_1m={load1:.2f} loadavg_5m={load5:.2f} python={sys.version.split()[0]}")
    print(
        f"now={now.isoformat()} due profiles: {', '.join(f'{p.name}@due {p.due_at.date()}' for p in mix)}; "
        f"channels={','.join(CHANNELS)}"
    )
    dbs = Databases(args.pg_admin_url)
    results = []
    try:
        for n in args.tasks:
            results.append(bench_n(dbs, f"rectify_bench_sweep_{os.getpid()}", n, args, now, mix, escalations, future))
    finally:
        dbs.drop_all()
    if args.no_helpdesk:
        return 0
    helpdesk = run_helpdesk(args.helpdesk)
    for hn, fields in sorted(helpdesk.items()):
        hd_rate = float(fields["tickets_per_s"])
        for r in results:
            ratio = r["escalations_per_s"] / hd_rate if hd_rate else float("inf")
            print(
                f"ratio escalations_per_s rectify(N={r['n']}, {r['escalation']['escalations']} escalations)="
                f"{r['escalations_per_s']:.0f} / helpdesk(N={hn})={hd_rate:.0f} = {ratio:.0f}x (aim: >= 100x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
