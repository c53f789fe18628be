"""API benchmark: the task list at city scale, through a real WSGI server.

What it measures
  * fanout_1000   seconds for one ``create_problem`` call fanning a common problem out to
                  every county (``all_units_under`` = the city), p50 and max over all calls.
  * tasks_page    GET /api/v1/tasks?per_page=50 with a mix of filters (plan_id, unit_id,
                  state, overdue=true, page 1..N), p50/p95/p99 in ms, for a supervisor of
                  the city (sees every task) and for a county official (sees ~tasks/units).
  * baseline_me   GET /api/v1/me (token check + one primary-key query) through the same
                  server, so tasks_page can be quoted as a multiple of it.

How
  A fresh PostgreSQL database ``rectify_bench_<pid>`` is created, migrated, filled with one
  city, ``--units`` counties (optionally townships under each), supervisors and officials;
  tasks are created through the real ``create_problem`` service and then moved to realistic
  states and due dates with bulk UPDATEs. The app is served by ``gunicorn -w 2`` in its own
  process and queried sequentially with http.client (gunicorn's sync workers close the
  connection after each response, so every request includes a local TCP connect, as the
  "server" line says). The "host" lines give the load average: on a busy machine the
  percentiles move a lot. The database is dropped at exit, also on error or Ctrl-C.
  ``--explain`` prints EXPLAIN (ANALYZE, BUFFERS) of the SQL behind the slowest filtered
  page of each user kind.

Run (from the project root)
  .venv/bin/python bench/api.py                          # 100,000 tasks, 1,000 counties
  .venv/bin/python bench/api.py --tasks 20000 --units 200 --explain
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgadmin import admin_sql, pg_url  # noqa: E402  (bench/ is on sys.path when run as a script)
from sqlalchemy import String, case, cast, create_engine, event, func, insert, literal_column, select, text, update  # noqa: E402
from sqlalchemy.orm import aliased  # noqa: E402

from app.db import Database  # noqa: E402
from app.domain.deadlines import CHINA  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import Task, Unit, User  # noqa: E402
from app.schemas import PlanIn, ProblemIn, TaskQuery, UnitIn, UserIn  # noqa: E402
from app.services import org, plans, tasks  # noqa: E402

PASSWORD = "bench-password"
STATES = ("identified", "in_progress", "rectified", "verified", "closed")
# Share of tasks per state in percent, cumulative bounds applied to a per-task hash bucket.
STATE_SHARES = (("closed", 20), ("verified", 5), ("rectified", 15), ("in_progress", 25))
DEADLINE_DAYS = (15, 30, 45, 60, 90, 120)


@dataclass
class Org:
    city_id: int
    county_ids: list[int]
    supervisor_id: int
    official_id: int
    official_unit_id: int
    n_units: int
    n_users: int


@dataclass
class Sample:
    label: str
    params: dict[str, str]
    ms: float


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    def values(self, label: str | None = None) -> list[float]:
        return [s.ms for s in self.samples if label is None or s.label == label]


# ---- small helpers ----------------------------------------------------------------------
def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new, empty database that is dropped however the block ends."""
    name = f"rectify_bench_{os.getpid()}"
    admin_sql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin_sql(admin_url, f"CREATE DATABASE {name}")
    try:
        yield pg_url(admin_url, name)
    finally:
        admin_sql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        log(f"dropped database {name}")


# ---- organisation -----------------------------------------------------------------------
def fill_paths(db: Database, depth: int) -> None:
    """Set ``path`` of every unit at ``depth`` to its parent's path + "<id>/", as create_unit does."""
    parent = aliased(Unit)
    with db.transaction() as s:
        s.execute(
            update(Unit)
            .where(Unit.parent_id == parent.id, Unit.depth == depth)
            .values(path=parent.path + cast(Unit.id, String) + "/")
            .execution_options(synchronize_session=False)
        )


def bulk_units(db: Database, parents: list[tuple[int, str]], per_parent: int, depth: int, kind: str) -> list[int]:
    """Insert ``per_parent`` units under each (parent id, name prefix); return the new ids."""
    rows = [
        {"name": f"{prefix}{kind}{i:04d}", "kind": kind, "parent_id": pid, "depth": depth, "path": ""}
        for pid, prefix in parents
        for i in range(1, per_parent + 1)
    ]
    with db.transaction() as s:
        ids = list(s.scalars(insert(Unit).returning(Unit.id, sort_by_parameter_order=True), rows))
    fill_paths(db, depth)
    return ids


