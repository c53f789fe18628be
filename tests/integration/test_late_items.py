"""Items that arrive after their escalation days climb at once, with a real mail server and webhook.

Most offices start mid-campaign: they import a ledger whose deadlines have passed, or a
supervisor reopens a task long after its deadline. Such an item must not sit at level 0
while its nags say "level 3": at its first sweep in a send window it goes to the level in
force, each skipped level is written into its history once (marked as caught up, with the
day it would have happened), and each person the ladder has reached hears it once.

The calendar (default policy): a 6月10日 deadline (Fri 2022-06-10) reaches level 1 on Mon
06-13, level 2 on Wed 06-15 and level 3 (the 通报 list) on Fri 06-17; nags fall every
second working day from 06-13: 06-21, 06-23, 06-27, 06-29. Ten working days after the
deadline is Fri 06-24. The demo copy is the "silent" quiet template: every demo task was
rectified at 09:30 on 06-08, so only the items made here produce mail.
"""

from __future__ import annotations

import io
import re
from datetime import datetime

from sqlalchemy import select

from app.models import Notification, User
from app.services import dashboard
from tests.integration import reminder_fixtures as fixtures
from tests.integration.reminder_fixtures import SUPERVISORS, Harness, Sanmenxia, Sweep, china, email_of
from tests.integration.test_ledger_io import imported, yuzhou_workbook
from tests.integration.test_pages import login

mail, hooks, app, api, harness = fixtures.mail, fixtures.hooks, fixtures.app, fixtures.api, fixtures.harness
db_url = fixtures.quiet_db_url("silent")

LUSHI, HUBIN = "卢氏县住房和城乡建设局", "湖滨区住房和城乡建设局"
LADDER = ("handler", "deputy", "head")  # the unit's people the ladder has reached at level 2 and 3
SUPERVISOR_MAIL = sorted(email_of(u) for u in SUPERVISORS)
CAUGHT_UP = [
    (1, "逾期督办升级至第1级（补记：应于2022年6月13日升级）", "2022-06-13"),
    (2, "逾期督办升级至第2级（补记：应于2022年6月15日升级）", "2022-06-15"),
    (3, "逾期督办升级至第3级，列入通报名单（补记：应于2022年6月17日升级）", "2022-06-17"),
]

ESCALATION_ROW = re.compile(r'<li class="event escalation">(.*?)</li>', re.S)


def import_late_ledger(api, h: Harness, at: datetime) -> tuple[int, dict[str, int]]:
    """The city bureau imports a ledger of 6月10日 items at ``at``: the plan, and task ids by county key."""
    h.clock.now = at
    r = api.post(
        "/plans", "smx_deputy", json={"title": "住房安全隐患整改", "doc_number": "", "issued_on": "2022-06-01"}
    )
    assert r.status_code == 201, r.get_json()
    plan_id = r.get_json()["id"]
    data = yuzhou_workbook(
        [
            [1, "工作落实方面", "个性问题", "危房鉴定档案不全", "补齐鉴定档案", "6月10日", LUSHI],
            [2, "工作落实方面", "个性问题", "改造资金拨付滞后", "按进度拨付", "6月10日", HUBIN],
        ]
    )
    body = api.post(f"/plans/{plan_id}/ledger/preview", "smx_deputy", data={"file": (io.BytesIO(data), "台账.xlsx")})
    assert body.status_code == 200 and body.get_json()["errors_count"] == 0, body.get_json()
    assert imported(api, plan_id, "smx_deputy", body.get_json()["token"])["created_tasks"] == 2
    tasks = api.get("/tasks", "smx_deputy", query_string={"plan_id": plan_id}).get_json()["items"]
    return plan_id, {"lushi" if t["unit_name"] == LUSHI else "hubin": t["id"] for t in tasks}


def mails_of(sweep: Sweep, task_id: int) -> list[tuple[str, str]]:
    return sorted((m.step, m.rcpt) for m in sweep.mails if m.item == ("task", task_id))


def expected(county: str, step: str) -> list[tuple[str, str]]:
    return sorted((step, email_of(f"{county}_{who}")) for who in LADDER)


def notice_lists(sweep: Sweep) -> list[tuple[str, str, str]]:
    """(step, address, subject) of the 通报 lists this sweep sent."""
    return sorted((m.step, m.rcpt, m.subject) for m in sweep.mails if m.item[0] == "notice_list")


