"""Sweep benchmark: app.services.sweep.sweep on PostgreSQL beside its honest floor, and
escalation with delivery through real SMTP beside django-helpdesk, measured in the same run.

What it measures, per N (each figure from a fresh child process on a fresh copy of the
same database, so peak RSS is the child's own and no run sees another's rows)
  * sweep        wall time and peak RSS of ``sweep(db, now, defaults, channels)`` with 1 % of
                 the N tasks due at ``now``: "mix" = half reminders, half escalations to level
                 1-3; "escalation" = every due task's next step an escalation (levels 1, 2, 3
                 by id). Every channel enabled ("inbox", "email", "robot"). The child first
                 sweeps at a time nothing is due, as a long-running scheduler has (mappers
                 configured, statements compiled).
  * floor        the same transactions with nothing but their database work, on a copy of
                 the same database (same tables, indexes, constraints and triggers): batch
                 by batch (the sweep's batch size, one transaction each) the same locked read
                 (SELECT … FOR UPDATE SKIP LOCKED of the due tasks, the same columns), COPY of
                 the history rows the sweep wrote for them, COPY of their outbox rows, one
                 UPDATE … FROM unnest of their schedule columns; then COPY of the 通报 list
                 rows. The values are the sweep's own, computed beforehand (psycopg 3,
                 cursor.copy). ``sweep/floor`` (aim: <= 2), with the floor's parts.
  * e2e          --e2e overdue tasks (all escalating), their mail to an aiosmtpd server in this
                 process, for two spreads of the items over the people: "campaign" (the N
                 tasks over --e2e-units counties, levels 1-3 by id: each county's people have
                 many items, which reach each of them as one 督办 notice) and
                 "one_item_per_recipient" (N counties, one task each: each person has that
                 one item, nothing to fold); levels 1-3 by id in both. Printed
                 beside each figure: recipients and items per recipient. escalated-and-
                 delivered per second counts items whose every escalation mail (its own, or
                 the notice listing it) the SMTP server accepted, (1) in one process as the
                 embedded scheduler runs it (app.jobs.tick, then app.jobs.deliver_due until no
                 e-mail is left) and (2) in the distributed mode (rectify.tick sent to a real
                 Celery worker, --concurrency, Redis --redis), timed until no e-mail row is
                 pending or sending. Then bench/helpdesk.sh (django-helpdesk
                 ``escalate_tickets``, one mail per ticket, Django's SMTP backend via
                 BENCH_EMAIL_BACKEND, to the same server; it pip-installs into a temporary
                 directory) for the same N; ratio (aim: >= 5).
                 Beside each layout (before and after its two runs, and before helpdesk) the
                 SMTP floor: bench/delivery.py's smtp_floor, two smtplib clients sending prebuilt
                 messages to the same server, no database (--floor-mails). Printed per layout:
                 rows and SMTP messages per escalated item (a mail to several of a unit's
                 people is one message, a row each), the transport ceiling (floor / messages
                 per item: the most items a second this server takes whatever runs before
                 it), each rate as a
                 fraction of it and the ceiling as a multiple of helpdesk (one mail per ticket,
                 so its ceiling is the floor itself); per run, when the first mail arrived
                 (first_mail_s: the sweep and the hand-off before delivery) and the delivery's
                 own rate in messages between the first and the last mail, against the floor.

How the data looks
  One city (three supervisors) over --units counties, each with a head, a deputy and a
  handler (all with e-mail); --plans plans; N / units problems, each fanned out to every
  county, so N tasks, all open, deadline kind "date". ``now`` is the start of the latest
  working-day send window (09:01 China time). Due tasks (every 100th id) sit just before a
  step at ``now``; the rest have their next step weeks ahead. Rows are bulk-inserted with
  INSERT ... SELECT generate_series (setup, not timed), then VACUUM ANALYZE.

Run (from the project root; PostgreSQL at RECTIFY_TEST_PG or 127.0.0.1:5432, user postgres)
  .venv/bin/python bench/sweep.py                                  # N = 100,000; e2e 500 beside helpdesk (make bench)
  .venv/bin/python bench/sweep.py --tasks 100000 1000000 --repeat 3 --e2e 0
  .venv/bin/python bench/sweep.py --tasks --e2e 1000                # the end-to-end comparison alone
  .venv/bin/python bench/sweep.py --tasks 100000 --profile --e2e 0  # + cProfile of the sweep

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
from sqlalchemy.orm import configure_mappers  # noqa: E402

DUE_EVERY = 100  # every 100th task is due: 1 %
FUTURE_VARIANTS = 60  # distinct far deadlines among the tasks not due
CHANNELS = ("inbox", "email", "robot")


def _columns(table: str) -> tuple[str, ...]:
    from app.models import Notification, TaskEvent

    model = {"notifications": Notification, "task_events": TaskEvent}[table]
    return tuple(c.name for c in model.__table__.columns if c.name != "id")


NOTIFICATION_COLUMNS = _columns("notifications")


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
def build(
    url: str,
    n_tasks: int,
    n_units: int,
    n_plans: int,
    mix: list[Profile],
    future: list[Profile],
    every: int = DUE_EVERY,
) -> dict:
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
                    "every": every,
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


EVENT_COLUMNS = _columns("task_events")
SCHEDULE_COLUMNS = ("id", "swept_until", "next_action_at", "escalation_level", "public_notice")
# what the sweep's locked read fetches (app.services.sweep._COLUMNS["task"]); the floor reads the same
LOCKED_READ = (
    "SELECT id, plan_id, unit_id, problem_id, owner_id, state, deadline_kind, due_at, active_since, swept_until, "
    "escalation_level, public_notice FROM tasks WHERE next_action_at <= %s ORDER BY next_action_at, id "
    "LIMIT %s FOR UPDATE SKIP LOCKED"
)


def child_sweep(url: str, now: datetime, rows_out: str | None, profile_out: str | None) -> dict:
    from app.db import Database
    from app.services.sweep import sweep

    defaults = reminder_defaults()
    db = Database(url)
    s = db.session()
    due_ids = list(s.scalars(text("SELECT id FROM tasks WHERE next_action_at <= :n"), {"n": now}))
    s.commit()  # connected, and the due ids known, outside the timed part
    # A scheduler process sweeps every few minutes with its mappers configured and its
    # statements compiled; so does this one before the timed sweep (nothing is due a day earlier).
    configure_mappers()
    sweep(db, now - timedelta(days=1), defaults, frozenset(CHANNELS))
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
    if rows_out:  # everything the sweep wrote, for the floor to write again on a fresh copy
        dump = {
            "notifications": _raw_rows(s, NOTIFICATION_COLUMNS, "notifications"),
            "events": _raw_rows(s, EVENT_COLUMNS, "task_events"),
            "tasks": [
                tuple(r)
                for chunk in (due_ids[i : i + 10000] for i in range(0, len(due_ids), 10000))
                for r in s.execute(
                    text(f"SELECT {', '.join(SCHEDULE_COLUMNS)} FROM tasks WHERE id = ANY(:ids)"), {"ids": chunk}
                )
            ],
        }
        with open(rows_out, "wb") as f:
            pickle.dump(dump, f)
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


def _raw_rows(s, columns: tuple[str, ...], table: str) -> list[tuple]:
    """Rows as the driver gives them, JSON as its text, so the floor copies values, not objects."""
    cols = ", ".join("data::text" if c == "data" else c for c in columns)
    return [tuple(r) for r in s.execute(text(f"SELECT {cols} FROM {table} ORDER BY id"))]


def child_floor(url: str, rows_in: str, now: datetime, batch_size: int) -> dict:
    """The honest floor: the sweep's transactions with nothing but their database work.

    Batch by batch (the sweep's batch size, one transaction each): the same locked read
    (SELECT … FOR UPDATE SKIP LOCKED of the due tasks, the same columns), the history
    rows the sweep wrote for those tasks (COPY), their outbox rows (COPY), and their
    schedule columns (one UPDATE … FROM unnest); then the 通报 list rows (COPY). Same
    tables, indexes, constraints and triggers (a copy of the same database); the values
    are the sweep's own, computed beforehand, so nothing is timed but the writing.
    """
    import psycopg

    with open(rows_in, "rb") as f:
        dump = pickle.load(f)
    events_by: dict[int, list] = {}
    for r in dump["events"]:
        events_by.setdefault(r[0], []).append(r)
    item_at = NOTIFICATION_COLUMNS.index("item_id")
    type_at = NOTIFICATION_COLUMNS.index("item_type")
    outbox_by: dict[int, list] = {}
    others = []
    for r in dump["notifications"]:
        (outbox_by.setdefault(r[item_at], []) if r[type_at] == "task" else others).append(r)
    schedule = {r[0]: r for r in dump["tasks"]}
    copy_events = f"COPY task_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
    copy_outbox = f"COPY notifications ({', '.join(NOTIFICATION_COLUMNS)}) FROM STDIN"
    update = (
        "UPDATE tasks AS t SET swept_until = v.s, next_action_at = v.n, escalation_level = v.l, public_notice = v.p "
        "FROM unnest(%s::integer[], %s::timestamptz[], %s::timestamptz[], %s::integer[], %s::boolean[]) "
        "AS v(id, s, n, l, p) WHERE t.id = v.id"
    )
    parts = dict.fromkeys(("read", "history", "outbox", "update"), 0.0)
    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    conn.execute("SELECT 1")
    conn.commit()
    rss_before = maxrss_mb()
    written = {"events": 0, "notifications": 0, "tasks": 0, "batches": 0}

    def copy(cur, sql: str, rows: list) -> None:
        with cur.copy(sql) as cp:
            for r in rows:
                cp.write_row(r)

    t0 = time.perf_counter()
    while True:
        with conn.transaction(), conn.cursor() as cur:
            t = time.perf_counter()
            ids = [r[0] for r in cur.execute(LOCKED_READ, (now, batch_size)).fetchall()]
            parts["read"] += time.perf_counter() - t
            if not ids:
                break
            t = time.perf_counter()
            rows = [r for i in ids for r in events_by.get(i, ())]
            copy(cur, copy_events, rows)
            written["events"] += len(rows)
            parts["history"] += time.perf_counter() - t
            t = time.perf_counter()
            rows = [r for i in ids for r in outbox_by.get(i, ())]
            copy(cur, copy_outbox, rows)
            written["notifications"] += len(rows)
            parts["outbox"] += time.perf_counter() - t
            t = time.perf_counter()
            cols = list(zip(*(schedule[i] for i in ids), strict=True))
            cur.execute(update, [list(c) for c in cols])
            written["tasks"] += len(ids)
            parts["update"] += time.perf_counter() - t
            written["batches"] += 1
        if len(ids) < batch_size:
            break
    with conn.transaction(), conn.cursor() as cur:
        t = time.perf_counter()
        copy(cur, copy_outbox, others)
        written["notifications"] += len(others)
        parts["outbox"] += time.perf_counter() - t
    wall = time.perf_counter() - t0
    conn.close()
    return {"wall_s": wall, "rss_before_mb": rss_before, "rss_peak_mb": maxrss_mb(), "parts": parts, **written}


def run_child(args: list[str]) -> dict:
    """This script as a fresh process; its last stdout line is the JSON result."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- end to end: escalated and delivered through real SMTP, beside django-helpdesk ------
# An item counts as escalated and delivered once every e-mail of its escalation was accepted
# by the SMTP server: its own row sent, or folded into a 督办 notice that was sent.
DELIVERED_ITEMS = text(
    "WITH noticed AS (SELECT CAST(json_array_elements_text(data -> 'rows') AS integer) AS id "
    "FROM notifications WHERE kind = 'escalation_notice' AND status = 'sent'), "
    "mail AS (SELECT item_id, status = 'sent' OR id IN (SELECT id FROM noticed) AS accepted FROM notifications "
    "WHERE channel = 'email' AND kind = 'escalate' AND item_type = 'task') "
    "SELECT count(*) FROM (SELECT item_id FROM mail GROUP BY item_id HAVING bool_and(accepted)) d"
)
# how the items were spread: recipients of escalation e-mails, and items per recipient
SPREAD = text(
    "SELECT count(*), coalesce(max(n), 0), coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY n), 0) FROM "
    "(SELECT count(*) AS n FROM notifications WHERE channel = 'email' AND kind = 'escalate' "
    "AND item_type = 'task' GROUP BY recipient_id) r"
)
UNSENT = text("SELECT count(*) FROM notifications WHERE channel = 'email' AND status IN ('pending', 'sending')")


def e2e_outcome(conn) -> dict:
    recipients, most, median = conn.execute(SPREAD).one()
    emails = conn.execute(
        text("SELECT count(*) FROM notifications WHERE channel = 'email' AND status = 'sent'")
    ).scalar_one()
    return {
        "delivered_items": conn.execute(DELIVERED_ITEMS).scalar_one(),
        "emails_sent": emails,
        "recipients": recipients,
        "items_per_recipient_max": most,
        "items_per_recipient_median": median,
    }


def child_e2e(url: str, now: datetime, smtp_port: int) -> dict:
    """The tick (the sweep and what follows it: 督办 notices, digests, robot summaries), then
    delivery (app.jobs.deliver_due in this process, 500 rows a claim, as the embedded
    scheduler runs it) until no e-mail is left, to the parent's SMTP server."""
    from tests.integration.celery_fixtures import SENDER

    os.environ.update(RECTIFY_SMTP_HOST="127.0.0.1", RECTIFY_SMTP_PORT=str(smtp_port), RECTIFY_SMTP_SENDER=SENDER)
    from app import create_app, jobs
    from config import TestConfig

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(TestConfig(url, Path(tmp)))
        rt = app.extensions["rectify"]
        with app.app_context():
            rt.db.session().execute(text("SELECT 1"))
            rt.db.session().commit()
            ticked, inner = [], jobs.tick

            def timed_tick(*a, **kw):  # when the tick returned (delivery goes on beside it)
                r = inner(*a, **kw)
                ticked.append(time.perf_counter())
                return r

            jobs.tick = timed_tick
            started = time.monotonic()  # CLOCK_MONOTONIC, the same clock as the parent's SMTP recorder
            t0, cpu0 = time.perf_counter(), time.process_time()
            tick, _ = jobs.tick_and_deliver(rt, now)  # as app.scheduler.run_once: delivery starts on batch 1
            report = tick.sweep
            t_sweep = ticked[0] - t0
            while jobs.deliver_due(rt, limit=500).claimed:  # nothing, unless a row was left behind
                pass
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            with rt.db.engine.connect() as conn:
                outcome = e2e_outcome(conn) | {"left": conn.execute(UNSENT).scalar_one()}
        rt.db.dispose()
    return outcome | {
        "wall_s": wall,
        "cpu_s": cpu,
        "started": started,
        "sweep_s": t_sweep,
        "escalations": report.escalations,
        "items": report.items,
        "rss_peak_mb": maxrss_mb(),
    }


def run_helpdesk(ns: list[int], smtp_port: int) -> dict[int, dict[str, str]]:
    """bench/helpdesk.sh on Django's SMTP backend, to the same server."""
    script = ROOT / "bench" / "helpdesk.sh"
    log(f"running {script.relative_to(ROOT)} {' '.join(map(str, ns))} (pip install + ~100 tickets/s)")
    env = os.environ | {
        "BENCH_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "BENCH_EMAIL_HOST": "127.0.0.1",
        "BENCH_EMAIL_PORT": str(smtp_port),
        "QN": os.environ.get("QN", "50"),
    }
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(script), *map(str, ns)], capture_output=True, text=True, check=False, env=env)
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


