"""Page benchmark: the dashboard, the plan page and the task lists at ledger scale.

What it prints, for each size of the ledger (``--sizes``, tasks), on PostgreSQL and on
SQLite (``--backends``; every line starts with db=…):
  * baseline_me     GET /api/v1/me through the same server in the same run (token check and
                    one primary-key query): every figure below is also given as a multiple of it.
  * dashboard       GET /dashboard (every task the city supervisor sees) and
                    /dashboard?plan_id=… (one plan), p50/p95 in ms.
  * plan_page       GET /plans/<id> of a random plan.
  * tasks_html[S]   GET /tasks?sort=S, pages 1..20 as a reader reaches them (each page's
                    "next" position, ?after=…), the HTML list, for every sort S offered.
  * tasks_api[S]    GET /api/v1/tasks?sort=S, the same pages over the API.
  * tasks_html[S@90%], tasks_api[S@90%]
                    the page 90 % of the way into the list (its position found once per size
                    through an old ?page=N link): deep pages must cost what page 1 does.
  * home            GET /, the supervisor's my-work boxes and their total (the header's count).
  * header_counts, unit_choices
                    GET /header-counts and /units/choices: what every other page fetches
                    once it is shown (app.js), the header's counts and a long unit filter's
                    choices; printed so that the cost moved off the pages stays in sight.
  * tasks_html[q=title], tasks_api[q=measures]
                    keyword search: the title of one problem (its tasks, one per county,
                    as many at every size), and a measures text every task matches.
  * queries=N       statements each page sends to the database, counted in-process with a
                    SQLAlchemy ``before_cursor_execute`` event (app.db.Database.statements)
                    on the Flask test client against the same database: they must not
                    change with the size.
Then, per list and sort, the p95 at every size and the largest over the smallest
("flat within 2x" is the aim).

How
  A scratch database ``rectify_bench_<pid>`` is migrated and given one city, ``--units``
  counties and ``--plans`` plans through the services (bench/api.py's helpers); problems,
  tasks (one per problem and county) and their history (created, then each step up to the
  task's state, spread over the weeks since the plan was issued) are written by set-based
  INSERT … SELECT over generate_series, so 1,000,000 tasks build in minutes, not hours. The
  ledger grows from one size to the next (VACUUM ANALYZE after each); ``gunicorn -w 2``
  serves the app and requests are sequential. The database is dropped at exit.
  SQLite gets the very same rows: at each size they are copied into a fresh SQLite file
  migrated alike (the builder's SQL is PostgreSQL's), which is ANALYZEd and served the same
  way.

Run (from the project root)
  .venv/bin/python bench/pages.py                                  # 10,000 and 100,000 tasks
  .venv/bin/python bench/pages.py --sizes 10000,100000,1000000 --figures tasks_ --backends postgresql
                                                                   # the lists at 1,000,000 too
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import secrets
import signal
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import api as base  # bench/ is on sys.path when run as a script; api puts the root there
from sqlalchemy import create_engine, func, insert, select, text

from app import create_app
from app.db import Database
from app.domain.deadlines import CHINA
from app.migrate import upgrade
from app.models import Base, Plan, User
from app.schemas import TaskQuery
from app.services import tasks

SORTS = ("due", "-due", "unit", "state", "updated")
DERIVED = {"task_tally", "open_deltas"}  # kept by the database's triggers (migration 0026)

# One problem per (k): its plan, its creation two hours after its plan's issue day (a week
# spread, never later than yesterday), a deadline of 15…120 days.
PROBLEMS_SQL = """
INSERT INTO problems (plan_id, seq, category, nature, title, description, source, measures,
                      deadline_text, deadline_kind, due_at, remarks, created_by_id, created_at)
SELECT pl.id, g.k / :n_plans + 1, '类别' || (g.k % 12), 'common', '共性问题' || g.k, '', '',
       '逐项排查，建立台账，销号管理。', d.days || '日内', 'date', c.at + d.days * interval '1 day', '',
       :actor, c.at
FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g(k)
JOIN plans pl ON pl.id = (CAST(:plan_ids AS int[]))[1 + g.k % :n_plans]
CROSS JOIN LATERAL (SELECT (LEAST(pl.issued_on + (g.k % 7), CURRENT_DATE - 1) + time '02:00')
                           AT TIME ZONE 'UTC' AS at) c
CROSS JOIN LATERAL (SELECT (ARRAY[15, 30, 45, 60, 90, 120])[1 + g.k % 6] AS days) d
"""

# Every new problem × every county, in a state chosen by a stable hash; a tenth extended by
# 30 days; overdue open tasks climb (a quarter to level 3, on the public-notice list).
TASKS_SQL = """
INSERT INTO tasks (problem_id, plan_id, unit_id, state, deadline_kind, due_at, deadline_text,
                   deadline_basis, deadline_from, calendar_provisional, version, created_at,
                   updated_at, active_since, swept_until, escalation_level, public_notice,
                   next_action_at)
SELECT p.id, p.plan_id, u.id, s.state, 'date', x.due, p.deadline_text, 'received',
       CAST(p.created_at AT TIME ZONE 'Asia/Shanghai' AS date), false, s.rank + 1, p.created_at,
       p.created_at + (now() - p.created_at) * (h.b % 97 + 1) / 100.0, p.created_at, p.created_at,
       CASE WHEN s.rank < 2 AND x.due < now() THEN CASE WHEN h.b % 4 = 0 THEN 3 ELSE 1 END ELSE 0 END,
       s.rank < 2 AND x.due < now() AND h.b % 4 = 0,
       CASE WHEN s.rank < 2 THEN x.due END
FROM problems p
CROSS JOIN units u
CROSS JOIN LATERAL (SELECT abs(hashtext(p.id || ':' || u.id)) AS b) h
CROSS JOIN LATERAL (SELECT CASE WHEN h.b % 100 < 20 THEN 'closed' WHEN h.b % 100 < 25 THEN 'verified'
                                WHEN h.b % 100 < 40 THEN 'rectified' WHEN h.b % 100 < 65 THEN 'in_progress'
                                ELSE 'identified' END AS state) s0
CROSS JOIN LATERAL (SELECT s0.state, array_position(
                           ARRAY['identified', 'in_progress', 'rectified', 'verified', 'closed'],
                           s0.state) - 1 AS rank) s
CROSS JOIN LATERAL (SELECT p.due_at + CASE WHEN h.b % 10 = 0 THEN interval '30 days'
                                           ELSE interval '0' END AS due) x
WHERE p.id > :after_problem AND u.depth = 1
"""

# The history: "created", then one transition per step up to the task's state, evenly
# spaced between its creation and its last update.
EVENTS_SQL = """
INSERT INTO task_events (task_id, seq, kind, from_state, to_state, actor_id, at, comment, data)
SELECT t.id, 1, 'created', NULL, 'identified', :actor, t.created_at, '', CAST('{}' AS json)
FROM tasks t WHERE t.id > :after_task
UNION ALL
SELECT t.id, st.n + 1, 'transition', st.frm, st.dst, :actor,
       t.created_at + (t.updated_at - t.created_at) * st.n / (t.version - 1), '', CAST('{}' AS json)
FROM tasks t
JOIN (VALUES (1, 'identified', 'in_progress'), (2, 'in_progress', 'rectified'),
             (3, 'rectified', 'verified'), (4, 'verified', 'closed')) AS st(n, frm, dst)
  ON st.n <= t.version - 1