def check_paths(db: Database) -> None:
    """Every path must be the parent's path + "<id>/" (the root: "/<id>/")."""
    parent = aliased(Unit)
    s = db.session()
    expected = func.coalesce(parent.path, "/") + cast(Unit.id, String) + "/"
    bad = s.scalar(
        select(func.count())
        .select_from(Unit)
        .outerjoin(parent, Unit.parent_id == parent.id)
        .where(Unit.path != expected)
    )
    if bad:
        raise RuntimeError(f"{bad} units have a wrong path")


def bulk_officials(db: Database, unit_ids: list[int], password_hash: str) -> None:
    """One handler per unit, sharing a real password hash (scrypt per user would take minutes)."""
    rows = [
        {
            "username": f"unit{uid}_handler",
            "password_hash": password_hash,
            "full_name": f"单位{uid}经办人",
            "unit_id": uid,
            "role": "official",
            "position": "handler",
        }
        for uid in unit_ids
    ]
    with db.transaction() as s:
        s.execute(insert(User), rows)


def build_org(db: Database, n_units: int, townships: int) -> Org:
    city = org.create_unit(db, None, UnitIn(name="基准市住房和城乡建设局", kind="市级"))
    county_ids = bulk_units(db, [(city.id, "基准市")], n_units, 1, "县级")
    town_ids = bulk_units(db, [(cid, f"县{cid}") for cid in county_ids], townships, 2, "乡镇") if townships else []
    check_paths(db)
    supervisors = [
        org.create_user(
            db,
            None,
            UserIn(username=f"city_{pos}", password=PASSWORD, unit_id=city.id, role="supervisor", position=pos),
        )
        for pos in ("head", "deputy")
    ]
    official = org.create_user(
        db,
        None,
        UserIn(username="county_head", password=PASSWORD, unit_id=county_ids[0], role="official", position="head"),
    )
    bulk_officials(db, county_ids + town_ids, official.password_hash)
    n_users = db.session().scalar(select(func.count()).select_from(User))
    return Org(
        city.id, county_ids, supervisors[1].id, official.id, county_ids[0], 1 + len(county_ids) + len(town_ids), n_users
    )


# ---- plans, problems, tasks -------------------------------------------------------------
def make_plans(db: Database, supervisor_id: int, n_plans: int, today: date) -> list[int]:
    """Plans issued over the last months, the oldest first."""
    actor = db.session().get(User, supervisor_id)
    ids = []
    for i in range(n_plans):
        issued = today - timedelta(days=5 + 12 * (n_plans - 1 - i))
        data = PlanIn(title=f"基准整改方案{i + 1}", doc_number=f"基建〔{issued.year}〕{i + 1}号", issued_on=issued)
        ids.append(plans.create_plan(db, actor, data).id)
    return ids


def deadline_text(rng: random.Random) -> str:
    """Mostly "N日内" (due dates spread around today), some immediate or long-term."""
    roll = rng.random()
    if roll < 0.1:
        return "立行立改"
    if roll < 0.15:
        return "长期整改"
    return f"{rng.choice(DEADLINE_DAYS)}日内"


def timed_problem(db: Database, supervisor_id: int, plan_id: int, data: ProblemIn) -> float:
    """One create_problem call on a fresh session (as a request would have); seconds."""
    db.remove()
    actor = db.session().get(User, supervisor_id)
    t0 = time.perf_counter()
    plans.create_problem(db, actor, plan_id, data, datetime.now(UTC))
    return time.perf_counter() - t0


def make_tasks(db: Database, o: Org, plan_ids: list[int], n_tasks: int, rng: random.Random) -> list[float]:
    """Fan common problems out to all counties; a remainder goes to the first counties.

    Returns the seconds of each full fan-out."""
    full, rest = divmod(n_tasks, len(o.county_ids))
    times = []
    for i in range(full + (1 if rest else 0)):
        is_full = i < full
        data = ProblemIn(
            nature="common",
            category="基准",
            title=f"共性问题{i + 1}",
            measures="逐项排查，建立台账，销号管理。",
            deadline=deadline_text(rng),
            all_units_under=o.city_id if is_full else None,
            unit_ids=None if is_full else o.county_ids[:rest],
        )
        seconds = timed_problem(db, o.supervisor_id, plan_ids[i % len(plan_ids)], data)
        if is_full:
            times.append(seconds)
        if (i + 1) % 10 == 0:
            log(f"{i + 1} problems, last fan-out {seconds:.3f} s")
    return times


