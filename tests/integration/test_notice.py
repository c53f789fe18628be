"""督办单 as an official notice: addressed to the responsible unit, numbered per issuing
unit and year in the order the supervising side first opens it (三建督〔2022〕1号), the
number kept for reprints and never given twice, dated, with the issuer's contact, the
level in words and a QR code of the task's address. Both databases."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from app.demo import SMX, SMX_COUNTIES
from app.models import NoticeNumber
from tests.integration.test_pages import _csrf, login

pytestmark = pytest.mark.presigned

JUNE_21 = datetime(2022, 6, 21, 2, 0, tzinfo=UTC)  # the morning after the 6月20日 deadlines
NEXT_YEAR = datetime(2023, 1, 10, 2, 0, tzinfo=UTC)


def signed_in(app, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def overdue_tasks(api, username: str) -> list[int]:
    items = api.get("/tasks", username, query_string={"overdue": "true", "per_page": 200}).get_json()["items"]
    return [t["id"] for t in items]


def notice(client, task_id: int) -> str:
    r = client.get(f"/tasks/{task_id}/notice")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_data(as_text=True)


def number_on(page: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r'id="notice-number">(.*?)</p>', page).group(1)).removeprefix("督办编号：")


def test_notices_are_numbered_in_the_order_the_supervisor_first_opens_them_and_keep_their_number(app, api, clock, rt):
    clock.now = JUNE_21
    first, second = overdue_tasks(api, "smx_deputy")[:2]
    official = signed_in(app, "lushi_handler")
    lushi_task = overdue_tasks(api, "lushi_handler")[0]
    assert number_on(notice(official, lushi_task)) == "待督办单位签发", "the unit reading it gives no number"
    admin = signed_in(app, "admin")
    assert number_on(notice(admin, lushi_task)) == "待督办单位签发", "nor does the administrator"

    deputy = signed_in(app, "smx_deputy")
    assert number_on(notice(deputy, second)) == "三建督〔2022〕1号"
    assert number_on(notice(deputy, first)) == "三建督〔2022〕2号"
    clock.advance(days=3)
    head = signed_in(app, "smx_head")
    page = notice(head, second)
    assert number_on(page) == "三建督〔2022〕1号", "a reprint carries the same number"
    assert "2022年6月21日" in page, "and the date it was first issued"
    assert rt.db.session().scalar(select(func.count()).select_from(NoticeNumber)) == 2


def test_numbers_run_per_issuing_unit_and_start_again_each_year(app, api, clock):
    clock.now = JUNE_21
    deputy = signed_in(app, "smx_deputy")
    smx_tasks = overdue_tasks(api, "smx_deputy")
    assert number_on(notice(deputy, smx_tasks[0])) == "三建督〔2022〕1号"

    clock.now = NEXT_YEAR
    deputy = signed_in(app, "smx_deputy")  # a new day, a new sign-in
    assert number_on(notice(deputy, smx_tasks[1])) == "三建督〔2023〕1号"
    assert number_on(notice(deputy, smx_tasks[0])) == "三建督〔2022〕1号"
    yz = signed_in(app, "yz_deputy")
    yz_task = overdue_tasks(api, "yz_deputy")[0]
    assert number_on(notice(yz, yz_task)) == "禹建督〔2023〕1号", "another issuing unit counts on its own"


def test_the_notice_is_addressed_dated_signed_with_a_contact_the_level_in_words_and_a_qr_code(app, api, clock, rt):
    clock.now = NEXT_YEAR
    task = api.task_of("lushi_handler", overdue="true")
    page = notice(signed_in(app, "smx_deputy"), task["id"])
    assert f'id="addressee">{SMX_COUNTIES["lushi"]}：<' in page
    assert f"{SMX}<br>整改事项督办单" in page
    assert "2023年1月10日" in page
    assert re.search(r"联系人：王某某 · 联系电话：0398-2822101", page)
    level = re.search(r'id="notice-level">([^<]*)<', page).group(1)
    assert level in {
        "一级督办（提醒经办人、分管领导）",
        "二级督办（提醒单位主要领导）",
        "三级督办（列入通报）",
        "尚未升级",
    }
    assert 'src="data:image/svg+xml' in page and f"{rt.config.BASE_URL}/tasks/{task['id']}" in page


def test_the_admin_sets_a_units_notice_prefix_and_contact_and_the_next_notice_prints_them(app, api, clock, rt):
    clock.now = JUNE_21
    admin = signed_in(app, "admin")
    smx = api.get("/me", "smx_deputy").get_json()["unit_id"]
    token = _csrf(admin.get("/admin/units").get_data(as_text=True))
    fields = {"notice_prefix": "三建督办", "contact_person": "赵某某", "contact_phone": "0398-1234567"}
    r = admin.post(f"/admin/units/{smx}/notice", data=fields | {"csrf_token": token})
    assert r.status_code == 302
    page = notice(signed_in(app, "smx_deputy"), overdue_tasks(api, "smx_deputy")[0])
    assert number_on(page) == "三建督办〔2022〕1号"
    assert "联系人：赵某某 · 联系电话：0398-1234567" in page


def test_a_task_that_is_not_overdue_has_no_notice_and_gets_no_number(app, api, clock, rt):
    clock.now = JUNE_21
    due_later = api.get("/tasks", "smx_deputy", query_string={"overdue": "false", "per_page": 200}).get_json()
    open_later = [t for t in due_later["items"] if not t["overdue"]]
    assert open_later, "some tasks are still within their deadline on 21 June"
    r = signed_in(app, "smx_deputy").get(f"/tasks/{open_later[0]['id']}/notice")
    assert r.status_code == 404
    assert rt.db.session().scalar(select(func.count()).select_from(NoticeNumber)) == 0


def test_two_supervisors_numbering_two_notices_at_the_same_instant_get_different_numbers(app, api, clock, rt):
    """The first reads the year's last number, waits; the second numbers its notice and
    commits; the first goes on with the same last number. On PostgreSQL its insert then
    breaks the (unit, year, number) key and it takes the next number; SQLite serialises
    the two. Either way: 1 and 2, each task once."""
    clock.now = JUNE_21
    first_task, second_task = overdue_tasks(api, "smx_deputy")[:2]
    engine = rt.db.engine
    read, done = threading.Event(), threading.Event()

    def hold(conn, cursor, statement, params, context, executemany):
        if threading.current_thread().name == "held" and "max(notice_numbers.seq)" in statement and not read.is_set():
            read.set()
            done.wait(5)

    numbers: dict[int, str] = {}

    def open_as(username: str, task_id: int) -> None:
        numbers[task_id] = number_on(notice(signed_in(app, username), task_id))

    event.listen(engine, "after_cursor_execute", hold)
    try:
        held = threading.Thread(target=open_as, args=("smx_deputy", first_task), name="held")
        held.start()
        assert read.wait(10)
        open_as("smx_head", second_task)
        done.set()
        held.join(30)
    finally:
        event.remove(engine, "after_cursor_execute", hold)
    assert sorted(numbers.values()) == ["三建督〔2022〕1号", "三建督〔2022〕2号"], numbers
    assert rt.db.session().scalar(select(func.count()).select_from(NoticeNumber)) == 2


def test_over_the_api_the_admin_sets_a_units_notice_details_and_nobody_else_may(api):
    smx = api.get("/me", "smx_deputy").get_json()["unit_id"]
    body = {"notice_prefix": "三建督", "contact_person": "孙某某", "contact_phone": "0398-7654321"}
    assert api.call("PUT", f"/units/{smx}/notice", "smx_head", json=body).status_code == 403
    r = api.call("PUT", f"/units/{smx}/notice", "admin", json=body)
    assert r.status_code == 200, r.get_json()
    assert {k: r.get_json()[k] for k in body} == body
    r = api.call("PUT", f"/units/{smx}/notice", "admin", json=body | {"contact_phone": "0" * 41})
    assert r.status_code == 422 and r.get_json()["message"]
