"""A confirmed ledger import is a job: it answers at once, runs beside the request (a
Celery worker in the distributed mode), is picked up again by the tick when its message
was lost or its worker died, and writes once. And hostile files cost nothing."""

from __future__ import annotations

import html
import io
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app import jobs
from app.models import LedgerImport, Problem, Task, TaskEvent, User
from app.services.errors import Invalid
from app.services.ledger import guard, reading
from tests.fixtures.ledgers.generated import hostile_merges, large_ledger
from tests.integration.celery_fixtures import (
    REDIS_URL,
    Worker,
    redis_db,  # noqa: F401 (fixture)
    wait_for,
    worker_env,
)
from tests.integration.test_web_security import Browser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ledgers"

pytestmark = pytest.mark.presigned


def new_plan(api, as_user: str = "smx_deputy") -> int:
    r = api.post("/plans", as_user, json={"title": "导入作业测试方案", "issued_on": "2022-06-07"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def previewed(api, pid: int, data: bytes, as_user: str = "smx_deputy") -> str:
    r = api.post(f"/plans/{pid}/ledger/preview", as_user, data={"file": (io.BytesIO(data), "台账.xlsx")})
    assert r.status_code == 200 and r.get_json()["errors_count"] == 0, r.get_json()
    return r.get_json()["token"]


def status(api, pid: int, token: str, as_user: str = "smx_deputy") -> dict:
    return api.get(f"/plans/{pid}/ledger/imports/{token}", as_user).get_json()


def count(rt, model, *where) -> int:
    s = rt.db.session()
    try:
        return s.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        s.rollback()


def test_a_queued_import_whose_message_was_lost_is_run_by_a_later_tick(api, rt, clock, monkeypatch):
    pid = new_plan(api)
    token = previewed(api, pid, (FIXTURES / "sanmenxia.xlsx").read_bytes())
    monkeypatch.setattr(jobs, "submit_import", lambda *a: None)  # the broker lost it
    assert api.post(f"/plans/{pid}/ledger/commit", "smx_deputy", json={"token": token}).status_code == 202
    jobs.tick(rt, clock())
    assert status(api, pid, token)["state"] == "queued", "not before it had time to run"
    clock.advance(minutes=3)
    jobs.tick(rt, clock())
    done = status(api, pid, token)
    assert done["state"] == "done" and done["result"]["created_problems"] == 5, done
    assert count(rt, Problem, Problem.plan_id == pid) == 5


def test_an_import_whose_worker_died_runs_again_after_its_lease_and_writes_once(api, rt, clock, monkeypatch):
    pid = new_plan(api)
    token = previewed(api, pid, (FIXTURES / "sanmenxia.xlsx").read_bytes())
    monkeypatch.setattr(jobs, "submit_import", lambda *a: None)
    assert api.post(f"/plans/{pid}/ledger/commit", "smx_deputy", json={"token": token}).status_code == 202
    with rt.db.transaction() as s:  # a worker took it and was killed: its transaction rolled back
        s.execute(
            update(LedgerImport)
            .where(LedgerImport.token == token)
            .values(state="running", lease_until=clock() + timedelta(minutes=10))
        )
    clock.advance(minutes=5)
    jobs.tick(rt, clock())
    assert status(api, pid, token)["state"] == "running", "its lease still holds"
    clock.advance(minutes=6)
    jobs.tick(rt, clock())
    jobs.tick(rt, clock())
    assert status(api, pid, token)["state"] == "done"
    assert count(rt, Problem, Problem.plan_id == pid) == 5
    assert count(rt, Task, Task.plan_id == pid) == 35


def test_a_job_given_an_import_another_worker_took_does_nothing(api, rt, monkeypatch):
    pid = new_plan(api)
    token = previewed(api, pid, (FIXTURES / "sanmenxia.xlsx").read_bytes())
    monkeypatch.setattr(jobs, "submit_import", lambda *a: None)
    api.post(f"/plans/{pid}/ledger/commit", "smx_deputy", json={"token": token})
    import_id = rt.db.session().scalar(select(LedgerImport.id).where(LedgerImport.token == token))
    rt.db.session().rollback()
    assert [jobs.run_import(rt, import_id) for _ in range(2)] == ["done", "skipped"]
    assert count(rt, Problem, Problem.plan_id == pid) == 5


# ---- hostile files: refused before reading, and reading has a CPU budget -----------------
def test_a_2_kb_file_declaring_400_merged_ranges_over_50000_rows_is_refused_in_well_under_a_second(api, rt):
    data = hostile_merges()
    assert len(data) < 4096
    pid = new_plan(api)
    started = time.process_time()
    r = api.post(f"/plans/{pid}/ledger/preview", "smx_deputy", data={"file": (io.BytesIO(data), "台账.xlsx")})
    spent = time.process_time() - started
    assert r.status_code == 422 and "合并单元格" in r.get_json()["message"], r.get_json()
    assert spent < 0.25, f"{spent:.3f} s of CPU"
    assert count(rt, LedgerImport) == 0


def test_a_sheet_declaring_more_rows_than_a_ledger_can_have_is_refused_before_it_is_read():
    with pytest.raises(Invalid, match="声明的范围达 1048576 行"):
        guard.check_sheet("台账", b'<worksheet><dimension ref="A1:K1048576"/><sheetData/></worksheet>')
    with pytest.raises(Invalid, match="超过 50000 行"):
        guard.check_sheet(
            "台账", b'<worksheet><sheetData><row r="900000"><c r="A900000"/></row></sheetData></worksheet>'
        )
    with pytest.raises(Invalid, match="第 16384 列"):
        guard.check_sheet("台账", b'<worksheet><sheetData><row r="1"><c r="XFD1"/></row></sheetData></worksheet>')


def test_reading_stops_when_the_file_has_used_its_cpu_budget(monkeypatch):
    data = large_ledger(2000)
    monkeypatch.setattr(guard, "CPU_SECONDS", 0.0)
    with pytest.raises(Invalid, match="处理时间上限"):
        reading.parse_workbook(data, guard.Budget(0.0))
    assert len(reading.parse_workbook(data).rows) == 2000, "the default budget is ample for a real ledger"


# ---- the distributed mode: a real Celery worker runs it --------------------------------
@pytest.mark.parametrize("backend", ["postgres"])
def test_through_celery_the_confirmation_answers_at_once_and_a_worker_writes_the_import(
    app,
    api,
    rt,
    db_url,
    tmp_path,
    monkeypatch,
    redis_db,  # noqa: F811
):
    monkeypatch.setattr(rt.config, "REDIS_URL", REDIS_URL)  # the web side of the distributed mode,
    monkeypatch.setattr(app.extensions["celery"].conf, "broker_url", REDIS_URL)  # sending to the test's broker
    worker = Worker(worker_env(db_url, 1, tmp_path / "instance"), tmp_path / "worker.log", "imports")
    try:
        worker.wait_ready()
        pid = new_plan(api)
        token = previewed(api, pid, large_ledger(300))
        started = time.monotonic()
        r = api.post(f"/plans/{pid}/ledger/commit", "smx_deputy", json={"token": token})
        answered = time.monotonic() - started
        assert r.status_code == 202 and r.get_json()["state"] == "queued", r.get_json()
        assert answered < 1.0
        wait_for(lambda: status(api, pid, token)["state"] in ("done", "failed"), 60, "the worker's import")
        done = status(api, pid, token)
        assert done["state"] == "done", (done, worker.log()[-3000:])
        assert done["result"]["created_problems"] == 300 and done["done"] == 300
        assert count(rt, Problem, Problem.plan_id == pid) == 300
        assert count(rt, TaskEvent, TaskEvent.task_id.in_(select(Task.id).where(Task.plan_id == pid))) == count(
            rt, Task, Task.plan_id == pid
        ), "one history entry per task"
        assert worker.count("rectify.import_ledger", "succeeded") == 1
    finally:
        worker.kill()


def test_a_job_that_fails_after_the_request_says_why_in_the_readers_language(app, api, rt, clock, monkeypatch):
    """The job's refusal comes after the confirming request has answered: it is kept as
    its parts, so the result page and the API word it in the language of whoever reads it."""
    pid = new_plan(api)
    token = previewed(api, pid, (FIXTURES / "sanmenxia.xlsx").read_bytes())
    monkeypatch.setattr(jobs, "submit_import", lambda *a: None)
    assert api.post(f"/plans/{pid}/ledger/commit", "smx_deputy", json={"token": token}).status_code == 202
    with rt.db.transaction() as s:  # before the job runs, the deputy is made a viewer
        s.execute(update(User).where(User.username == "smx_deputy").values(role="viewer"))
    clock.advance(minutes=3)
    jobs.tick(rt, clock())
    assert count(rt, Problem, Problem.plan_id == pid) == 0, "nothing written"

    english = "Only the supervisors of the plan's issuing unit may import a ledger."
    chinese = "只有方案下发单位的督办人员可以导入台账。"
    reader = Browser(app, "smx_deputy")
    assert chinese in html.unescape(reader.get(f"/plans/{pid}/import/{token}").get_data(as_text=True))
    reader.get("/lang/en")
    page = html.unescape(reader.get(f"/plans/{pid}/import/{token}").get_data(as_text=True))
    assert english in page and chinese not in page
    assert reader.get(f"/plans/{pid}/import/{token}/status").get_json()["error"] == english
    path = f"/plans/{pid}/ledger/imports/{token}"
    assert api.get(path, "smx_deputy").get_json()["error"] == chinese
    said = api.get(path, "smx_deputy", headers={"Accept-Language": "en"}).get_json()
    assert (said["state"], said["error"]) == ("failed", english)