def spread_states(db: Database) -> None:
    """Move tasks on from 'identified' by a stable hash of their id, and grant some extensions.

    Tasks past 'in_progress' are marked rectified by their own unit's handler."""
    bucket = func.abs(func.hashtext(cast(Task.id, String))) % 100
    whens, bound = [], 0
    for state, share in STATE_SHARES:
        bound += share
        whens.append((bucket < bound, state))
    new_state = case(*whens, else_="identified")
    handler = (
        select(User.id)
        .where(User.unit_id == Task.unit_id, User.position == "handler")
        .order_by(User.id)
        .limit(1)
        .scalar_subquery()
    )
    with db.transaction() as s:
        s.execute(
            update(Task.__table__).values(
                state=new_state,
                version=case(*[(new_state == st, n) for n, st in enumerate(STATES, start=1)]),
                rectified_by_id=case((new_state.in_(STATES[2:]), handler), else_=None),
                updated_at=func.now(),
            )
        )
        extension = func.abs(func.hashtext(cast(Task.id, String) + "x")) % 10 == 0
        s.execute(
            update(Task.__table__)
            .where(extension, Task.due_at.is_not(None))
            .values(due_at=Task.due_at + literal_column("interval '30 days'"))
        )


def vacuum_analyze(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


def task_facts(db: Database) -> dict[str, int]:
    s = db.session()
    counts = dict(s.execute(select(Task.state, func.count()).group_by(Task.state)).all())
    open_ = Task.state.in_(STATES[:2])
    counts["overdue"] = s.scalar(select(func.count()).where(open_, Task.due_at < func.now()))
    return counts


# ---- the server -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(proc: subprocess.Popen, port: int, logfile: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{logfile.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{logfile.read_text()[-3000:]}")


@contextmanager
def gunicorn(url: str, workers: int) -> Iterator[int]:
    """Serve ``app:create_app()`` on a free port in a child process; yield the port."""
    with tempfile.TemporaryDirectory(prefix="rectify_bench_") as tmp:
        port = free_port()
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
        env = inherited | {
            "RECTIFY_DATABASE_URL": url,
            "RECTIFY_SECRET_KEY": secrets.token_hex(32),
            "RECTIFY_INSTANCE_DIR": str(Path(tmp) / "instance"),
            "RECTIFY_SCHEDULER": "off",
        }
        logfile = Path(tmp) / "gunicorn.log"
        served = ["-w", str(workers), "-b", f"127.0.0.1:{port}", "app:create_app()"]
        cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *served]
        with logfile.open("w") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(proc, port, logfile, timeout=120)  # a loaded host boots two workers slowly
            log(f"gunicorn pid {proc.pid} serving on 127.0.0.1:{port} with {workers} workers")
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---- the client -------------------------------------------------------------------------
class Client:
    """Sequential requests over one http.client connection (it reconnects when the server closes)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.server_closes = False

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=payload, headers=headers)
        resp = self.conn.getresponse()
        self.server_closes = resp.will_close
        return resp.status, resp.read()

    def timed_get(self, path: str, token: str) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        status, data = self.call("GET", path, token)
        ms = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {data[:300]!r}")
        return ms, data

    def token(self, username: str) -> str:
        status, data = self.call("POST", "/api/v1/auth/token", body={"username": username, "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"token for {username}: {status} {data[:300]!r}")
        return json.loads(data)["token"]


Mix = dict[str, Callable[[random.Random], dict[str, str]]]


def supervisor_mix(plan_ids: list[int], county_ids: list[int]) -> Mix:
    def plan(r):
        return str(r.choice(plan_ids))

    def state(r):
        return r.choice(STATES)

    return {
        "page": lambda r: {"page": str(r.randint(1, 20))},
        "plan": lambda r: {"plan_id": plan(r), "page": str(r.randint(1, 3))},
        "plan+state": lambda r: {"plan_id": plan(r), "state": state(r)},
        "plan+overdue": lambda r: {"plan_id": plan(r), "overdue": "true"},
        "unit": lambda r: {"unit_id": str(r.choice(county_ids))},
        "state": lambda r: {"state": state(r), "page": str(r.randint(1, 5))},
        "overdue": lambda r: {"overdue": "true", "page": str(r.randint(1, 5))},
        "unit+overdue": lambda r: {"unit_id": str(r.choice(county_ids)), "overdue": "true"},
    }


def official_mix(plan_ids: list[int], unit_id: int) -> Mix:
    return {
        "page": lambda r: {"page": str(r.randint(1, 2))},
        "unit": lambda r: {"unit_id": str(unit_id)},
        "plan": lambda r: {"plan_id": str(r.choice(plan_ids))},
        "state": lambda r: {"state": r.choice(STATES)},
        "overdue": lambda r: {"overdue": "true"},
        "unit+state": lambda r: {"unit_id": str(unit_id), "state": r.choice(STATES[:2])},
    }


def tasks_path(params: dict[str, str]) -> str:
    return "/api/v1/tasks?" + urllib.parse.urlencode({"per_page": "50", **params})


def run_mix(client: Client, token: str, mix: Mix, n: int, rng: random.Random) -> Series:
    series = Series()
    labels = sorted(mix)
    for _ in range(n):
        label = rng.choice(labels)
        params = mix[label](rng)
        ms, _ = client.timed_get(tasks_path(params), token)
        series.samples.append(Sample(label, params, ms))
    return series


def run_baseline(client: Client, token: str, n: int) -> list[float]:
    return [client.timed_get("/api/v1/me", token)[0] for _ in range(n)]


def visible_total(client: Client, token: str) -> int:
    return json.loads(client.timed_get(tasks_path({}), token)[1])["total"]


# ---- EXPLAIN ----------------------------------------------------------------------------
def explain_page(url: str, user_id: int, params: dict[str, str]) -> tuple[float, list[tuple[str, list[str]]]]:
    """Run the real list_tasks in-process, capture its SQL on tasks and EXPLAIN ANALYZE it.

    Returns the in-process service time in ms and (SQL, plan lines) per captured statement."""
    db = Database(url)
    captured: list[tuple[str, object]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM tasks" in statement and not statement.startswith("EXPLAIN"):
            captured.append((statement, parameters))

    try:
        viewer = db.session().get(User, user_id)
        _ = viewer.unit.path
        query = TaskQuery.model_validate({"per_page": "50", **params})
        event.listen(db.engine, "before_cursor_execute", grab)
        t0 = time.perf_counter()
        tasks.list_tasks(db, viewer, query, datetime.now(UTC))
        service_ms = (time.perf_counter() - t0) * 1000
        event.remove(db.engine, "before_cursor_execute", grab)
        out = []
        with db.engine.connect() as conn:
            for sql, sql_params in captured:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, sql_params).scalars().all()
                out.append((sql, plan))
        return service_ms, out
    finally:
        db.dispose()


def print_explain(kind: str, label: str, params: dict[str, str], url: str, user_id: int) -> None:
    service_ms, plans_ = explain_page(url, user_id, params)
    print(f"explain {kind}[{label}] params={params} list_tasks_in_process_ms={service_ms:.1f}")
    for sql, plan in plans_:
        print("  SQL: " + " ".join(sql.split()))
        for line in plan:
            print("    " + line)


# ---- report -----------------------------------------------------------------------------
def fmt_ms(values: list[float], ps: tuple[int, ...] = (50, 95, 99)) -> str:
    return " ".join(f"p{p}_ms={pct(values, p):.1f}" for p in ps)


def report_fanout(times: list[float], n_units: int) -> None:
    if times:
        p50, top = pct(times, 50), max(times)
        print(f"fanout_{n_units} p50_s={p50:.3f} max_s={top:.3f} n={len(times)} (aim: < 1 s)")


def report_series(kind: str, series: Series, visible: int, me: list[float]) -> None:
    all_ms = series.values()
    ratio50 = pct(all_ms, 50) / pct(me, 50)
    ratio95 = pct(all_ms, 95) / pct(me, 95)
    print(
        f"tasks_page {kind} {fmt_ms(all_ms)} n={len(all_ms)} visible={visible} "
        f"x_baseline_p50={ratio50:.1f} x_baseline_p95={ratio95:.1f} (aim: p95 < 50 ms)"
    )
    for label in sorted({s.label for s in series.samples}):
        vals = series.values(label)
        print(f"  {kind}[{label}] {fmt_ms(vals, (50, 95))} max_ms={max(vals):.1f} n={len(vals)}")


def slowest(series: Series) -> tuple[str, dict[str, str]]:
    """The filter with the highest p95, and the parameters of its slowest request."""
    by_label: dict[str, list[Sample]] = defaultdict(list)
    for s in series.samples:
        by_label[s.label].append(s)
    label = max(by_label, key=lambda k: pct([s.ms for s in by_label[k]], 95))
    worst = max(by_label[label], key=lambda s: s.ms)
    return label, worst.params


# ---- main -------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark task fan-out and GET /api/v1/tasks on PostgreSQL behind gunicorn.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--tasks", type=int, default=100_000, help="tasks to create through create_problem")
    p.add_argument("--units", type=int, default=1000, help="county-level units under the one city")
    p.add_argument("--townships", type=int, default=0, help="townships under each county (they get no tasks)")
    p.add_argument("--plans", type=int, default=10, help="plans the problems are spread over")
    p.add_argument("--requests", type=int, default=500, help="measured requests per user kind (and for /me)")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured requests per user kind first")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    p.add_argument("--seed", type=int, default=1, help="seed of the deadline and request mix")
    p.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest filtered page per user kind")
    p.add_argument(
        "--pg-admin-url",
        default=os.environ.get("RECTIFY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a database on the server to connect to for CREATE/DROP DATABASE",
    )
    args = p.parse_args(argv)
    if args.units < 1 or args.tasks < 1 or args.requests < 1 or args.plans < 1:
        p.error("--tasks, --units, --plans and --requests must be positive")
    return args


def load(url: str, args: argparse.Namespace, rng: random.Random) -> tuple[Org, list[int], list[float]]:
    t0 = time.perf_counter()
    upgrade(url)
    db = Database(url)
    try:
        log("building the organisation")
        o = build_org(db, args.units, args.townships)
        plan_ids = make_plans(db, o.supervisor_id, args.plans, datetime.now(CHINA).date())
        log(f"creating {args.tasks} tasks")
        fanouts = make_tasks(db, o, plan_ids, args.tasks, rng)
        spread_states(db)
        vacuum_analyze(url)
        facts = task_facts(db)
    finally:
        db.dispose()
    n_tasks = sum(facts[s] for s in STATES if s in facts)
    states = " ".join(f"{s}={facts.get(s, 0)}" for s in (*STATES, "overdue"))
    print(f"setup units={o.n_units} users={o.n_users} plans={len(plan_ids)} tasks={n_tasks} {states}")
    print(f"setup_s={time.perf_counter() - t0:.1f}")
    return o, plan_ids, fanouts


def measure(port: int, url: str, o: Org, plan_ids: list[int], args: argparse.Namespace, rng: random.Random) -> None:
    client = Client(port)
    sup = client.token("city_deputy")
    off = client.token("county_head")
    kinds = {
        "supervisor": (sup, supervisor_mix(plan_ids, o.county_ids), o.supervisor_id),
        "official": (off, official_mix(plan_ids, o.official_unit_id), o.official_id),
    }
    for token, mix, _ in kinds.values():
        run_mix(client, token, mix, args.warmup, rng)
    run_baseline(client, sup, args.warmup)
    me = run_baseline(client, sup, args.requests)
    reuse = "no, the server closes after each response" if client.server_closes else "yes"
    print(f"server gunicorn -w {args.workers} (sync); connection reuse: {reuse}")
    print(f"baseline_me {fmt_ms(me)} n={len(me)}")
    results = {}
    for kind, (token, mix, _) in kinds.items():
        results[kind] = run_mix(client, token, mix, args.requests, rng)
        report_series(kind, results[kind], visible_total(client, token), me)
    host_line("end")
    if args.explain:
        for kind, (_, _, user_id) in kinds.items():
            label, params = slowest(results[kind])
            print_explain(kind, label, params, url, user_id)


def host_line(when: str) -> None:
    load1, load5, _ = os.getloadavg()
    print(f"host {when} cpus={os.cpu_count()} loadavg_1m={load1:.2f} loadavg_5m={load5:.2f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    rng = random.Random(args.seed)
    host_line("start")
    with scratch_database(args.pg_admin_url) as url:
        o, plan_ids, fanouts = load(url, args, rng)
        report_fanout(fanouts, len(o.county_ids))
        with gunicorn(url, args.workers) as port:
            measure(port, url, o, plan_ids, args, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
