"""签收 and 转办 through the API: a county acknowledges a task or declines it with a reason,
the city insists, narrows or reassigns it, or splits a common problem's task; an
unacknowledged task climbs its own ladder (handler → head → the city) and stops when it is
acknowledged. Real database and sweep; the clock is moved by hand.

The calendar (default policy: 2 working days to acknowledge; levels 1, 2 and 3 one, two
and three working days after): a task assigned on Mon 2022-06-13 is to be acknowledged by
Wed 06-15 (reminded that morning); level 1 (the handler) is Thu 06-16, level 2 (the head)
Fri 06-17, level 3 (the city's supervisors) Mon 06-20.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app import jobs
from app.demo import SMX_COUNTIES
from app.domain.deadlines import CHINA
from app.models import Notification, User
from tests.integration.test_authoring_pages import flashes, follow, unit_id
from tests.integration.test_web_security import Browser, text

pytestmark = pytest.mark.presigned

MONDAY = datetime(2022, 6, 13, 2, 0, tzinfo=UTC)  # 10:00 China time
SUPERVISORS = {"smx_head", "smx_deputy", "smx_handler"}


def china(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2022, 6, day, hour - 8, minute, tzinfo=UTC)


def assign(api, clock, keys: list[str], deadline: str = "6月30日", at: datetime = MONDAY) -> dict[str, dict]:
    """The city assigns one problem to the counties ``keys`` at ``at``: their tasks by key."""
    clock.now = at
    units = [unit_id(api, SMX_COUNTIES[k]) for k in keys]
    body = {"nature": "common", "title": "危房改造档案不全", "deadline": deadline, "unit_ids": units}
    r = api.post("/plans/1/problems", "smx_deputy", json=body)
    assert r.status_code == 201, r.get_json()
    pid = r.get_json()["id"]
    items = api.get("/tasks", "smx_deputy", query_string={"plan_id": 1, "per_page": 200}).get_json()["items"]
    mine = {t["unit_name"]: t for t in items if t["problem_id"] == pid}
    return {k: mine[SMX_COUNTIES[k]] for k in keys}


def sweep(app, clock, at: datetime) -> None:
    clock.now = at
    with app.app_context():
        jobs.tick(app.extensions["rectify"], at)


def ladder_inbox(app, task_id: int, item_type: str) -> list[tuple[str, str]]:
    """(step, username) of the task's inbox rows of one ladder ("ack": 签收's; "task": its
    deadline's, with workflow events too) that are not cancelled, in order."""
    with app.app_context():
        s = app.extensions["rectify"].db.session()
        rows = s.execute(
            select(Notification.step, User.username)
            .join(User, User.id == Notification.recipient_id)
            .where(
                Notification.item_type == item_type,
                Notification.item_id == task_id,
                Notification.channel == "inbox",
                Notification.status != "cancelled",
            )
            .order_by(Notification.id)
        ).all()
        return [(step, who) for step, who in rows]


def ack_inbox(app, task_id: int) -> list[tuple[str, str]]:
    return ladder_inbox(app, task_id, "ack")