def shown(api, task_id: int) -> tuple:
    t = api.get(f"/tasks/{task_id}", "smx_deputy").get_json()
    return t["escalation_level"], t["public_notice"], t["overdue"], t["colour"]


def escalation_history(api, task_id: int) -> list[tuple[int, str, str]]:
    """(level, comment, the day it would have happened) of each caught-up escalation in the history."""
    events = [e for e in api.get(f"/tasks/{task_id}/history", "smx_deputy").get_json() if e["kind"] == "escalation"]
    assert all(e["data"]["caught_up"] for e in events)
    return [(e["data"]["level"], e["comment"], e["data"]["scheduled_on"]) for e in events]


def tiles(h: Harness, plan_id: int) -> dict[str, int]:
    with h.app.app_context():
        db = h.rt.db
        viewer = db.session().scalar(select(User).where(User.username == "smx_deputy"))
        return dashboard.build(db, viewer, h.clock.now, plan_id).colours


def outbox_size(h: Harness) -> int:
    return h.sql("SELECT count(*) AS n FROM notifications")[0].n


def test_a_ledger_imported_ten_working_days_late_reaches_level_3_at_its_first_sweep_and_rectifying_stops_it(
    harness, api, app
):
    h = harness
    plan_id, tasks = import_late_ledger(api, h, china(2022, 6, 24, 10, 0))
    lushi, hubin = tasks["lushi"], tasks["hubin"]
    assert tiles(h, plan_id) == {"blue": 0, "yellow": 2, "red": 0}
    assert shown(api, lushi) == (0, False, True, "yellow")  # imported, not yet swept
    client = app.test_client()
    login(client, "smx_deputy")
    notice = client.get(f"/tasks/{lushi}/notice").get_data(as_text=True)
    assert 'id="notice-level">尚未升级<' in notice  # no level it is not at

    first = h.sweep(china(2022, 6, 24, 10, 1))
    for county, task_id in tasks.items():
        assert mails_of(first, task_id) == expected(county, "escalate:3"), "one message per person in the unit"
        assert sorted(hook.step for hook in first.hooks if hook.item == ("task", task_id)) == ["escalate:3"]
        assert shown(api, task_id) == (3, True, True, "red")
        assert escalation_history(api, task_id) == CAUGHT_UP, "one history row per level"
    subjects = {m.subject for m in first.mails if m.item == ("task", lushi)}
    assert subjects == {"【逾期督办·三级】危房鉴定档案不全（已逾期14天）"}  # says how long it has been overdue
    # the bureau's supervisors: one message each, listing both items, instead of one per item
    listed = "【通报名单】三门峡市住房和城乡建设局督办事项中2项已升级至三级督办"
    assert notice_lists(first) == [("notice_list:2022-06-24", address, listed) for address in SUPERVISOR_MAIL]
    (inbox_list,) = [n for n in api.get("/inbox", "smx_head").get_json()["items"] if n["kind"] == "notice_list"]
    assert sorted(i["url"] for i in inbox_list["data"]["items"]) == sorted(f"/tasks/{t}" for t in tasks.values())
    assert {i["overdue_days"] for i in inbox_list["data"]["items"]} == {14}

    # the list filter, the dashboard tiles and the 督办单 say the same
    red = api.get("/tasks", "smx_deputy", query_string={"colour": "red", "per_page": 100}).get_json()["items"]
    assert {t["id"] for t in red} == set(tasks.values())
    assert tiles(h, plan_id) == {"blue": 0, "yellow": 0, "red": 2}
    notice = client.get(f"/tasks/{lushi}/notice").get_data(as_text=True)
    assert 'id="notice-level">三级督办（列入通报）<' in notice
    # the task page: each level once, by the system, and no bullet for no extension request
    page = client.get(f"/tasks/{lushi}").get_data(as_text=True)
    rows = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in ESCALATION_ROW.findall(page)]
    assert [row.split(" ", 2)[2] for row in rows] == [f"系统 {words}" for _level, words, _day in CAUGHT_UP]
    assert "Rectify" not in "".join(rows)
    extensions = page.split('id="extensions"', 1)[1].split("</section>", 1)[0]
    assert "无延期申请" in extensions and "<li>" not in extensions
    inbox_page = client.get("/inbox").get_data(as_text=True)  # the list links to the red tasks
    assert f'<a href="/tasks?colour=red">{listed}</a>' in inbox_page

    # the sweep run again, at once and later that day: nothing more
    rows = outbox_size(h)
    for at in (china(2022, 6, 24, 10, 1), china(2022, 6, 24, 10, 2), china(2022, 6, 24, 16, 0)):
        again = h.sweep(at)
        assert again.mails == [] and again.hooks == []
    assert outbox_size(h) == rows
    assert all(len(escalation_history(api, t)) == 3 for t in tasks.values())

    # Lushi rectifies; at the next nag day (Mon 06-27) only Hubin is nagged, at level 3
    h.rectify(lushi, "lushi_handler", china(2022, 6, 24, 11, 0))
    assert shown(api, lushi)[2:] == (False, None)
    nag = h.sweep(china(2022, 6, 27))
    assert mails_of(nag, lushi) == []
    assert mails_of(nag, hubin) == expected("hubin", "nag:2022-06-27")
    listed = "【通报名单】三门峡市住房和城乡建设局督办事项中1项已升级至三级督办"
    assert notice_lists(nag) == [("notice_list:2022-06-27", address, listed) for address in SUPERVISOR_MAIL]
    assert h.rows(Notification.item_id == lushi, Notification.step.like("nag:%")) == []