def e2e_celery(url: str, now: datetime, mail, args) -> dict | None:
    """The distributed mode: ``rectify.tick`` (the sweep at ``now``) sent to a real Celery
    worker (prefork, --concurrency), which enqueues ``rectify.deliver`` chunks as it does in
    production; timed from the send until no e-mail row is left pending or sending."""
    from tests.integration.celery_fixtures import Worker, celery_client, redis_client, wait_for, worker_env

    redis, why = redis_client(args.redis)
    if redis is None:
        print(f"e2e celery skipped: Redis is not reachable ({why})")
        return None
    redis.flushdb()
    engine = create_engine(url)
    counts = text(
        "SELECT count(*) FILTER (WHERE channel = 'email'), "
        "count(*) FILTER (WHERE channel = 'email' AND status IN ('pending', 'sending')) FROM notifications"
    )

    def all_sent() -> bool:
        with engine.connect() as conn:
            emails, unsent = conn.execute(counts).one()
        return emails > 0 and unsent == 0

    worker = None
    try:
        with tempfile.TemporaryDirectory(prefix="rectify_bench_e2e_") as tmp:
            env = worker_env(url, mail.port, Path(tmp) / "instance", args.redis)
            worker = Worker(env, Path(tmp) / "worker.log", "e2e", concurrency=args.concurrency).wait_ready(120)
            client = celery_client(args.redis)
            before, messages_before = mail.recorder.total, mail.recorder.messages
            mail.recorder.first_at = None
            started = time.monotonic()
            t0 = time.perf_counter()
            client.send_task("rectify.tick", args=[now.isoformat()])
            wait_for(all_sent, 1800, "every e-mail sent", interval=0.05)
            wall = time.perf_counter() - t0
            client.close()
        with engine.connect() as conn:
            escalations = conn.execute(text("SELECT count(*) FROM task_events WHERE kind = 'escalation'")).scalar_one()
            outcome = e2e_outcome(conn)
        return outcome | {
            "wall_s": wall,
            "escalations": escalations,
            "received": mail.recorder.total - before,
            "messages": mail.recorder.messages - messages_before,
            **mail_span(mail.recorder, started),
        }
    finally:
        if worker is not None:
            worker.kill()
        engine.dispose()
        redis.flushdb()