def reassigned_to_hubin(api, task: dict, version: int) -> dict:
    """The city's 转办 of ``task`` to 湖滨区 (经核实属湖滨区), accepted: the task as it now is."""
    body = {"unit_id": unit_id(api, SMX_COUNTIES["hubin"]), "reason": "经核实属湖滨区", "version": version}
    r = api.post(f"/tasks/{task['id']}/reassign", "smx_deputy", json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def history(api, task_id: int, who: str = "smx_deputy") -> list[dict]:
    return api.get(f"/tasks/{task_id}/history", who).get_json()


def test_a_task_awaits_its_acknowledgement_and_shows_who_acknowledged_it_and_when(api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    assert task["receipt"] == "pending" and task["acknowledged_by"] is None
    assert task["ack_due_at"] == "2022-06-15T15:59:59Z"  # the end of Wed 06-15 in China

    clock.now = china(14, 11)
    r = api.post(f"/tasks/{task['id']}/acknowledge", "lushi_handler", json={"version": task["version"]})

    assert r.status_code == 200, r.get_json()
    done = r.get_json()
    assert done["receipt"] == "acknowledged" and done["state"] == "identified"
    assert done["acknowledged_at"] == "2022-06-14T03:00:00Z"
    assert done["acknowledged_by"].endswith("（卢氏县住房和城乡建设局）")
    assert [e["kind"] for e in history(api, task["id"])] == ["created", "acknowledged"]
    again = api.post(f"/tasks/{task['id']}/acknowledge", "lushi_handler", json={"version": done["version"]})
    assert again.status_code == 409


def test_only_the_responsible_unit_acknowledges_or_declines(api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    for who in ("hubin_handler", "smx_deputy", "admin", "smx_viewer"):
        r = api.post(f"/tasks/{task['id']}/acknowledge", who, json={"version": 1})
        assert r.status_code in (403, 404), (who, r.get_json())
    r = api.post(f"/tasks/{task['id']}/decline", "lushi_handler", json={"reason": " ", "version": 1})
    assert r.status_code == 422
    assert api.get(f"/tasks/{task['id']}", "lushi_handler").get_json()["receipt"] == "pending"


def test_starting_the_work_acknowledges_the_task_and_says_so(api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    clock.now = china(14, 10)
    r = api.post(f"/tasks/{task['id']}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["receipt"] == "acknowledged"
    steps = [(e["kind"], e["data"]) for e in history(api, task["id"])]
    assert steps[1] == ("transition", {"move": "start", "acknowledged": True}) and len(steps) == 2
    assert r.get_json()["acknowledged_by"].startswith(api.get("/me", "lushi_handler").get_json()["full_name"])


def test_an_unacknowledged_task_climbs_its_own_ladder_and_stops_when_acknowledged(app, api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    tid = task["id"]
    sweep(app, clock, china(14))  # Tuesday: nothing due yet
    assert ack_inbox(app, tid) == []
    sweep(app, clock, china(15))
    assert ack_inbox(app, tid) == [("remind:day", "lushi_handler")]
    sweep(app, clock, china(16))
    assert ack_inbox(app, tid)[1:] == [("escalate:1", "lushi_handler")]
    sweep(app, clock, china(16, 15))  # a second sweep the same day adds nothing
    sweep(app, clock, china(17))
    assert sorted(ack_inbox(app, tid)[2:]) == [("escalate:2", "lushi_handler"), ("escalate:2", "lushi_head")]
    sweep(app, clock, china(20))
    level3 = sorted(who for step, who in ack_inbox(app, tid) if step == "escalate:3")
    assert level3 == sorted({"lushi_handler", "lushi_head"} | SUPERVISORS)
    shown = api.get(f"/tasks/{tid}", "smx_deputy").get_json()
    assert shown["ack_level"] == 3 and shown["escalation_level"] == 0 and shown["public_notice"] is False
    climbed = [e["comment"] for e in history(api, tid) if e["kind"] == "ack_escalation"]
    assert climbed == [
        "逾期未签收，督办升级至第1级（经办人）",
        "逾期未签收，督办升级至第2级（单位主要负责人）",
        "逾期未签收，督办升级至第3级（下发方案单位）",
    ]

    clock.now = china(20, 10)
    version = shown["version"]
    assert api.post(f"/tasks/{tid}/acknowledge", "lushi_head", json={"version": version}).status_code == 200
    before = ack_inbox(app, tid)
    for day in (21, 22, 23, 24):
        sweep(app, clock, china(day))
    assert ack_inbox(app, tid) == before  # no nag after the acknowledgement


def test_a_task_that_arrives_after_its_deadline_is_overdue_for_acknowledgement_at_the_level_in_force(app, api, clock):
    task = assign(api, clock, ["lushi"], deadline="6月10日", at=china(20, 10))["lushi"]
    assert task["ack_due_at"] == "2022-06-10T15:59:59Z"  # no later than its own deadline
    sweep(app, clock, china(20, 10, 5))
    steps = {step for step, _who in ack_inbox(app, task["id"])}
    assert steps == {"escalate:3"}  # only the level in force is sent, each person once
    climbed = [e["comment"] for e in history(api, task["id"]) if e["kind"] == "ack_escalation"]
    assert climbed[-1] == "逾期未签收，督办升级至第3级（下发方案单位）（补记：应于2022年6月15日升级）"


def decline(api, task: dict, who: str = "lushi_handler") -> dict:
    r = api.post(
        f"/tasks/{task['id']}/decline", who, json={"reason": "该片区已划归湖滨区管理", "version": task["version"]}
    )
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def inbox_subjects(api, who: str) -> list[str]:
    return [m["subject"] for m in api.get("/inbox", who).get_json()["items"]]


def test_a_declined_task_is_reassigned_to_another_unit_with_its_history(app, api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    clock.now = china(14, 10)
    declined = decline(api, task)
    assert declined["receipt"] == "declined"
    assert any(s.startswith("【拒收待处理】") for s in inbox_subjects(api, "smx_deputy"))
    sweep(app, clock, china(17))
    assert ack_inbox(app, task["id"]) == []  # declined: nothing is owed meanwhile

    clock.now = china(17, 11)
    moved = reassigned_to_hubin(api, task, declined["version"])
    assert moved["unit_name"] == SMX_COUNTIES["hubin"] and moved["receipt"] == "pending"
    assert moved["ack_due_at"] == "2022-06-21T15:59:59Z"  # two working days from Friday
    assert api.get(f"/tasks/{task['id']}", "lushi_handler").status_code == 404
    kinds = [(e["kind"], e["comment"]) for e in history(api, task["id"], "hubin_handler")]
    assert [k for k, _ in kinds] == ["created", "declined", "reassigned"]
    assert kinds[2][1] == "转办：由卢氏县住房和城乡建设局转至湖滨区住房和城乡建设局。经核实属湖滨区"
    assert any(s.startswith("【转办】") for s in inbox_subjects(api, "hubin_handler"))
    assert any(s.startswith("【转办】") for s in inbox_subjects(api, "lushi_handler"))
    acked = api.post(f"/tasks/{task['id']}/acknowledge", "hubin_handler", json={"version": moved["version"]})
    assert acked.status_code == 200


def test_a_declined_task_is_narrowed_and_the_unit_acknowledges_what_it_now_asks(api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    clock.now = china(14, 10)
    declined = decline(api, task)
    body = {"scope": "仅限官道口镇的12户", "reason": "其余农户已由湖滨区整改", "version": declined["version"]}
    r = api.post(f"/tasks/{task['id']}/narrow", "smx_deputy", json=body)
    assert r.status_code == 200, r.get_json()
    narrowed = r.get_json()
    assert narrowed["receipt"] == "pending" and narrowed["scope_note"] == "仅限官道口镇的12户"
    assert any(s.startswith("【范围已调整】") for s in inbox_subjects(api, "lushi_handler"))
    narrowed_row = history(api, task["id"])[-1]
    assert narrowed_row["kind"] == "narrowed" and narrowed_row["data"]["scope"] == "仅限官道口镇的12户"
    ok = api.post(f"/tasks/{task['id']}/acknowledge", "lushi_handler", json={"version": narrowed["version"]})
    assert ok.status_code == 200


def test_a_declined_task_the_city_insists_on_stands_and_cannot_be_declined_twice(app, api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    clock.now = china(14, 10)
    declined = decline(api, task)
    clock.now = china(15, 10)
    body = {"reason": "该片区仍属卢氏县", "version": declined["version"]}
    r = api.post(f"/tasks/{task['id']}/insist", "smx_deputy", json=body)
    assert r.status_code == 200, r.get_json()
    stands = r.get_json()
    assert stands["receipt"] == "insisted" and stands["unit_name"] == SMX_COUNTIES["lushi"]
    assert stands["ack_due_at"] == "2022-06-17T15:59:59Z"  # a fresh two working days
    assert any(s.startswith("【维持交办】") for s in inbox_subjects(api, "lushi_handler"))
    again = api.post(
        f"/tasks/{task['id']}/decline", "lushi_handler", json={"reason": "仍有异议", "version": stands["version"]}
    )
    assert again.status_code == 409
    sweep(app, clock, china(20))  # the fresh ladder's level 1 day (its reminder of 06-17 is folded into it)
    assert {step for step, _ in ack_inbox(app, task["id"])} == {"escalate:1"}
    assert [e["kind"] for e in history(api, task["id"])][-1] == "ack_escalation"


def test_only_the_issuing_side_decides_a_declined_task(api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    declined = decline(api, task)
    for who in ("lushi_head", "hubin_handler", "admin"):
        r = api.post(f"/tasks/{task['id']}/insist", who, json={"reason": "x", "version": declined["version"]})
        assert r.status_code in (403, 404), who
    r = api.post(f"/tasks/{task['id']}/insist", "smx_deputy", json={"reason": "x", "version": declined["version"] + 5})
    assert r.status_code == 409


def test_a_task_is_split_between_units_and_its_history_says_so(api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    units = [unit_id(api, SMX_COUNTIES[k]) for k in ("hubin", "yima")]
    clock.now = china(14, 10)
    body = {"unit_ids": units, "reason": "涉及三个县区", "version": task["version"]}
    r = api.post(f"/tasks/{task['id']}/split", "smx_deputy", json=body)
    assert r.status_code == 201, r.get_json()
    created = r.get_json()["created"]
    assert len(created) == 2
    for tid, key in zip(created, ("hubin", "yima"), strict=True):
        t = api.get(f"/tasks/{tid}", f"{key}_handler").get_json()
        assert t["receipt"] == "pending" and t["problem_id"] == task["problem_id"] and t["due_at"] == task["due_at"]
    last = history(api, task["id"])[-1]
    assert last["kind"] == "split" and "湖滨区住房和城乡建设局、义马市住房和城乡建设局" in last["comment"]
    twice = api.post(f"/tasks/{task['id']}/split", "smx_deputy", json=body | {"version": task["version"] + 1})
    assert twice.status_code == 409  # they have a task of this problem already


def due_of_a_task_assigned(api, clock, deadline: str, at: datetime) -> str:
    """When a task given to a county at ``at`` with ``deadline`` is due (a fresh problem)."""
    return assign(api, clock, ["mianchi"], deadline=deadline, at=at)["mianchi"]["due_at"]


def test_a_count_of_working_days_runs_again_from_the_day_the_new_unit_receives_the_task(api, clock):
    """转办 and 分办 of an 「10个工作日内」 task: the unit that gets it owes it ten working days
    from the day it got it, as any unit given a task that day; the history says so. A date
    as written stays (the split test above)."""
    task = assign(api, clock, ["lushi"], deadline="10个工作日内")["lushi"]
    clock.now = china(14, 10)
    declined = decline(api, task)
    friday = china(17, 11)
    fresh = due_of_a_task_assigned(api, clock, "10个工作日内", friday)
    assert fresh > task["due_at"], "the control: received four days later, due later"

    clock.now = friday
    moved = reassigned_to_hubin(api, task, declined["version"])
    assert (moved["due_at"], moved["deadline_text"]) == (fresh, "10个工作日内")
    day = datetime.fromisoformat(fresh).astimezone(CHINA)
    said = history(api, task["id"], "hubin_handler")[-1]["comment"]
    assert f"整改时限自湖滨区住房和城乡建设局收到之日起算，至{day:%Y年%m月%d日}。" in said, said

    clock.now = china(20, 10)  # Monday: 湖滨区 shares it with 义马市, which gets its own ten days
    shared = api.post(
        f"/tasks/{task['id']}/split",
        "smx_deputy",
        json={"unit_ids": [unit_id(api, SMX_COUNTIES["yima"])], "reason": "涉及两个县区", "version": moved["version"]},
    )
    assert shared.status_code == 201, shared.get_json()
    (yima,) = shared.get_json()["created"]
    monday = due_of_a_task_assigned(api, clock, "10个工作日内", china(20, 10))
    assert api.get(f"/tasks/{yima}", "yima_handler").get_json()["due_at"] == monday > fresh
    assert api.get(f"/tasks/{task['id']}", "hubin_handler").get_json()["due_at"] == fresh, "湖滨区 keeps its own"


def deadline_inbox(app, task_id: int) -> list[tuple[str, str]]:
    """The deadline ladder's reminders and escalations alone (not workflow events)."""
    return [(step, who) for step, who in ladder_inbox(app, task_id, "task") if step.startswith(("remind", "escalate"))]


def test_a_task_overdue_under_a_count_of_working_days_is_reassigned_with_a_deadline_ahead_and_a_fresh_ladder(
    app, api, clock
):
    """转办 of a 「2个工作日内」 task that is already overdue and on the 通报 list: the unit
    that gets it owes it two working days from the day it got it, so its deadline lies
    ahead, the task is off the ladder (level 0, not on the list) and climbs it again only
    once the new deadline has passed, from level 1; the history says to when.

    Assigned Mon 06-13, due Wed 06-15; levels 1, 2, 3 on Thu 06-16, Mon 06-20, Wed 06-22
    (one, three and five working days after). Reassigned Wed 06-22 at 10:00 (after that
    morning's level 3): due Fri 06-24, level 1 on Mon 06-27."""
    task = assign(api, clock, ["lushi"], deadline="2个工作日内")["lushi"]
    assert task["due_at"] == "2022-06-15T15:59:59Z"
    for day in (16, 17, 20, 21, 22):
        sweep(app, clock, china(day))
    overdue = api.get(f"/tasks/{task['id']}", "smx_deputy").get_json()
    assert (overdue["escalation_level"], overdue["public_notice"]) == (3, True), "the control: it climbed to the top"

    clock.now = china(22, 10)
    moved = reassigned_to_hubin(api, task, overdue["version"])
    assert moved["due_at"] == "2022-06-24T15:59:59Z" > clock.now.isoformat()
    assert moved["due_at"] == due_of_a_task_assigned(api, clock, "2个工作日内", china(22, 10))
    assert (moved["escalation_level"], moved["public_notice"]) == (0, False)
    said = history(api, task["id"], "hubin_handler")[-1]
    assert said["kind"] == "reassigned"
    assert "整改时限自湖滨区住房和城乡建设局收到之日起算，至2022年06月24日。" in said["comment"], said["comment"]
    before = deadline_inbox(app, task["id"])
    assert ("escalate:3", "lushi_head") in before and not any(who.startswith("hubin_") for _step, who in before)

    for day in (23, 24):  # ahead of the new deadline: no escalation (the last day's reminder at most)
        sweep(app, clock, china(day))
        shown = api.get(f"/tasks/{task['id']}", "hubin_handler").get_json()
        assert (shown["escalation_level"], shown["public_notice"]) == (0, False), day
    new = deadline_inbox(app, task["id"])[len(before) :]
    assert not any(step.startswith("escalate") for step, _who in new), new

    sweep(app, clock, china(27))  # the working day after the new deadline: level 1 again, to 湖滨区's people
    shown = api.get(f"/tasks/{task['id']}", "hubin_handler").get_json()
    assert (shown["escalation_level"], shown["public_notice"]) == (1, False)
    climbed = deadline_inbox(app, task["id"])[len(before) :]
    assert {step for step, _ in climbed if step.startswith("escalate")} == {"escalate:1"}
    assert {who for step, who in climbed if step == "escalate:1"} <= {"hubin_handler", "hubin_deputy"}
    assert any(step == "escalate:1" for step, _ in climbed)
    kinds = [e["kind"] for e in history(api, task["id"], "hubin_handler")]
    since = history(api, task["id"], "hubin_handler")[len(kinds) - kinds[::-1].index("reassigned") :]
    assert [e["comment"] for e in since if e["kind"] == "escalation"] == ["逾期督办升级至第1级"]


def test_a_started_task_is_no_longer_reassigned(api, clock):
    task = assign(api, clock, ["lushi"])["lushi"]
    api.post(f"/tasks/{task['id']}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1})
    hubin = unit_id(api, SMX_COUNTIES["hubin"])
    r = api.post(f"/tasks/{task['id']}/reassign", "smx_deputy", json={"unit_id": hubin, "reason": "x", "version": 3})
    assert r.status_code == 409


def test_a_unit_acknowledges_all_of_a_plans_tasks_at_once(api, clock):
    first = assign(api, clock, ["lushi"])["lushi"]
    clock.now = MONDAY
    body = {"nature": "individual", "title": "资金拨付滞后", "deadline": "6月30日", "unit_ids": [first["unit_id"]]}
    assert api.post("/plans/1/problems", "smx_deputy", json=body).status_code == 201
    r = api.post("/plans/1/acknowledge", "lushi_deputy")
    assert r.status_code == 200, r.get_json()
    done = set(r.get_json()["acknowledged"])
    assert first["id"] in done
    pending = api.get("/tasks", "lushi_deputy", query_string={"plan_id": 1, "per_page": 200}).get_json()["items"]
    assert all(t["receipt"] == "acknowledged" for t in pending if t["id"] in done)
    assert api.post("/plans/1/acknowledge", "lushi_deputy").status_code == 409


# ---- the same through the pages ----------------------------------------------------------------
def page_of(browser: Browser, tid: int) -> str:
    r = browser.get(f"/tasks/{tid}")
    assert r.status_code == 200
    return text(r)


def test_through_the_pages_a_county_declines_and_the_city_reassigns_narrows_or_insists(app, api, clock):
    tasks = assign(api, clock, ["lushi", "hubin", "yima"])
    county = {k: Browser(app, f"{k}_handler") for k in tasks}
    city = Browser(app, "smx_deputy")
    clock.now = china(14, 10)
    for key, t in tasks.items():
        page = page_of(county[key], t["id"])
        assert 'id="acknowledge-form"' in page and 'id="decline-form"' in page and "待签收" in page
        assert 'id="reassign-form"' not in page  # the city's
        r = county[key].post(f"/tasks/{t['id']}/decline", {"version": "1", "reason": "不属本单位职责"})
        assert "已拒收，等待下发单位处理。" in flashes(follow(county[key], r))
    work = text(city.get("/"))
    assert 'id="box-declined" data-count="3"' in work

    lushi = page_of(city, tasks["lushi"]["id"])
    assert all(f'id="{f}-form"' in lushi for f in ("insist", "narrow", "reassign", "split"))
    assert "已拒收（待下发单位处理）" in lushi
    # reassign 卢氏县's to 灵宝市
    lingbao = str(unit_id(api, SMX_COUNTIES["lingbao"]))
    r = city.post(f"/tasks/{tasks['lushi']['id']}/reassign", {"version": "2", "unit_id": lingbao, "reason": "属灵宝市"})
    assert f"已转办至{SMX_COUNTIES['lingbao']}。" in flashes(follow(city, r))
    assert county["lushi"].get(f"/tasks/{tasks['lushi']['id']}").status_code == 404
    moved = page_of(Browser(app, "lingbao_handler"), tasks["lushi"]["id"])
    assert "转办：由卢氏县住房和城乡建设局转至灵宝市住房和城乡建设局。属灵宝市" in moved
    assert 'id="acknowledge-form"' in moved
    # narrow 湖滨区's
    body = {"version": "2", "scope": "仅限湖滨区交口乡", "reason": "其余已由他县整改"}
    r = city.post(f"/tasks/{tasks['hubin']['id']}/narrow", body)
    assert "已调整整改范围，责任单位将收到通知。" in flashes(follow(city, r))
    hubin = page_of(county["hubin"], tasks["hubin"]["id"])
    assert 'id="scope-note">仅限湖滨区交口乡<' in hubin and 'id="decline-form"' in hubin
    # insist on 义马市's
    r = city.post(f"/tasks/{tasks['yima']['id']}/insist", {"version": "2", "reason": "经核实属义马市"})
    assert "已维持交办，责任单位将收到通知。" in flashes(follow(city, r))
    yima = page_of(county["yima"], tasks["yima"]["id"])
    assert "维持交办（待签收）" in yima and 'id="acknowledge-form"' in yima and 'id="decline-form"' not in yima
    r = county["yima"].post(f"/tasks/{tasks['yima']['id']}/acknowledge", {"version": "3"})
    assert "已签收。" in flashes(follow(county["yima"], r))
    assert 'id="acknowledged-by"' in page_of(county["yima"], tasks["yima"]["id"])
    assert 'id="box-declined" data-count="0"' in text(city.get("/"))


def test_a_county_acknowledges_all_of_a_plans_tasks_from_the_plan_page_and_its_queue_empties(app, api, clock):
    assign(api, clock, ["lushi"])
    lushi = Browser(app, "lushi_handler")
    work = text(lushi.get("/"))
    waiting = int(re.search(r'id="box-to_acknowledge" data-count="(\d+)"', work)[1])
    assert waiting >= 1
    plan = text(lushi.get("/plans/1"))
    assert 'id="acknowledge-all"' in plan and f"有 {waiting} 项任务待签收" in plan
    r = lushi.post("/plans/1/acknowledge", {})
    assert f"已签收{waiting}项任务。" in flashes(follow(lushi, r))
    assert 'id="box-to_acknowledge" data-count="0"' in text(lushi.get("/"))
    assert 'id="acknowledge-all"' not in text(lushi.get("/plans/1"))
    assert 'id="acknowledge-all"' not in text(Browser(app, "smx_deputy").get("/plans/1"))


def test_the_ledger_export_and_the_notice_say_who_acknowledged(app, api, clock):
    task = assign(api, clock, ["lushi"], deadline="6月14日")["lushi"]
    clock.now = china(14, 11)
    assert api.post(f"/tasks/{task['id']}/acknowledge", "lushi_head", json={"version": 1}).status_code == 200
    name = api.get("/me", "lushi_head").get_json()["full_name"] or "lushi_head"
    csv_rows = api.get("/plans/1/ledger.xlsx", "smx_deputy", query_string={"layout": "yuzhou"})
    assert csv_rows.status_code == 200
    sheet = load_workbook(io.BytesIO(csv_rows.data)).active
    header = [c.value for c in sheet[3]]
    col = header.index("签收情况")
    cells = [row[col].value for row in sheet.iter_rows(min_row=4) if row[3].value == "危房改造档案不全"]
    assert cells == [f"{name} 2022年6月14日签收"]
    clock.now = china(16, 10)  # overdue: a 督办单 exists
    notice = text(Browser(app, "smx_deputy").get(f"/tasks/{task['id']}/notice"))
    assert f'id="notice-receipt">{name}（卢氏县住房和城乡建设局）于2022-06-14 11:00签收<' in notice


def test_a_task_goes_only_to_a_unit_under_the_issuer_that_has_no_task_of_the_problem(api, clock):
    tasks = assign(api, clock, ["lushi", "hubin"])
    lushi = tasks["lushi"]

    def reassign(unit: int):
        body = {"unit_id": unit, "reason": "转办", "version": lushi["version"]}
        return api.post(f"/tasks/{lushi['id']}/reassign", "smx_deputy", json=body)

    assert reassign(tasks["hubin"]["unit_id"]).status_code == 409  # 湖滨区 has this problem already
    assert reassign(lushi["unit_id"]).status_code == 409  # it is 卢氏县's already
    outside = unit_id(api, "古城镇人民政府")  # a Yuzhou township: not under the city bureau
    assert reassign(outside).status_code == 404
    assert api.get(f"/tasks/{lushi['id']}", "lushi_handler").get_json()["version"] == lushi["version"]
