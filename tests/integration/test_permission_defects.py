"""Regressions of issue 8's permission and state defects, each on SQLite and PostgreSQL:
who saw or did what they should not, and records changed in states where they no longer
may. Every refusal is checked to have written nothing."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import event, func, select

from app.demo import SMX_COUNTIES, YZ_TOWNS
from app.models import Evidence, ExtensionRequest, Obligation, SpotCheckItem, Submission, Task, TaskEvent, User
from app.services import dashboard
from tests.integration.test_web_security import PNG, Browser, World, text

pytestmark = pytest.mark.presigned  # not about signing in: tokens minted up front


@pytest.fixture
def world(app, api, clock) -> World:
    return World(app, api, clock)


def individual_problem_of_lushi(world: World) -> dict:
    """Problem 9 of the Sanmenxia plan: assigned to 卢氏县 alone."""
    problems = world.api.get("/plans/1/problems", "smx_deputy").get_json()
    p = next(p for p in problems if p["seq"] == 9)
    assert p["task_count"] == 1
    return p


# ---- seeing -------------------------------------------------------------------------------
def test_a_sibling_county_gets_404_for_a_problem_assigned_only_to_another_county(world):
    pid = individual_problem_of_lushi(world)["id"]
    assert world.api.get(f"/problems/{pid}", "hubin_handler").status_code == 404
    assert world.api.get(f"/problems/{pid}", "lushi_handler").status_code == 200
    assert world.api.get(f"/problems/{pid}", "smx_viewer").status_code == 200
    listed = [p["id"] for p in world.api.get("/plans/1/problems", "hubin_handler").get_json()]
    assert pid not in listed and len(listed) == 8, "the eight common problems, not 卢氏县's own"
    page = text(Browser(world.app, "hubin_handler").get("/plans/1"))
    assert "帮扶工作管理不规范" not in page


def test_a_county_sees_the_figures_of_its_own_tasks_not_the_citys(world):
    hubin = world.api.get("/plans/1", "hubin_handler").get_json()["figures"]
    city = world.api.get("/plans/1", "smx_viewer").get_json()["figures"]
    assert hubin["total"] == 8 and city["total"] == 7 * 8 + 1
    listed = next(p for p in world.api.get("/plans", "hubin_handler").get_json() if p["id"] == 1)
    assert listed["figures"]["total"] == 8


def test_the_spot_check_page_is_the_issuing_sides_a_checked_county_gets_404(world):
    hubin_task = world.task_of(1, SMX_COUNTIES["hubin"])
    world.close(hubin_task, "hubin_handler")
    deputy = Browser(world.app, "smx_deputy")
    assert deputy.post("/plans/1/spot-checks", {"size": "1", "seed": "7"}).status_code == 302
    item = world.value(SpotCheckItem.id, SpotCheckItem.task_id == hubin_task)
    deputy.post(f"/spot-check-items/{item}", {"passed": "1", "comment": "复核意见：材料齐全", "plan_id": "1"})
    for county in ("hubin_handler", "lushi_handler"):
        r = Browser(world.app, county).get("/plans/1/spot-checks")
        assert r.status_code == 404 and "复核意见" not in text(r), county
        assert "spot-checks" not in text(Browser(world.app, county).get("/plans/1")), "no link to it either"
    assert "复核意见" in text(Browser(world.app, "smx_viewer").get("/plans/1/spot-checks"))


def test_the_dashboard_counts_the_viewers_own_tasks_and_a_plan_not_seen_is_404(world):
    def total(username: str) -> int:
        def build(s):
            user = s.scalar(select(User).where(User.username == username))
            return dashboard.build(world.rt.db, user, world.clock.now, 1).figures.total

        return world.read(build)

    assert (total("hubin_handler"), total("smx_viewer")) == (8, 57)
    assert Browser(world.app, "hubin_handler").get("/dashboard?plan_id=1").status_code == 200
    assert Browser(world.app, "yz_deputy").get("/dashboard?plan_id=1").status_code == 404


@pytest.mark.parametrize("who", ["yz_deputy", "gucheng_handler"])
def test_the_submissions_of_a_plan_one_cannot_see_are_404_not_an_empty_list(world, who):
    world.obligation_for_lushi()
    r = world.api.get("/plans/1/submissions", who)
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert world.api.get("/plans/999/submissions", "smx_deputy").status_code == 404
    assert Browser(world.app, who).get("/submissions?plan_id=1").status_code == 404


# ---- doing --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target", ["all_units_under", "unit_ids"], ids=["a-yuzhou-unit-as-parent", "a-yuzhou-town-by-id"]
)
def test_a_city_supervisor_cannot_declare_obligations_for_another_citys_units(world, target):
    body = {"title": "周报", "schedule": "每周五"}
    if target == "all_units_under":
        body["all_units_under"] = world.unit_id("禹州市住房和城乡建设局")  # every Yuzhou township would owe
    else:
        body["unit_ids"] = [world.unit_id(SMX_COUNTIES["lushi"]), world.unit_id(YZ_TOWNS["gucheng"])]
    r = world.api.post("/plans/1/obligations", "smx_deputy", json=body)
    assert r.status_code == 422, r.get_json()
    assert "不在方案下发单位" in r.get_json()["message"]
    assert world.count(Obligation) == 0 and world.count(Submission) == 0


def test_the_other_city_cannot_even_find_the_plan_to_declare_obligations_in(world):
    r = world.api.post("/plans/1/obligations", "yz_deputy", json={"title": "周报", "schedule": "每周五"})
    assert r.status_code == 404
    assert world.count(Obligation) == 0


@pytest.mark.parametrize("state", ["rectified", "verified", "closed"])
def test_evidence_is_refused_once_the_task_left_the_units_hands(world, app, state):
    tid = world.task_of(1, SMX_COUNTIES["lushi"])
    steps = {"rectified": 2, "verified": 3, "closed": 4}[state]
    world.close(tid, "lushi_handler") if state == "closed" else _advance(world, tid, steps)
    assert world.value(Task.state, Task.id == tid) == state
    folder = app.extensions["rectify"].config.UPLOAD_DIR
    files, rows = world.files_under(folder), world.count(Evidence)
    r = world.api.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "补充.png")})
    assert r.status_code == 409, r.get_json()
    assert world.count(Evidence) == rows and world.files_under(folder) == files
    page = Browser(world.app, "lushi_handler")
    assert page.post(f"/tasks/{tid}/evidence", {"file": (io.BytesIO(PNG), "补充.png")}).status_code == 302
    assert world.count(Evidence) == rows and world.files_under(folder) == files
    assert 'id="upload"' not in text(page.get(f"/tasks/{tid}"))


def test_the_supervising_side_uploads_no_evidence_of_its_own(world):
    tid = world.task_of(1, SMX_COUNTIES["lushi"])
    r = world.api.post(f"/tasks/{tid}/evidence", "smx_deputy", data={"file": (io.BytesIO(PNG), "a.png")})
    assert r.status_code == 403 and world.count(Evidence) == 0


def _advance(world: World, tid: int, steps: int) -> None:
    """The first ``steps`` moves of World.close (1: started … 4: closed)."""
    moves = [
        ("lushi_handler", {"to": "in_progress", "version": 1}),
        ("lushi_handler", {"to": "rectified", "comment": "已整改", "version": 2}),
        ("smx_deputy", {"to": "verified", "version": 3}),
    ]
    for i, (who, body) in enumerate(moves[:steps]):
        if i == 1:
            up = world.api.post(f"/tasks/{tid}/evidence", who, data={"file": (io.BytesIO(PNG), "a.png")})
            assert up.status_code == 201, up.get_json()
        assert world.api.post(f"/tasks/{tid}/transitions", who, json=body).status_code == 200


@pytest.mark.parametrize("decision", [True, False], ids=["approve", "deny"])
def test_an_extension_is_not_decided_once_its_task_is_closed(world, decision):
    tid = world.task_of(1, SMX_COUNTIES["lushi"])
    r = world.api.post(f"/tasks/{tid}/extensions", "lushi_handler", json={"deadline": "9月30日", "reason": "雨季"})
    assert r.status_code == 201, r.get_json()
    req = r.get_json()["id"]
    world.close(tid, "lushi_handler")
    due, events = world.value(Task.due_at, Task.id == tid), world.count(TaskEvent, TaskEvent.task_id == tid)
    r = world.api.post(f"/extensions/{req}/decision", "smx_deputy", json={"approve": decision, "comment": "理由"})
    assert r.status_code == 409, r.get_json()
    assert world.value(ExtensionRequest.state, ExtensionRequest.id == req) == "pending"
    assert world.value(Task.due_at, Task.id == tid) == due
    assert world.count(TaskEvent, TaskEvent.task_id == tid) == events
    assert "extension_decision" not in text(Browser(world.app, "smx_deputy").get(f"/tasks/{tid}"))


def race(app, table: str, first: Callable[[], int], second: Callable[[], int]) -> list[int]:
    """Run ``first`` in a thread held just after it read ``table``, let ``second`` run to
    its end, then let ``first`` go on: the loser of a race that read before the winner
    committed. (SQLite serialises writers, so there the held one wins instead.) Returns
    both status codes, sorted."""
    engine = app.extensions["rectify"].db.engine
    read, done = threading.Event(), threading.Event()

    def hold(conn, cursor, statement, params, context, executemany):
        reads = statement.lstrip().startswith("SELECT") and f"FROM {table}" in statement
        if threading.current_thread().name == "held" and reads and not read.is_set():
            read.set()
            done.wait(5)  # SQLite: the held one has the write lock, so the other waits for it instead

    answers: list[int] = []
    event.listen(engine, "after_cursor_execute", hold)
    try:
        held = threading.Thread(target=lambda: answers.append(first()), name="held")
        held.start()
        assert read.wait(10)
        answers.append(second())
        done.set()
        held.join(30)
    finally:
        event.remove(engine, "after_cursor_execute", hold)
    return sorted(answers)


def test_of_two_concurrent_rectifications_the_loser_gets_409_not_upload_evidence(world, app):
    """The loser read the task before the winner committed and counted the evidence after
    it: the evidence was gone (attached to the winner's step), so it was told to upload
    some (422). Now the version is claimed first and the loser gets 409."""
    tid = world.task_of(1, SMX_COUNTIES["lushi"])
    _advance(world, tid, 1)
    up = world.api.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "a.png")})
    assert up.status_code == 201
    body = {"to": "rectified", "comment": "已整改", "version": 2}

    def rectify() -> int:
        return world.api.post(f"/tasks/{tid}/transitions", "lushi_deputy", json=body).status_code

    assert race(app, "tasks", rectify, rectify) == [200, 409]
    assert world.value(Task.state, Task.id == tid) == "rectified"
    assert world.count(TaskEvent, TaskEvent.task_id == tid, TaskEvent.to_state == "rectified") == 1
    attached = world.read(lambda s: s.scalar(select(func.count()).where(Evidence.event_id.is_not(None))))
    assert attached == 1


def test_of_two_supervisors_deciding_one_extension_at_once_one_gets_409(world, app):
    """Both read the request as pending; both used to write their decision (200, 200)."""
    tid = world.task_of(1, SMX_COUNTIES["lushi"])
    r = world.api.post(f"/tasks/{tid}/extensions", "lushi_handler", json={"deadline": "9月30日", "reason": "雨季"})
    req = r.get_json()["id"]

    def decide(who: str, approve: bool) -> Callable[[], int]:
        body = {"approve": approve, "comment": "意见"}
        return lambda: world.api.post(f"/extensions/{req}/decision", who, json=body).status_code

    assert race(app, "extension_requests", decide("smx_deputy", True), decide("smx_head", False)) == [200, 409]
    decided = world.count(
        TaskEvent, TaskEvent.task_id == tid, TaskEvent.kind.in_(("extension_approved", "extension_denied"))
    )
    assert decided == 1


def test_of_two_reports_handed_in_at_once_one_gets_409(world, app):
    sid = world.obligation_for_lushi()

    def submit(who: str) -> Callable[[], int]:
        return lambda: world.api.post(f"/submissions/{sid}/submit", who, data={"note": who, "version": "1"}).status_code

    assert race(app, "submissions", submit("lushi_handler"), submit("lushi_deputy")) == [200, 409]
    assert world.value(Submission.version, Submission.id == sid) == 2
