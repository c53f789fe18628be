"""What a task's deadline counts from, and the working-day calendar beyond the holiday package.

「N个工作日内」 counts from the day the unit received the task (unless the plan says from
its issue date), so a ledger imported weeks late is not overdue on arrival. In a year the
official calendar package does not cover (2027 as of this writing) deadlines are marked
provisional, and when the calendar changes (an admin entry, a year marked official, an
upgraded package) open deadlines are counted again into their history.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import chinese_calendar.constants
import pytest
from chinese_calendar.constants import Holiday

from app.demo import YZ_TOWNS
from app.domain import workcalendar
from app.jobs import tick
from app.models import Task
from tests.integration.test_ledger_io import imported, new_plan, preview, yuzhou_workbook
from tests.integration.test_pages import login

pytestmark = pytest.mark.presigned  # not about signing in: tokens minted up front

AUG_1_2022 = datetime(2022, 8, 1, 1, 30, tzinfo=UTC)  # Monday 09:30 in China, eight weeks after the issue date
JAN_4_2027 = datetime(2027, 1, 4, 1, 30, tzinfo=UTC)  # Monday 09:30 in China, in a year no package covers yet


def tasks_of(api, pid: int) -> list[dict]:
    return api.get("/tasks", "admin", query_string={"plan_id": pid, "per_page": 200}).get_json()["items"]


def history(api, tid: int) -> list[dict]:
    return api.get(f"/tasks/{tid}/history", "admin").get_json()


def gucheng(api) -> int:
    return next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == YZ_TOWNS["gucheng"])


def one_task(api, clock, when: datetime, deadline: str, issued_on: str, **plan_fields) -> dict:
    """A plan issued on `issued_on` whose one problem reaches 古城镇 at `when`."""
    clock.now = when
    body = {"title": "整改方案", "issued_on": issued_on} | plan_fields
    pid = api.post("/plans", "yz_deputy", json=body).get_json()["id"]
    problem = {"nature": "individual", "title": "档案不全", "deadline": deadline, "unit_ids": [gucheng(api)]}
    assert api.post(f"/plans/{pid}/problems", "yz_deputy", json=problem).status_code == 201
    [task] = tasks_of(api, pid)
    return task


# ---- N个工作日内 counts from receipt -----------------------------------------------------------------
def test_a_ledger_imported_long_after_the_issue_date_counts_its_working_days_from_the_import(api, clock, app):
    pid = new_plan(api, "yz_deputy", "2022-06-07")
    clock.now = AUG_1_2022
    data = yuzhou_workbook(
        [
            [1, "农村危房改造", "个性问题", "鉴定未完成", "逐户鉴定", "5个工作日内", "古城镇"],
            [2, "农村危房改造", "个性问题", "未挂牌", "补挂", "6月20日前", "古城镇"],
        ]
    )

    client = app.test_client()
    login(client, "yz_deputy")
    form = client.get(f"/plans/{pid}/import").get_data(as_text=True)
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    page = client.post(
        f"/plans/{pid}/import", data={"csrf_token": token, "file": (io.BytesIO(data), "台账.xlsx")}
    ).get_data(as_text=True)
    assert "5个工作日内（2022年8月8日）<small" in page and "自收到任务之日起算" in page

    body = preview(api, pid, "yz_deputy", data).get_json()
    assert [(r["due_at"][:10], r["deadline_basis"]) for r in body["rows"]] == [
        ("2022-08-08", "received"),
        ("2022-06-20", "fixed"),
    ]
    imported(api, pid, "yz_deputy", body["token"])

    counted, written = sorted(tasks_of(api, pid), key=lambda t: t["due_at"], reverse=True)
    assert (counted["deadline_text"], counted["due_at"][:10]) == ("5个工作日内", "2022-08-08")
    assert (counted["deadline_basis"], counted["deadline_counted_from"]) == ("received", "2022-08-01")
    assert counted["overdue"] is False and counted["colour"] is None
    # a date as written is as late as it really is: the ladder will show it
    assert (written["deadline_basis"], written["overdue"]) == ("fixed", True)

    client = app.test_client()
    login(client, "gucheng_handler")
    page = client.get(f"/tasks/{counted['id']}").get_data(as_text=True)
    assert "5个工作日内（2022年8月8日）" in page
    assert "自收到任务之日（2022年8月1日）起算" in page


def test_a_plan_may_count_from_its_issue_date_but_a_late_arrival_still_starts_on_time(api, clock):
    on_time = one_task(
        api, clock, datetime(2022, 6, 8, 1, 30, tzinfo=UTC), "5个工作日内", "2022-06-07", workdays_from="issued"
    )
    assert (on_time["due_at"][:10], on_time["deadline_basis"], on_time["deadline_counted_from"]) == (
        "2022-06-14",
        "issued",
        "2022-06-07",
    )

    late = one_task(api, clock, AUG_1_2022, "5个工作日内", "2022-06-07", workdays_from="issued")
    assert (late["due_at"][:10], late["deadline_basis"], late["overdue"]) == ("2022-08-08", "received", False)
    plan = api.get(f"/plans/{late['plan_id']}", "admin").get_json()
    assert plan["workdays_from"] == "issued"


def test_a_plan_counting_from_somewhere_unknown_is_refused_with_the_choices(api):
    r = api.post("/plans", "yz_deputy", json={"title": "t", "issued_on": "2022-06-07", "workdays_from": "signed"})

    assert r.status_code == 422
    assert "workdays_from" in r.get_data(as_text=True) and "received" in r.get_data(as_text=True)


# ---- provisional years ------------------------------------------------------------------------------
def test_a_2027_deadline_is_provisional_and_an_admin_holiday_moves_it_into_the_task_history(api, clock, app, rt):
    task = one_task(api, clock, JAN_4_2027, "5个工作日内", "2027-01-04")
    assert (task["due_at"][:10], task["calendar_provisional"]) == ("2027-01-11", True)  # Jan 5-8, Jan 11
    clock.now = datetime(2027, 1, 4, 3, 0, tzinfo=UTC)

    r = api.call(
        "PUT", "/calendar/overrides", "admin", json={"day": "2027-01-06", "is_workday": False, "note": "地方假日"}
    )

    assert r.status_code == 200 and r.get_json()["moved"] == 1
    after = api.get(f"/tasks/{task['id']}", "admin").get_json()
    assert (after["due_at"][:10], after["calendar_provisional"]) == ("2027-01-12", True)
    assert after["version"] == task["version"] + 1
    moved = history(api, task["id"])[-1]
    assert moved["kind"] == "deadline_moved"
    assert "2027-01-06 设为休息日（地方假日）" in moved["comment"]
    assert "由2027年01月11日改为2027年01月12日" in moved["comment"]
    assert moved["data"]["old_due_at"].startswith("2027-01-11T15:59:59")
    # the next sweep plans its reminders again with the new calendar
    s = rt.db.session()
    s.expire_all()
    assert s.get(Task, task["id"]).next_action_at <= clock.now

    client = app.test_client()
    login(client, "gucheng_handler")
    page = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'class="provisional"' in page and "暂定" in page
    assert "工作日历调整，时限重算" in page


def test_marking_2027_official_takes_away_the_provisional_mark(api, clock):
    task = one_task(api, clock, JAN_4_2027, "2027年3月31日", "2027-01-04")
    assert task["calendar_provisional"] is True
    years = dict((y["year"], y["source"]) for y in api.get("/calendar/years", "admin").get_json())
    assert years == {2027: "provisional", 2028: "provisional"}

    r = api.call("PUT", "/calendar/years/2027", "admin", json={"official": True})

    assert r.status_code == 200 and r.get_json() == {"year": 2027, "source": "admin", "moved": 0}
    assert api.get(f"/tasks/{task['id']}", "admin").get_json()["calendar_provisional"] is False
    assert api.call("PUT", "/calendar/years/2027", "yz_deputy", json={"official": False}).status_code == 403
    assert api.call("PUT", "/calendar/years/1999", "admin", json={"official": True}).status_code == 422


def test_an_extension_counted_in_working_days_moves_with_the_calendar_too(api, clock):
    task = one_task(api, clock, JAN_4_2027, "2027年1月8日", "2027-01-04")
    r = api.post(
        f"/tasks/{task['id']}/extensions", "gucheng_handler", json={"deadline": "10个工作日内", "reason": "待鉴定"}
    )
    assert r.status_code == 201, r.get_json()
    decided = api.post(f"/extensions/{r.get_json()['id']}/decision", "yz_deputy", json={"approve": True})
    assert decided.status_code == 200, decided.get_json()
    extended = api.get(f"/tasks/{task['id']}", "admin").get_json()
    assert (extended["deadline_text"], extended["due_at"][:10]) == ("10个工作日内", "2027-01-18")
    assert (extended["deadline_basis"], extended["deadline_counted_from"]) == ("requested", "2027-01-04")

    r = api.call("PUT", "/calendar/overrides", "admin", json={"day": "2027-01-15", "is_workday": False})

    assert r.get_json()["moved"] == 1
    assert api.get(f"/tasks/{task['id']}", "admin").get_json()["due_at"][:10] == "2027-01-19"


@pytest.fixture
def upgraded_package(monkeypatch):
    """What upgrading chinesecalendar to a release with 2027 does: its table gains the year.

    The days are made up for the test (the real 2027 notice is not out); the code under
    test asks the package as always, and only sees a bigger table after a restart
    (the coverage answer is cached per process, so the fixture clears it).
    """
    monkeypatch.setitem(chinese_calendar.constants.holidays, date(2027, 1, 1), Holiday.new_years_day.value)
    monkeypatch.setitem(chinese_calendar.constants.holidays, date(2027, 1, 7), Holiday.new_years_day.value)
    workcalendar._package_covers.cache_clear()
    yield
    workcalendar._package_covers.cache_clear()


def test_an_upgraded_calendar_package_settles_provisional_deadlines_at_the_next_tick(api, clock, rt, request):
    task = one_task(api, clock, JAN_4_2027, "5个工作日内", "2027-01-04")
    assert (task["due_at"][:10], task["calendar_provisional"]) == ("2027-01-11", True)
    request.getfixturevalue("upgraded_package")

    tick(rt, clock.now)

    after = api.get(f"/tasks/{task['id']}", "admin").get_json()
    assert (after["due_at"][:10], after["calendar_provisional"]) == ("2027-01-12", False)
    moved = history(api, task["id"])[-1]
    assert (moved["kind"], moved["actor_id"]) == ("deadline_moved", None)
    assert "工作日历已更新为正式安排" in moved["comment"]
    tick(rt, clock.now)
    assert history(api, task["id"])[-1]["seq"] == moved["seq"], "a settled deadline is not counted again"


def test_the_admin_page_says_where_each_year_comes_from_and_marks_a_year_official(app, clock):
    clock.now = JAN_4_2027
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/holidays").get_data(as_text=True)
    assert 'id="calendar-years"' in page and "暂定（工作日减去推算的法定节假日，未含调休）" in page

    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post("/admin/holidays/years/2027", data={"official": "1", "csrf_token": token})

    assert r.status_code == 302
    page = client.get("/admin/holidays").get_data(as_text=True)
    assert "正式（管理员已按通知录入）" in page