WHERE t.id > :after_task
"""


def grow(url: str, plan_ids: list[int], actor_id: int, n_units: int, to_tasks: int) -> int:
    """Add problems until the ledger holds ``to_tasks`` tasks (rounded up to whole fan-outs)."""
    db = Database(url)
    try:
        with db.transaction() as s:
            have = s.scalar(text("SELECT count(*) FROM problems"))
            after_problem = s.scalar(text("SELECT coalesce(max(id), 0) FROM problems"))
            after_task = s.scalar(text("SELECT coalesce(max(id), 0) FROM tasks"))
            want = -(-to_tasks // n_units)
            if want > have:
                common = {"n_plans": len(plan_ids), "actor": actor_id}
                ids = "{" + ",".join(map(str, plan_ids)) + "}"
                s.execute(text(PROBLEMS_SQL), common | {"first": have, "last": want - 1, "plan_ids": ids})
                s.execute(text(TASKS_SQL), {"after_problem": after_problem})
                s.execute(text(EVENTS_SQL), {"after_task": after_task, "actor": actor_id})
            n = s.scalar(text("SELECT count(*) FROM tasks"))
    finally:
        db.dispose()
    base.vacuum_analyze(url)
    return n


def copy_to_sqlite(pg_url: str, path: Path) -> str:
    """The PostgreSQL ledger's rows in a fresh SQLite file migrated alike; its URL."""
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    src, dst = create_engine(pg_url), create_engine(url)
    try:
        with src.connect() as a, dst.begin() as b:
            for table in Base.metadata.sorted_tables:
                if table.name in DERIVED:
                    continue  # the triggers fill them again as the tasks and their history go in
                if b.scalar(select(func.count()).select_from(table)):
                    b.execute(table.delete())  # rows a migration wrote (none is history)
                plain = [c for c in table.c if c.computed is None]  # the database computes the rest
                rows = a.execution_options(stream_results=True, yield_per=5000).execute(select(*plain))
                for chunk in rows.mappings().partitions(5000):
                    b.execute(insert(table), [dict(r) for r in chunk])
            b.exec_driver_sql("ANALYZE")
    finally:
        src.dispose()
        dst.dispose()
    return url