def mail_span(recorder, started: float) -> dict:
    """When the first and the last mail of a run reached the SMTP server, in seconds from
    ``started`` (time.monotonic, in whichever process): the first is the sweep and the hand-off
    before delivery starts, the span between them the delivery itself."""
    first, last = recorder.first_at, recorder.last_at
    if first is None or last is None:
        return {"first_mail_s": float("nan"), "span_s": float("nan")}
    return {"first_mail_s": first - started, "span_s": last - first}


def measure_floor(mail, n: int) -> float:
    """bench/delivery.py's smtp_floor on this run's server: two smtplib clients, prebuilt
    messages, no database, timed from when both are connected (mails per second)."""
    from delivery import smtp_floor  # bench/ is on sys.path; imported here: it imports the app

    log(f"smtp floor: {n} mails from 2 smtplib clients")
    return smtp_floor(mail.port, mail.recorder, n, 2)[0]


def e2e_line(label: str, how: str, r: dict, changed: int, floor: float, extra: str) -> tuple[float, float]:
    """The figure's line; returns (items/s, SMTP messages per item: a mail to several of a
    unit's people is one message, which is what the server's rate is counted in)."""
    rate = r["delivered_items"] / r["wall_s"]
    per_item = r["messages"] / max(r["delivered_items"], 1)
    span = r["span_s"]
    in_span = r["messages"] / span if span and span == span and span > 0 else float("nan")
    print(
        f"e2e rectify {label} {how} overdue={changed} escalations={r['escalations']} "
        f"delivered_items={r['delivered_items']} emails_sent={r['emails_sent']} smtp_received={r['received']} "
        f"smtp_messages={r['messages']} (a mail to several of a unit's people is one, a row each) "
        f"{r.get('spread', 'wall_s=')}{r['wall_s']:.2f} escalated_and_delivered_per_s={rate:.0f} "
        f"rows_per_item={r['emails_sent'] / max(r['delivered_items'], 1):.2f} messages_per_item={per_item:.2f} "
        f"mails_per_s={r['received'] / r['wall_s']:.0f} "
        f"first_mail_s={r['first_mail_s']:.2f} delivery_span_s={span:.2f} messages_per_s_in_span={in_span:.0f} "
        f"({in_span / floor:.2f} of the floor) {extra}"
    )
    return rate, per_item


