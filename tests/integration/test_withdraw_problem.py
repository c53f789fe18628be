"""Withdrawing a problem (撤销问题) from its page: every task not yet struck off becomes
withdrawn through the state table, with the reason in its history; nothing is deleted,
closed tasks stay closed, withdrawn tasks leave the open and overdue counts, and their
reminders and escalation ladder stop. Late and messy: the problem is withdrawn after its
deadline has passed and its tasks have already climbed the ladder."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app import jobs
from app.demo import SMX_COUNTIES
from app.models import Notification, Task, TaskEvent
from tests.integration.test_authoring_pages import flashes, follow, unit_id
from tests.integration.test_web_security import PNG, Browser, text

pytestmark = pytest.mark.presigned

REASON = "与第3项问题重复，并入该项整改"
OVERDUE = datetime(2022, 6, 22, 1, 5, tzinfo=UTC)  # Wed 09:05 China time, two working days past 6月20日
A_WEEK_LATER = datetime(2022, 6, 29, 1, 5, tzinfo=UTC)  # level 3 and nags would be due by now


def problem_for(api, keys: list[str], deadline: str = "6月20日") -> tuple[int, dict[str, int]]:
    units = [unit_id(api, SMX_COUNTIES[k]) for k in keys]
    body = {"nature": "common", "title": "档案资料不规范", "deadline": deadline, "unit_ids": units}
    r = api.post("/plans/1/problems", "smx_deputy", json=body)
    assert r.status_code == 201, r.get_json()
    pid = r.get_json()["id"]
    items = api.get("/tasks", "smx_deputy", query_string={"plan_id": 1, "per_page": 200}).get_json()["items"]
    mine = {t["unit_name"]: t["id"] for t in items if t["problem_id"] == pid}
    return pid, {k: mine[SMX_COUNTIES[k]] for k in keys}


def close(api, tid: int, unit_user: str) -> None:
    steps = [
        (unit_user, {"to": "in_progress", "version": 1}),
        (unit_user, {"to": "rectified", "comment": "已整改", "version": 2}),
        ("smx_deputy", {"to": "verified", "version": 3}),
        ("smx_head", {"to": "closed", "version": 4}),
    ]
    for i, (who, body) in enumerate(steps):
        if i == 1:
            up = api.post(f"/tasks/{tid}/evidence", unit_user, data={"file": (io.BytesIO(PNG), "a.png")})
            assert up.status_code == 201
        assert api.post(f"/tasks/{tid}/transitions", who, json=body).status_code == 200


def figures(api) -> dict:
    return api.get("/plans/1", "smx_deputy").get_json()["figures"]


def sweep(app, clock, at: datetime) -> None:
    clock.now = at
    with app.app_context():
        jobs.tick(app.extensions["rectify"], at)


def count(app, model, *where) -> int:
    with app.app_context():
        return app.extensions["rectify"].db.session().scalar(select(func.count()).select_from(model).where(*where))


def test_a_withdrawn_problem_keeps_its_tasks_with_the_reason_in_each_history_and_closed_ones_stay_closed(app, api):
    pid, tasks = problem_for(api, ["lushi", "hubin", "mianchi"])
    close(api, tasks["mianchi"], "mianchi_handler")
    assert api.post(f"/tasks/{tasks['hubin']}/transitions", "hubin_handler", json={"to": "in_progress", "version": 1})
    before = figures(api)
    deputy = Browser(app, "smx_deputy")
    page = text(deputy.get(f"/problems/{pid}"))
    assert 'id="withdraw-form"' in page
    r = deputy.post(f"/problems/{pid}/withdraw", {"reason": REASON})
    assert "2 项任务不再计入未办结数" in " ".join(flashes(follow(deputy, r)))

    states = {k: api.get(f"/tasks/{t}", "smx_deputy").get_json()["state"] for k, t in tasks.items()}
    assert states == {"lushi": "withdrawn", "hubin": "withdrawn", "mianchi": "closed"}
    for key in ("lushi", "hubin"):
        last = api.get(f"/tasks/{tasks[key]}/history", f"{key}_handler").get_json()[-1]
        assert (last["to_state"], last["comment"], last["actor_name"] is not None) == ("withdrawn", REASON, True)
        page = text(Browser(app, f"{key}_handler").get(f"/tasks/{tasks[key]}"))
        assert "已撤销" in page and REASON in page
    after = figures(api)
    assert after["by_state"]["withdrawn"] == 2
    assert after["total"] == before["total"] - 2
    assert after["by_state"]["identified"] + after["by_state"]["in_progress"] == (
        before["by_state"]["identified"] + before["by_state"]["in_progress"] - 2
    )
    shown = text(deputy.get(f"/problems/{pid}"))
    assert "撤销理由：" + REASON in shown.replace("\n", "") and 'id="withdraw-form"' not in shown
    # nothing is deleted: the problem and all three tasks are still listed
    assert count(app, Task, Task.problem_id == pid) == 3
    assert 'data-state="withdrawn"' in shown and 'data-state="closed"' in shown


def test_an_overdue_problem_withdrawn_after_climbing_leaves_the_overdue_count_and_its_ladder_stops(app, api, clock):
    pid, tasks = problem_for(api, ["lushi", "hubin"])
    sweep(app, clock, OVERDUE)
    assert figures(api)["overdue"] >= 2
    climbed = count(app, TaskEvent, TaskEvent.task_id.in_(tasks.values()), TaskEvent.kind == "escalation")
    assert climbed >= 2, "the tasks had reached level 1 before the withdrawal"
    overdue_before = figures(api)["overdue"]
    r = api.post(f"/problems/{pid}/withdraw", "smx_deputy", json={"reason": REASON})
    assert r.status_code == 200 and sorted(r.get_json()["withdrawn"]) == sorted(tasks.values())
    assert figures(api)["overdue"] == overdue_before - 2
    outbox = count(app, Notification, Notification.item_type == "task", Notification.item_id.in_(tasks.values()))
    sweep(app, clock, A_WEEK_LATER)
    assert count(app, TaskEvent, TaskEvent.task_id.in_(tasks.values()), TaskEvent.kind == "escalation") == climbed
    assert (
        count(app, Notification, Notification.item_type == "task", Notification.item_id.in_(tasks.values())) == outbox
    )
    unsent = (Notification.status.in_(("pending", "held")), Notification.kind != "event")
    assert count(app, Notification, Notification.item_id.in_(tasks.values()), *unsent) == 0
    lushi = api.get("/tasks", "lushi_handler", query_string={"plan_id": 1, "overdue": True, "per_page": 200})
    assert tasks["lushi"] not in {t["id"] for t in lushi.get_json()["items"]}
    board = Browser(app, "smx_deputy").get("/dashboard?plan_id=1")
    assert board.status_code == 200


def test_withdrawing_is_refused_without_a_reason_to_the_unit_and_to_another_city_and_writes_nothing(app, api):
    pid, tasks = problem_for(api, ["lushi"])
    events = count(app, TaskEvent)
    deputy = Browser(app, "smx_deputy")
    r = deputy.post(f"/problems/{pid}/withdraw", {"reason": "  "})
    assert any("reason" in m for m in flashes(follow(deputy, r)))
    official = Browser(app, "lushi_handler")
    assert 'id="withdraw-form"' not in text(official.get(f"/problems/{pid}"))
    r = official.post(f"/problems/{pid}/withdraw", {"reason": REASON})
    assert any("只有方案下发单位的督办人员" in m for m in flashes(follow(official, r)))
    assert Browser(app, "yz_deputy").post(f"/problems/{pid}/withdraw", {"reason": REASON}).status_code == 404
    assert api.post(f"/problems/{pid}/withdraw", "lushi_head", json={"reason": REASON}).status_code == 403
    assert api.post(f"/problems/{pid}/withdraw", "smx_deputy", json={}).status_code == 422
    assert count(app, TaskEvent) == events
    assert api.get(f"/tasks/{tasks['lushi']}", "smx_deputy").get_json()["state"] == "identified"
    assert api.post(f"/problems/{pid}/withdraw", "smx_deputy", json={"reason": REASON}).status_code == 200
    again = api.post(f"/problems/{pid}/withdraw", "smx_deputy", json={"reason": REASON})
    assert again.status_code == 409 and "没有可撤销的任务" in again.get_json()["message"]
    # a withdrawn task takes no further move
    move = {"to": "in_progress", "version": 2, "comment": "继续"}
    assert api.post(f"/tasks/{tasks['lushi']}/transitions", "smx_deputy", json=move).status_code == 409