# ---- a signed-in browser --------------------------------------------------------------------
class Browser:
    """Sequential requests with the session cookie, signed in through the login form."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def call(self, method: str, path: str, form: dict | None = None, token: str | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        data = resp.read()
        conn.close()
        return resp.status, data

    def sign_in(self, username: str) -> None:
        page = self.call("GET", "/login")[1].decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
        status, _ = self.call("POST", "/login", {"username": username, "password": base.PASSWORD, "csrf_token": csrf})
        if status != 302:
            raise RuntimeError(f"sign-in of {username} answered {status}")

    def timed(self, path: str, token: str | None = None) -> float:
        t0 = time.perf_counter()
        status, data = self.call("GET", path, token=token)
        ms = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {data[:300]!r}")
        return ms


# ---- what is measured -------------------------------------------------------------------------
def positions(url: str, username: str, n_tasks: int) -> dict[str, tuple[list[str], str]]:
    """Per sort, the ``after`` positions of pages 2..20 (each page's ``next``, as a reader
    follows them) and of the page 90 % into the list, from the service in-process."""
    db = Database(url)
    try:
        viewer = db.session().scalar(select(User).where(User.username == username))
        now = datetime.now(UTC)
        found = {}
        for sort in SORTS:
            chain, query = [], TaskQuery(sort=sort)
            for _ in range(19):
                query = TaskQuery(sort=sort, after=tasks.list_tasks(db, viewer, query, now).next)
                chain.append(query.after)
            deep = TaskQuery(sort=sort, page=max(1, n_tasks * 9 // 10 // query.per_page))
            found[sort] = (chain, tasks.list_tasks(db, viewer, deep, now).next)
        return found
    finally:
        db.dispose()


def figures(
    plan_ids: list[int], spots: dict[str, tuple[list[str], str]], problems: int
) -> dict[str, tuple[bool, Callable[[random.Random], str]]]:
    """name -> (over the API with a token, path for a random draw). ``problems``: how many
    the ledger holds (titles 共性问题0 …)."""
    out = {
        "dashboard": (False, lambda r: "/dashboard"),
        "dashboard_plan": (False, lambda r: f"/dashboard?plan_id={r.choice(plan_ids)}"),
        "plan_page": (False, lambda r: f"/plans/{r.choice(plan_ids)}"),
    }
    out["home"] = (False, lambda r: "/")  # my work: the boxes and their total, which the header shows
    # what the other pages fetch once shown (app.js): the header's count, and a long unit
    # filter's choices (the browser keeps those five minutes; timed here as if it did not)
    out["header_counts"] = (False, lambda r: "/header-counts")
    out["unit_choices"] = (False, lambda r: "/units/choices")
    # keyword search (q): the whole title of one problem, which no longer title contains (k at
    # least a tenth of the count: 共性问题k0 does not exist), so it matches one problem's tasks,
    # as many at every size (a random 共性问题1…999 matched nothing at 10,000 tasks and up to 111
    # problems at 1,000,000: its "growth" was the growth of the answer); and a measures text all match
    one_title = range(-(-problems // 10), problems) or range(problems)  # one problem: 共性问题0
    out["tasks_html[q=title]"] = (False, lambda r: "/tasks?q=" + urllib.parse.quote(f"共性问题{r.choice(one_title)}"))
    out["tasks_api[q=measures]"] = (True, lambda r: "/api/v1/tasks?q=" + urllib.parse.quote("销号管理"))
    for sort in SORTS:
        chain, deep = spots[sort]
        walked = [f"sort={sort}"] + [f"sort={sort}&after={after}" for after in chain]
        out[f"tasks_html[{sort}]"] = (False, lambda r, w=walked: f"/tasks?{r.choice(w)}")
        out[f"tasks_api[{sort}]"] = (True, lambda r, w=walked: f"/api/v1/tasks?{r.choice(w)}")
        out[f"tasks_html[{sort}@90%]"] = (False, lambda r, q=f"sort={sort}&after={deep}": f"/tasks?{q}")
        out[f"tasks_api[{sort}@90%]"] = (True, lambda r, q=f"sort={sort}&after={deep}": f"/api/v1/tasks?{q}")
    return out


def count_queries(url: str, username: str, paths: dict[str, tuple[bool, str]]) -> dict[str, int]:
    """Statements per page, in-process on the Flask test client (the same code gunicorn runs)."""
    with tempfile.TemporaryDirectory(prefix="rectify_bench_") as tmp:
        os.environ |= {
            "RECTIFY_DATABASE_URL": url,
            "RECTIFY_SECRET_KEY": secrets.token_hex(32),
            "RECTIFY_INSTANCE_DIR": str(Path(tmp) / "instance"),
            "RECTIFY_SCHEDULER": "off",
        }
        app = create_app()
        db = app.extensions["rectify"].db
        try:
            client = app.test_client()
            page = client.get("/login").get_data(as_text=True)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
            client.post("/login", data={"username": username, "password": base.PASSWORD, "csrf_token": csrf})
            creds = {"username": username, "password": base.PASSWORD}
            bearer = {"Authorization": "Bearer " + client.post("/api/v1/auth/token", json=creds).get_json()["token"]}
            counts = {}
            for name, (api_call, path) in paths.items():
                headers = bearer if api_call else {}
                client.get(path, headers=headers)  # warm, as a signed-in user's second visit
                with db.statements() as sent:
                    status = client.get(path, headers=headers).status_code
                if status != 200:
                    raise RuntimeError(f"in-process GET {path} answered {status}")
                counts[name] = len(sent)
            return counts
        finally:
            db.dispose()


def measure_size(port: int, url: str, n_tasks: int, plan_ids: list[int], args, rng, db: str) -> dict[str, float]:
    browser = Browser(port)
    browser.sign_in("city_deputy")
    token = base.Client(port).token("city_deputy")
    spots = positions(url, "city_deputy", n_tasks)
    problems = -(-n_tasks // args.units)
    figs = {name: f for name, f in figures(plan_ids, spots, problems).items() if re.search(args.figures, name)}
    paths = {name: (api_call, draw(random.Random(0))) for name, (api_call, draw) in figs.items()}
    queries = count_queries(url, "city_deputy", paths)
    for _ in range(args.warmup):
        browser.timed("/api/v1/me", token)
        for api_call, draw in figs.values():
            browser.timed(draw(rng), token if api_call else None)
    me = [browser.timed("/api/v1/me", token) for _ in range(args.requests)]
    me95 = base.pct(me, 95)
    print(f"db={db} size={n_tasks} baseline_me {base.fmt_ms(me, (50, 95))} n={len(me)}")
    p95s = {}
    for name, (api_call, draw) in figs.items():
        ms = [browser.timed(draw(rng), token if api_call else None) for _ in range(args.requests)]
        p95s[name] = base.pct(ms, 95)
        aim = f"p95 < {30 if name.startswith('tasks_html') else 100} ms at 100,000"
        if name in ("header_counts", "unit_choices"):
            aim = "none: fetched once the page is shown"
        print(
            f"db={db} size={n_tasks} {name} {base.fmt_ms(ms, (50, 95))} x_me_p95={p95s[name] / me95:.1f} "
            f"queries={queries[name]} (aim: {aim})"
        )
    base.host_line(f"after db={db} size={n_tasks}")
    return p95s


def report_flatness(by_size: dict[int, dict[str, float]], db: str) -> None:
    sizes = sorted(by_size)
    if len(sizes) < 2:
        return
    for name in by_size[sizes[0]]:
        if not name.startswith("tasks_"):
            continue
        row = " ".join(f"p95_ms@{n}={by_size[n][name]:.1f}" for n in sizes)
        values = [by_size[n][name] for n in sizes]
        print(f"db={db} flat {name} {row} largest/smallest={max(values) / min(values):.2f} (aim: <= 2)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the dashboard, plan page and task lists on PostgreSQL behind gunicorn.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--sizes", default="10000,100000", help="ledger sizes in tasks, growing")
    p.add_argument("--units", type=int, default=1000, help="county-level units (every problem goes to each)")
    p.add_argument("--plans", type=int, default=10, help="plans the problems are spread over")
    p.add_argument("--requests", type=int, default=40, help="measured requests per figure and size")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured rounds of every figure first")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--figures", default="", help="only the figures whose name matches this regex (e.g. tasks_)")
    p.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the page 90 %% into each sort, each size")
    p.add_argument("--backends", default="postgresql,sqlite", help="databases to serve the same ledger from")
    p.add_argument(
        "--pg-admin-url",
        default=os.environ.get("RECTIFY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="a database on the server to connect to for CREATE/DROP DATABASE",
    )
    args = p.parse_args(argv)
    args.sizes = sorted(int(n) for n in args.sizes.split(","))
    args.backends = [b for b in ("postgresql", "sqlite") if b in args.backends.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(args.seed)
    base.host_line("start")
    with base.scratch_database(args.pg_admin_url) as url:
        upgrade(url)
        db = Database(url)
        try:
            o = base.build_org(db, args.units, 0)
            plan_ids = base.make_plans(db, o.supervisor_id, args.plans, datetime.now(CHINA).date())
            assert plan_ids == list(db.session().scalars(select(Plan.id).order_by(Plan.id)))
        finally:
            db.dispose()
        by_size: dict[str, dict[int, dict[str, float]]] = {db: {} for db in args.backends}
        with tempfile.TemporaryDirectory(prefix="rectify_bench_") as tmp, contextlib.ExitStack() as stack:
            pg_port = stack.enter_context(base.gunicorn(url, args.workers)) if "postgresql" in args.backends else 0
            for size in args.sizes:
                t0 = time.perf_counter()
                n = grow(url, plan_ids, o.supervisor_id, args.units, size)
                print(f"setup size={size} tasks={n} build_s={time.perf_counter() - t0:.1f}")
                if pg_port:
                    by_size["postgresql"][n] = measure_size(pg_port, url, n, plan_ids, args, rng, "postgresql")
                    if args.explain:
                        for sort, (_, deep) in positions(url, "city_deputy", n).items():
                            base.print_explain(f"size={n}", sort, {"sort": sort, "after": deep}, url, o.supervisor_id)
                if "sqlite" in args.backends:
                    t0 = time.perf_counter()
                    lite = copy_to_sqlite(url, Path(tmp) / "bench.db")
                    print(f"setup db=sqlite size={size} copy_s={time.perf_counter() - t0:.1f}")
                    with base.gunicorn(lite, args.workers) as port:
                        by_size["sqlite"][n] = measure_size(port, lite, n, plan_ids, args, rng, "sqlite")
        for db, sizes in by_size.items():
            report_flatness(sizes, db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