def end_to_end(dbs: Databases, base: str, n: int, args, now: datetime, mix, escalations, future) -> None:
    """N overdue tasks escalated and their mail delivered, beside helpdesk escalating N tickets,
    for two spreads of the items over the people: a campaign's (--e2e-units counties, so each
    county's people have many items each) and the worst case (N counties, one task each, so
    each person has one item); levels 1-3 by id in both.

    Beside each layout's runs, the SMTP floor (smtplib alone, bench/delivery.py) before and
    after them: the transport ceiling of a layout is floor / mails per escalated item, the
    most items a second this server can take whatever the code before it does."""
    from tests.integration.celery_fixtures import start_mail_server

    mail = start_mail_server()
    try:
        layouts = (
            (f"campaign units={min(args.e2e_units, n)} levels=1-3", min(args.e2e_units, n), make_all_due_escalations),
            ("one_item_per_recipient units=N levels=1-3", n, make_all_due_escalations),
        )
        rates, ceilings = {}, {}
        for label, units, prepare in layouts:
            template = f"{base}_e2e"
            url = dbs.create(template)
            log(f"end to end ({label}): building {n} overdue tasks")
            build(url, n, units, 1, mix, future, every=1)
            changed = prepare(url, now, escalations)
            floors = [measure_floor(mail, args.floor_mails)]
            before, messages_before = mail.recorder.total, mail.recorder.messages
            mail.recorder.first_at = None
            copy = dbs.create(f"{base}_e2e_run", template=template)
            r = run_child(["e2e", copy, now.isoformat(), str(mail.port)])
            dbs.drop(f"{base}_e2e_run")
            r |= {"received": mail.recorder.total - before, "messages": mail.recorder.messages - messages_before}
            r |= mail_span(mail.recorder, r["started"])
            r["spread"] = (
                f"recipients={r['recipients']} items_per_recipient max={r['items_per_recipient_max']} "
                f"median={r['items_per_recipient_median']} left={r['left']} tick_s={r['sweep_s']:.2f} "
                f"process_cpu_s={r['cpu_s']:.2f} (its threads' CPU: steadier than the wall on a shared host) wall_s="
            )
            runs = {"one_process": r}
            copy = dbs.create(f"{base}_e2e_run", template=template)
            c = e2e_celery(copy, now, mail, args)
            dbs.drop(f"{base}_e2e_run")
            if c:
                runs["celery"] = c
            floors.append(measure_floor(mail, args.floor_mails))
            floor = sum(floors) / len(floors)
            per_items = []
            for how, run in runs.items():
                extra = (
                    f"rss_peak_mb={run['rss_peak_mb']:.0f} (app.jobs.tick + deliver_due in one process, as embedded)"
                    if how == "one_process"
                    else f"(rectify.tick to a Celery worker, prefork concurrency={args.concurrency}, deliver chunks of "
                    "100 as in production)"
                )
                rates[f"{label} {how}"], per_item = e2e_line(label, how, run, changed, floor, extra)
                per_items.append(per_item)
            per_item = max(per_items)  # the same rows either way; a notice folds a few less if a row went alone
            ceiling = floor / per_item
            ceilings[label] = (ceiling, per_item)
            print(
                f"e2e floor {label} smtp_floor_mails_per_s={floor:.0f} (before {floors[0]:.0f}, after {floors[1]:.0f}; "
                f"smtplib alone, 2 clients, {args.floor_mails} mails, bench/delivery.py smtp_floor) "
                f"messages_per_item={per_item:.2f} transport_ceiling_items_per_s={ceiling:.0f} "
                "(floor / messages per item)"
            )
            for how in runs:
                rate = rates[f"{label} {how}"]
                print(f"e2e ceiling {label} {how}={rate:.0f} items/s = {rate / ceiling:.2f} of the transport ceiling")
            dbs.drop(template)
        if args.no_helpdesk:
            return
        hd_floor = measure_floor(mail, args.floor_mails)
        before = mail.recorder.total
        hd = run_helpdesk([n], mail.port)
        if n in hd:
            hd_rate = float(hd[n]["tickets_per_s"])
            print(
                f"e2e helpdesk N={n} smtp_received={mail.recorder.total - before} (with the query-count run's "
                f"QN={os.environ.get('QN', '50')}) tickets_per_s={hd_rate:.0f} mails_per_item=1.00 "
                f"smtp_floor_mails_per_s={hd_floor:.0f} (measured just before it) = "
                f"{hd_rate / hd_floor:.2f} of its transport ceiling "
                "(escalate_tickets, Django SMTP backend, same server, one process, one mail per ticket)"
            )
            for how, rate in rates.items():
                layout = how.rsplit(" ", 1)[0]
                ceiling, per_item = ceilings[layout]
                print(
                    f"ratio e2e escalated_and_delivered_per_s rectify {how}={rate:.0f} / helpdesk={hd_rate:.0f} = "
                    f"{rate / hd_rate:.1f}x (aim: >= 5x); this layout's transport ceiling "
                    f"({per_item:.2f} messages per item) = {ceiling / hd_rate:.1f}x helpdesk"
                )
    finally:
        mail.stop()


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
        for label, prepare in (("mix", None), ("escalation", make_all_due_escalations)):
            rows_file = str(Path(tmp) / f"{label}.pickle")
            template = base
            if prepare is not None:  # every due task's next step an escalation, in a template of its own
                template = f"{base}_{label}"
                changed = prepare(dbs.create(template, template=base), now, escalations)
                log(f"N={n}: {changed} due tasks now escalate")
            sweeps, floors = [], []
            for rep in range(args.repeat):  # sweep and floor alternate, each on a fresh copy
                copy = dbs.create(f"{base}_run", template=template)
                log(f"N={n} {label}: sweep {rep + 1}/{args.repeat}")
                sweeps.append(run_child(["sweep", copy, now.isoformat(), rows_file, ""]))
                dbs.drop(f"{base}_run")
                copy = dbs.create(f"{base}_run", template=template)
                log(f"N={n} {label}: floor {rep + 1}/{args.repeat}")
                floors.append(run_child(["floor", copy, now.isoformat(), rows_file, str(args.batch)]))
                dbs.drop(f"{base}_run")
            sw = sorted(sweeps, key=lambda r: r["wall_s"])[len(sweeps) // 2]
            fl = sorted(floors, key=lambda r: r["wall_s"])[len(floors) // 2]
            x = sw["wall_s"] / fl["wall_s"]
            walls = "/".join(f"{r['wall_s']:.3f}" for r in sweeps)
            fwalls = "/".join(f"{r['wall_s']:.3f}" for r in floors)
            print(
                f"sweep {label} N={n} due={facts['due']} wall_s={sw['wall_s']:.3f} (runs {walls}) items={sw['items']} "
                f"batches={sw['batches']} notifications={sw['notifications']} escalations={sw['escalations']} "
                f"events={sw['escalation_events']} items_per_s={sw['items'] / sw['wall_s']:.0f} "
                f"rss_before_mb={sw['rss_before_mb']:.0f} rss_peak_mb={sw['rss_peak_mb']:.0f} "
                f"still_due={sw['still_due']}"
            )
            print(f"  rows {' '.join(f'{k}={v}' for k, v in sw['rows'].items())}")
            parts = " ".join(f"{k}={v:.3f}" for k, v in fl["parts"].items())
            print(
                f"floor {label} N={n} wall_s={fl['wall_s']:.3f} (runs {fwalls}) batches={fl['batches']} "
                f"tasks={fl['tasks']} events={fl['events']} notifications={fl['notifications']} parts: {parts} "
                f"(locked read, COPY history, COPY outbox, UPDATE … FROM unnest; psycopg, a transaction per batch)"
            )
            print(f"x_floor {label} N={n} sweep/floor={x:.2f} (aim: <= 2)")
            results[label] = {"sweep": sw, "floor": fl, "x": x}
            if prepare is not None:
                dbs.drop(template)
        if args.profile:
            copy = dbs.create(f"{base}_prof", template=base)
            prof = str(Path(tmp) / "sweep.prof")
            log(f"N={n}: profiled sweep")
            pr = run_child(["sweep", copy, now.isoformat(), "", prof])
            dbs.drop(f"{base}_prof")
            print(f"profiled sweep N={n} wall_s={pr['wall_s']:.3f} (under cProfile)")
            print_profile(prof, n)
    dbs.drop(base)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the reminder/escalation sweep on PostgreSQL against its honest floor, "
        "and escalation with delivery through SMTP against django-helpdesk.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--tasks", type=int, nargs="*", default=[100_000], help="N open tasks per run (none: e2e only)")
    p.add_argument("--units", type=int, default=1000, help="counties (three users with e-mail each)")
    p.add_argument("--plans", type=int, default=10, help="plans the problems are spread over")
    p.add_argument("--batch", type=int, default=2000, help="the sweep's batch size (the floor uses the same)")
    p.add_argument("--repeat", type=int, default=1, help="sweep/floor pairs per N (the median is reported)")
    p.add_argument("--e2e", type=int, default=500, help="overdue items for the end-to-end SMTP run (0: skip)")
    p.add_argument(
        "--e2e-units", type=int, default=20, help="counties the campaign layout of the end-to-end run spreads N over"
    )
    p.add_argument("--no-helpdesk", action="store_true", help="skip django-helpdesk in the end-to-end run")
    p.add_argument(
        "--floor-mails", type=int, default=2000, help="mails of each SMTP floor measured beside the end-to-end runs"
    )
    p.add_argument("--concurrency", type=int, default=2, help="Celery worker processes in the end-to-end run")
    p.add_argument(
        "--redis",
        default=os.environ.get("RECTIFY_BENCH_REDIS", "redis://127.0.0.1:6379/13"),
        help="Redis database for the end-to-end Celery run (FLUSHDB before and after)",
    )
    p.add_argument("--profile", action="store_true", help="also run the sweep under cProfile and print the top")
    p.add_argument(
        "--pg-admin-url",
        default=os.environ.get("RECTIFY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a database on the server to connect to for CREATE/DROP DATABASE",
    )
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    too_small = min(args.tasks, default=DUE_EVERY) < DUE_EVERY
    if not args.child and (too_small or args.units < 1 or args.plans < 1 or args.repeat < 1):
        p.error(f"--tasks must be >= {DUE_EVERY}; --units, --plans and --repeat positive")
    return args


def child_main(argv: list[str]) -> int:
    kind, url, now_text, *rest = argv
    now = datetime.fromisoformat(now_text)
    if kind == "sweep":
        rows_out, profile_out = rest
        result = child_sweep(url, now, rows_out or None, profile_out or None)
    elif kind == "floor":
        rows_in, batch = rest
        result = child_floor(url, rows_in, now, int(batch))
    else:
        result = child_e2e(url, now, int(rest[0]))
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
    base = f"rectify_bench_sweep_{os.getpid()}"
    try:
        for n in args.tasks:
            bench_n(dbs, base, n, args, now, mix, escalations, future)
        if args.e2e:
            end_to_end(dbs, base, args.e2e, args, now, mix, escalations, future)
    finally:
        dbs.drop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