def test_a_ledger_imported_over_the_weekend_climbs_in_the_first_window_of_monday(harness, api):
    h = harness
    _, tasks = import_late_ledger(api, h, china(2022, 6, 25, 15, 0))  # Saturday
    assert [m for m in h.sweep(china(2022, 6, 25, 15, 1)).mails] == []  # no window on a Saturday
    assert shown(api, tasks["lushi"])[:2] == (0, False)
    monday = h.sweep(china(2022, 6, 27))  # a nag day too: the nag is folded into the climb
    assert mails_of(monday, tasks["lushi"]) == expected("lushi", "escalate:3")
    assert [address for _, address, _ in notice_lists(monday)] == SUPERVISOR_MAIL
    assert shown(api, tasks["lushi"]) == (3, True, True, "red")


def test_a_task_reopened_long_after_its_deadline_climbs_the_same_way(harness, api):
    h = harness
    task_id = Sanmenxia.load(h).tasks[(2, "lushi")]  # 6月20日, rectified on 06-08
    for username, to, at in (
        ("smx_deputy", "verified", china(2022, 6, 10)),
        ("smx_head", "closed", china(2022, 6, 13)),
    ):
        h.clock.now = at
        version = api.get(f"/tasks/{task_id}", username).get_json()["version"]
        r = api.post(f"/tasks/{task_id}/transitions", username, json={"to": to, "version": version})
        assert r.status_code == 200, r.get_json()
    assert shown(api, task_id)[:2] == (0, False)

    # 6月20日: levels on 06-21, 06-23, 06-27. Reopened on 07-20 after a spot check.
    h.clock.now = china(2022, 7, 20, 10, 0)
    version = api.get(f"/tasks/{task_id}", "smx_deputy").get_json()["version"]
    r = api.post(
        f"/tasks/{task_id}/transitions",
        "smx_deputy",
        json={"to": "in_progress", "comment": "抽查发现问题反弹", "version": version},
    )
    assert r.status_code == 200, r.get_json()
    assert shown(api, task_id) == (0, False, True, "yellow")

    first = h.sweep(china(2022, 7, 20, 10, 1))
    assert mails_of(first, task_id) == expected("lushi", "escalate:3")
    assert [address for _, address, _ in notice_lists(first)] == SUPERVISOR_MAIL
    assert shown(api, task_id) == (3, True, True, "red")
    assert escalation_history(api, task_id) == [
        (1, "逾期督办升级至第1级（补记：应于2022年6月21日升级）", "2022-06-21"),
        (2, "逾期督办升级至第2级（补记：应于2022年6月23日升级）", "2022-06-23"),
        (3, "逾期督办升级至第3级，列入通报名单（补记：应于2022年6月27日升级）", "2022-06-27"),
    ]
    again = h.sweep(china(2022, 7, 20, 10, 2))
    assert mails_of(again, task_id) == []
    assert len(escalation_history(api, task_id)) == 3
    assert h.ladder_disagreements() == []  # reopened and swept: every level agrees with its 通报 flag
