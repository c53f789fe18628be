"""Ledger file benchmark: reading, importing and exporting a large 台账, each figure beside
its baseline measured in the same run, on SQLite and PostgreSQL.

  .venv/bin/python bench/ledger.py [--problems 10000] [--export-rows 100000] [--runs 3]

Figures (median of --runs, interleaved with their baselines):
  * read       parse_workbook (guards, calamine, merges undone, rows read) of an annex-layout
               ledger of N problems, beside python-calamine's own read of the same bytes
               (workbook, sheet, to_python, merged ranges). Goal: at most 3x.
  * import     the confirmed import's job (rules checked, problems, tasks and history
               written in one transaction), beside a raw insert of the same rows into the
               same database: ids assigned by the script (no RETURNING, no SELECT), three
               plain executemany INSERTs per thousand problems, no checks. Goal: at most
               2x. The preview (read + resolve + compare + keep the draft) is printed too.
  * hostile    the preview of issue 8's 2 KB file declaring 400 merged ranges over 50,000
               rows (refused) beside a normal N-row preview. Goal: well under a second.
  * web        through gunicorn (2 workers): POST …/ledger/commit answers (202) at once,
               and the job finishes in its own time (polled through …/ledger/imports/<token>).
  * export     export_ledger of a plan with --export-rows problems (one task each) as .xlsx,
               whole (rows read from the database, the chain head, the sheet written to its
               file), beside xlsxwriter's constant-memory writer alone writing the same
               workbook (the export's frame: formats, title, header, footnote, chain head,
               print settings) and the same cells, formats, row heights and merged ranges,
               handed to it in memory (set_row, write_string, write_blank); each run's ratio
               with the load average; the growth of peak RSS during the export at a tenth
               of the rows and at all of them, and tracemalloc's peak at both, for both
               layouts. The .csv beside csv.writer alone. Goal: at most 1.5x, memory flat.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import python_calamine  # noqa: E402
from api import Client, gunicorn, scratch_database  # noqa: E402  (bench/ is on sys.path when run as a script)
from sqlalchemy import func, insert, select, text  # noqa: E402

from app.db import Database  # noqa: E402
from app.demo import SMX, SMX_COUNTIES  # noqa: E402
from app.domain.deadlines import CHINA  # noqa: E402
from app.domain.ledger_layouts import LAYOUTS, export_columns, export_table, heights, merged_columns  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import LedgerImport, Plan, Problem, Task, TaskEvent, Unit, User  # noqa: E402
from app.schemas import PlanIn, UnitIn, UserIn  # noqa: E402
from app.services import ledger, org, plans  # noqa: E402
from app.services.chain import head_as_of  # noqa: E402
from app.services.errors import Invalid  # noqa: E402
from app.services.ledger.export import Frame, Sheet, csv_file, export_ledger, iter_export_problems  # noqa: E402
from app.services.ledger.imports import FileProgress  # noqa: E402
from app.services.ledger.reading import parse_workbook  # noqa: E402
from tests.fixtures.ledgers.generated import hostile_merges, large_ledger  # noqa: E402

PASSWORD = "bench-password"
NOW = datetime(2022, 6, 8, 2, 0, tzinfo=UTC)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def figure(name: str, value: float, baseline_name: str, baseline: float, goal: float | None = None) -> None:
    ratio = value / baseline if baseline else float("inf")
    verdict = "" if goal is None else ("  ok" if ratio <= goal else f"  OVER the {goal:g}x goal")
    print(f"{name:<34} {value * 1000:9.1f} ms   {baseline_name:<34} {baseline * 1000:9.1f} ms   {ratio:5.2f}x{verdict}")


# ---- the organisation -----------------------------------------------------------------
def setup(url: str) -> tuple[int, int]:
    """The Sanmenxia bureau and its seven county bureaus, one supervisor; returns
    (supervisor id, city unit id)."""
    upgrade(url)
    db = Database(url)
    try:
        city = org.create_unit(db, None, UnitIn(name=SMX, kind="市级"))
        for name in SMX_COUNTIES.values():
            org.create_unit(db, None, UnitIn(name=name, kind="县级", parent_id=city.id))
        user = org.create_user(
            db,
            None,
            UserIn(username="bench_deputy", password=PASSWORD, unit_id=city.id, role="supervisor", position="deputy"),
        )
        return user.id, city.id
    finally:
        db.dispose()


def new_plan(db: Database, user: User) -> int:
    return plans.create_plan(db, user, PlanIn(title=f"台账基准 {uuid.uuid4().hex[:6]}", issued_on=date(2022, 6, 7))).id


def calamine_read(data: bytes) -> int:
    with python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)) as wb:
        sheet = wb.get_sheet_by_index(0)
        values = sheet.to_python(skip_empty_area=False)
        sheet.merged_cell_ranges  # noqa: B018  (read, as the app reads it)
    return len(values)


# ---- raw insert: the floor of an import ---------------------------------------------------
def raw_insert(db: Database, user: User, plan_id: int, draft_rows: list[dict]) -> None:
    """The rows an import writes, inserted with no checks and no round trip for ids:
    problems and tasks get their ids assigned here (max + 1 …), so it is three plain
    multi-row INSERTs per thousand problems (the driver's executemany), one transaction;
    PostgreSQL's sequences are moved past them afterwards."""
    problems, tasks = Problem.__table__, Task.__table__
    with db.transaction() as s:
        conn = s.connection()
        children = [u.id for u in s.scalars(select(Unit).where(Unit.name.in_(SMX_COUNTIES.values())))]
        next_problem = (conn.scalar(select(func.max(problems.c.id))) or 0) + 1
        next_task = (conn.scalar(select(func.max(tasks.c.id))) or 0) + 1
        for start in range(0, len(draft_rows), plans.ADD_CHUNK):
            chunk = draft_rows[start : start + plans.ADD_CHUNK]
            problem_rows = [
                {
                    "id": next_problem + i,
                    "plan_id": plan_id,
                    "seq": line["seq"],
                    "category": line["category"],
                    "nature": line["nature"],
                    "title": line["title"],
                    "description": line["problem"]["description"],
                    "source": "",
                    "measures": line["problem"]["measures"],
                    "deadline_text": line["deadline_text"],
                    "deadline_kind": "date" if line["due_at"] else "immediate",
                    "due_at": datetime.fromisoformat(line["due_at"]) if line["due_at"] else None,
                    "remarks": "",
                    "created_by_id": user.id,
                    "created_at": NOW,
                }
                for i, line in enumerate(chunk)
            ]
            next_problem += len(chunk)
            conn.execute(insert(problems), problem_rows)
            task_rows = []
            for row, line in zip(problem_rows, chunk, strict=True):
                for unit_id in line["problem"].get("unit_ids") or children:
                    task_rows.append(
                        {
                            "id": next_task + len(task_rows),
                            "problem_id": row["id"],
                            "plan_id": plan_id,
                            "unit_id": unit_id,
                            "state": "identified",
                            "deadline_kind": row["deadline_kind"],
                            "due_at": row["due_at"],
                            "deadline_text": line["deadline_text"],
                            "version": 1,
                            "created_at": NOW,
                            "updated_at": NOW,
                            "active_since": NOW,
                            "swept_until": NOW,
                            "next_action_at": NOW,
                        }
                    )
            next_task += len(task_rows)
            conn.execute(insert(tasks), task_rows)
            conn.execute(
                insert(TaskEvent.__table__),
                [
                    {
                        "task_id": t["id"],
                        "seq": 1,
                        "kind": "created",
                        "from_state": None,
                        "to_state": "identified",
                        "actor_id": user.id,
                        "at": NOW,
                        "comment": "",
                        "data": {},
                        # the same columns as the import's rows; the hash a constant (computing it is the import's work)
                        "chain_alg": "sm3",
                        "chain_prev": None,
                        "chain_hash": "0" * 64,
                    }
                    for t in task_rows
                ],
            )
        if not db.is_sqlite:
            for table in ("problems", "tasks"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )


# ---- the figures ----------------------------------------------------------------------------
def bench_read(data: bytes, runs: int) -> None:
    ours, floor = [], []
    for _ in range(runs):
        floor.append(timed(lambda: calamine_read(data))[0])
        ours.append(timed(lambda: parse_workbook(data))[0])
    figure("read: parse_workbook", median(ours), "python-calamine read", median(floor), 3)


def bench_import(url: str, user_id: int, data: bytes, runs: int, tmp: Path) -> None:
    db = Database(url)
    progress = FileProgress(tmp / "progress")
    try:
        user = db.session().get(User, user_id)
        previews, jobs, raws, tasks = [], [], [], 0
        for run in range(runs):
            pid = new_plan(db, user)
            took, preview = timed(lambda: ledger.preview_import(db, user, pid, io.BytesIO(data), 1 << 30, NOW))  # noqa: B023
            previews.append(took)
            assert preview["errors_count"] == 0, preview["rows"][:3]
            ledger.commit_import(db, user, pid, preview["token"], NOW)
            import_id = ledger.import_id(db, preview["token"])
            kept = db.session().get(LedgerImport, import_id).rows
            draft_rows = [shown | stored for shown, stored in zip(preview["rows"], kept, strict=True)]
            db.session().rollback()
            raw_plan = new_plan(db, user)
            job = lambda: ledger.run_import(db, progress, import_id, NOW)  # noqa: B023, E731
            raw = lambda: raw_insert(db, user, raw_plan, draft_rows)  # noqa: B023, E731
            if run % 2:  # alternate which goes first: the database grows and checkpoints as they run
                raws.append(timed(raw)[0])
                took, state = timed(job)
            else:
                took, state = timed(job)
                raws.append(timed(raw)[0])
            assert state == "done", state
            jobs.append(took)
            tasks = db.session().scalar(select(func.count()).select_from(Task).where(Task.plan_id == pid))
            db.session().rollback()
        problems = len(draft_rows)
        log(f"import: {problems} problems, {tasks} tasks, {tasks} history entries per run")
        figure(f"import job ({problems} problems)", median(jobs), "raw insert of the same rows", median(raws), 2)
        figure("preview (read, resolve, keep)", median(previews), "raw insert of the same rows", median(raws))
    finally:
        db.dispose()


def bench_hostile(url: str, user_id: int, data: bytes, runs: int) -> None:
    db = Database(url)
    try:
        user = db.session().get(User, user_id)
        pid = new_plan(db, user)
        hostile = hostile_merges()
        refused, normal, cpu = [], [], []
        for _ in range(runs):
            c0, t0 = time.process_time(), time.perf_counter()
            try:
                ledger.preview_import(db, user, pid, io.BytesIO(hostile), 1 << 30, NOW)
                raise AssertionError("the hostile file was accepted")
            except Invalid:
                pass
            refused.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            normal.append(timed(lambda: ledger.preview_import(db, user, pid, io.BytesIO(data), 1 << 30, NOW))[0])
        log(f"hostile file: {len(hostile)} bytes, refused after {median(cpu) * 1000:.1f} ms of CPU")
        figure("hostile file refused", median(refused), "normal preview", median(normal))
    finally:
        db.dispose()


def multipart(field: str, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def bench_web(url: str, user_id: int, data: bytes) -> None:
    db = Database(url)
    try:
        pid = new_plan(db, db.session().get(User, user_id))
    finally:
        db.dispose()
    with gunicorn(url, 2) as port:
        client = Client(port)
        login = {"username": "bench_deputy", "password": PASSWORD}
        status, body = client.call("POST", "/api/v1/auth/token", body=login)
        token = json.loads(body)["token"]
        payload, ctype = multipart("file", "台账.xlsx", data)
        t0 = time.perf_counter()
        client.conn.request(
            "POST",
            f"/api/v1/plans/{pid}/ledger/preview",
            body=payload,
            headers={"Authorization": f"Bearer {token}", "Content-Type": ctype},
        )
        resp = client.conn.getresponse()
        preview = json.loads(resp.read())
        previewed = time.perf_counter() - t0
        assert resp.status == 200, preview
        t0 = time.perf_counter()
        status, body = client.call("POST", f"/api/v1/plans/{pid}/ledger/commit", token, {"token": preview["token"]})
        answered = time.perf_counter() - t0
        assert status == 202, body
        polls, state = 0, json.loads(body)
        while state["state"] not in ("done", "failed"):
            time.sleep(0.05)
            polls += 1
            state = json.loads(client.call("GET", f"/api/v1/plans/{pid}/ledger/imports/{preview['token']}", token)[1])
        finished = time.perf_counter() - t0
        assert state["state"] == "done", state
        print(
            f"web: preview {previewed * 1000:.0f} ms; commit answered {status} in {answered * 1000:.1f} ms; "
            f"job done {finished * 1000:.0f} ms after it "
            f"({polls} polls, last progress {state['done']}/{state['total']})"
        )


def export_rows(n: int, unit_id: int) -> list[dict]:
    """``n`` problems of ten per category, each one task of ``unit_id``, as raw_insert takes them."""
    return [
        {
            "seq": i + 1,
            "category": f"第{i // 10 + 1}类问题",
            "nature": "individual",
            "title": f"问题{i + 1}",
            "deadline_text": "6月20日",
            "due_at": NOW.isoformat(),
            "problem": {
                "description": f"第{i + 1}户农村危房改造档案资料填写不规范，鉴定意见缺少签名。",
                "measures": "逐户核查档案，补齐鉴定意见签名，建立台账，实行销号管理。",
                "unit_ids": [unit_id],
            },
        }
        for i in range(n)
    ]


def bench_export(url: str, user_id: int, n: int, runs: int) -> None:
    db = Database(url)
    try:
        user = db.session().get(User, user_id)
        with db.transaction() as s:
            county = s.scalar(select(Unit.id).where(Unit.name == next(iter(SMX_COUNTIES.values()))))
        sizes = {}  # rows -> plan id: the large plan, and one a tenth of it for the memory
        for size in sorted({max(n // 10, 1), n}):
            sizes[size] = pid = new_plan(db, user)
            took, _ = timed(lambda: raw_insert(db, user, pid, export_rows(size, county)))  # noqa: B023
            log(f"export: {size} problems with a task each written in {took:.1f} s")
        if not db.is_sqlite:
            with db.engine.connect() as conn:  # as autovacuum would, before anyone exports
                conn.execute(text("ANALYZE problems, tasks, task_events"))
                conn.commit()
        pid = sizes[n]
        plan = db.session().get(Plan, pid)
        head_took, head = timed(lambda: head_as_of(db.session(), as_of=NOW, plan_id=pid))
        db.session().rollback()
        log(f"export: the chain head the export prints, of {head.tasks} tasks, took {head_took * 1000:.0f} ms")
        export = lambda size, key, fmt: export_ledger(db, user, sizes[size], key, fmt, NOW)  # noqa: E731
        for key in ("yuzhou", "sanmenxia"):
            layout = LAYOUTS[key]
            read, problems = timed(lambda: list(iter_export_problems(db.session(), user, plan)))
            db.session().rollback()
            table = export_table(layout, problems, with_key=True)
            del problems
            sheet = floor_sheet(plan, user, layout, head.line())
            cells = written_cells(layout, table)
            ours, floor, grown, loads = [], [], [], []
            for run in range(runs):
                mine = lambda: closed(export(n, key, "xlsx"))  # noqa: B023, E731
                theirs = lambda: plain_xlsxwriter(sheet, cells, table.merges)  # noqa: B023, E731
                loads.append(os.getloadavg()[0])
                if run % 2:
                    floor.append(timed(theirs)[0])
                with peak_rss() as rss:
                    ours.append(timed(mine)[0])
                grown.append(rss.grown)
                if not run % 2:
                    floor.append(timed(theirs)[0])
                db.session().rollback()
            with peak_rss() as small:
                closed(export(min(sizes), key, "xlsx"))
            db.session().rollback()
            figure(
                f"export {key} ({n} rows, whole)", median(ours), "xlsxwriter constant_memory alone", median(floor), 1.5
            )
            print(
                f"export {key} runs: "
                + ", ".join(f"{a / b:.2f}x" for a, b in zip(ours, floor, strict=True))
                + f" (load {min(loads):.1f}-{max(loads):.1f})"
            )
            log(
                f"export {key}: of which reading the rows {read * 1000:.0f} ms and the chain head "
                f"{head_took * 1000:.0f} ms (the floor writes the same cells, handed to it in memory)"
            )
            print(
                f"export {key} memory: peak RSS grew {small.grown / 1e6:.1f} MB at {min(sizes)} rows, "
                f"{max(grown) / 1e6:.1f} MB at {n} rows"
            )
        took = [timed(lambda: closed(export(n, "sanmenxia", "csv")))[0] for _ in range(runs)]
        db.session().rollback()
        figure(
            f"export csv ({n} rows, whole)",
            median(took),
            "csv.writer alone",
            median([timed(lambda: csv_file(table))[0] for _ in range(runs)]),  # the same cells, and the key
        )
        for key in ("yuzhou", "sanmenxia"):
            mem = {size: peak_memory(lambda: closed(export(size, key, "xlsx"))) for size in sorted(sizes)}  # noqa: B023
            db.session().rollback()
            print(
                f"export {key} tracemalloc peak: " + ", ".join(f"{m / 1e6:.1f} MB at {k} rows" for k, m in mem.items())
            )
        log(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        db.dispose()


def closed(export) -> None:
    export.content.close()


class peak_rss:
    """How far this process's peak resident memory rose above where it stood when the
    block began (Linux: the peak is reset first through /proc/self/clear_refs); 0 elsewhere."""

    grown = 0

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._start = _status("VmRSS")
        except OSError:
            self._start = None
        return self

    def __exit__(self, *exc) -> None:
        if self._start is not None:
            self.grown = max(_status("VmHWM") - self._start, 0)


def _status(field: str) -> int:
    """A /proc/self/status figure, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(field)


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes allocated by Python while ``fn`` runs (tracemalloc slows it: not timed)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def floor_sheet(plan: Plan, user: User, layout, chain: str) -> Sheet:
    """The sheet export_ledger writes for ``plan`` as of NOW (title, unit, day, chain head)."""
    day = NOW.astimezone(CHINA).date()
    return Sheet(
        layout=layout,
        title=f"{plan.title}（{plan.doc_number}）" if plan.doc_number else plan.title,
        unit=user.unit.name,
        day=f"{day.year}年{day.month}月{day.day}日",
        plan_id=plan.id,
        chain=chain,
    )


def written_cells(layout, table) -> list[tuple[float, list[str | None]]]:
    """Each row's height and cells exactly as the export writes them: a merged range's
    cells below its first row blank (None)."""
    height = heights(export_columns(layout, with_key=True))
    merged = set(merged_columns(layout))
    below_first = {r for first, last, _ in table.merges for r in range(first + 1, last + 1)}
    return [
        (height(values), [None if r in below_first and c in merged else v for c, v in enumerate(values)])
        for r, values in enumerate(table.rows)
    ]


def plain_xlsxwriter(sheet: Sheet, cells, merges, out: IO[bytes] | None = None) -> None:
    """The floor: the same workbook (the export's Frame: formats, title, header, footnote,
    chain head, print settings) into a temporary file, and the same cells with the same
    formats and row heights written through xlsxwriter's own public calls (set_row,
    write_string, write_blank) in constant-memory mode, handed to it in memory; the same
    merged ranges added. ``out``: the file to write (a temporary file otherwise)."""
    with tempfile.TemporaryFile() if out is None else nullcontext(out) as out:
        frame = Frame(out, sheet)
        ws, formats, first = frame.ws, frame.formats, frame.first_row
        row = first
        for height, values in cells:
            ws.set_row(row, height)
            for col, value in enumerate(values):
                if value:
                    ws.write_string(row, col, value, formats[col])
                else:
                    ws.write_blank(row, col, None, formats[col])
            row += 1
        for top, bottom, col in merges:
            ws.merge.append((first + top, col, first + bottom, col))
        frame.close(row)


@contextmanager
def backend(name: str, tmp: Path):
    if name == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
    else:
        admin = os.environ.get("BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        with scratch_database(admin) as url:
            yield url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problems", type=int, default=10_000)
    p.add_argument("--export-rows", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--skip", default="", help="comma-separated: read,import,hostile,web,export")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    log(f"generating an annex-layout ledger of {args.problems} problems")
    data = large_ledger(args.problems)
    log(f"{len(data) / 1e6:.1f} MB; load average {os.getloadavg()[0]:.2f}")
    if "read" not in skip:
        bench_read(data, args.runs)
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="rectify_ledger_bench_") as tmp, backend(name, Path(tmp)) as url:
            print(f"--- {name}")
            user_id, _ = setup(url)
            if "import" not in skip:
                bench_import(url, user_id, data, args.runs, Path(tmp))
            if "hostile" not in skip:
                bench_hostile(url, user_id, data, args.runs)
            if "web" not in skip:
                bench_web(url, user_id, data)
            if "export" not in skip:
                bench_export(url, user_id, args.export_rows, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
