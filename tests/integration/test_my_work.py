"""My work (我的待办): each person lands on what waits for them, with its count in the
header, and every item links to the page where they act.

The demo as issued (every task 挂账), worked through the API as the people would; the
pages are read through a signed-in test client. Both databases.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from app import jobs
from app.demo import SMX_COUNTIES
from app.domain import permissions
from app.models import Plan, Submission, Task, Unit, User
from app.services import queue, scope
from app.services import tasks as tasks_service
from tests.integration.test_web_security import PNG, Browser, World, text

pytestmark = pytest.mark.presigned

OVERDUE = datetime(2022, 6, 22, 1, 5, tzinfo=UTC)  # Wed 09:05 China time, two days past 6月20日


@pytest.fixture
def world(app, api, clock) -> World:
    return World(app, api, clock)


def box(html: str, key: str) -> str:
    """The HTML of one box of my work (empty if the page has no such box)."""
    pattern = rf'<section class="card box(?: empty)?" id="box-{key}" data-count="(\d+)">(.*?)</section>'
    found = re.search(pattern, html, re.S)
    return found.group(0) if found else ""


def count(html: str, key: str) -> int | None:
    found = re.search(rf'id="box-{key}" data-count="(\d+)"', html)
    return int(found.group(1)) if found else None


def header_count(html: str) -> int | None:
    found = re.search(r'<span class="badge" id="waiting" data-waiting>(\d+)</span>', html)
    return int(found.group(1)) if found else None


def home(world: World, username: str) -> str:
    r = Browser(world.app, username).get("/")
    assert r.status_code == 200
    return text(r)


def lushi_tasks(world: World, username: str = "lushi_handler") -> list[dict]:
    unit = world.unit_id(SMX_COUNTIES["lushi"])
    q = {"unit_id": unit, "per_page": 200, "plan_id": 1}
    return world.api.get("/tasks", username, query_string=q).get_json()["items"]


def move(world: World, who: str, task: int, to: str, comment: str = "") -> dict:
    version = world.api.get(f"/tasks/{task}", who).get_json()["version"]
    r = world.api.post(f"/tasks/{task}/transitions", who, json={"to": to, "version": version, "comment": comment})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def rectify(world: World, task: int, who: str = "lushi_handler") -> None:
    move(world, who, task, "in_progress")
    up = world.api.post(f"/tasks/{task}/evidence", who, data={"file": (io.BytesIO(PNG), "现场.png")})
    assert up.status_code == 201, up.get_json()
    move(world, who, task, "rectified", "已更换破损护栏并复查")


def test_an_official_lands_on_the_tasks_to_start_with_the_count_in_the_header(world):
    tasks = lushi_tasks(world)
    page = home(world, "lushi_handler")
    assert count(page, "to_start") == len(tasks) > 0
    assert count(page, "to_rectify") == count(page, "sent_back") == 0
    assert header_count(page) == len(tasks), "the header counts what waits (due soon repeats other boxes)"
    first = box(page, "to_start")
    assert f'href="/tasks/{tasks[0]["id"]}"' in first, "each item links to the task's page, where it is started"
    assert "湖滨区" not in first, "only the official's own unit's work"
    for key in ("to_check", "extensions", "reports_to_review", "overdue"):
        assert count(page, key) is None, f"an official has no {key} box"

    move(world, "lushi_handler", tasks[0]["id"], "in_progress")
    page = home(world, "lushi_handler")
    assert (count(page, "to_start"), count(page, "to_rectify")) == (len(tasks) - 1, 1)
    assert f'href="/tasks/{tasks[0]["id"]}"' in box(page, "to_rectify")
    assert header_count(home(world, "lushi_head")) == len(tasks), "the whole unit shares its queue"
    assert count(home(world, "hubin_handler"), "to_rectify") == 0, "a county beside it does not see it"


def counts(browser: Browser) -> dict:
    r = browser.get("/header-counts")
    assert (r.status_code, r.headers["Cache-Control"]) == (200, "no-store")
    return r.get_json()


def unread_of(world: World, username: str) -> int:
    return world.api.get("/inbox", username).get_json()["unread"]


def test_the_boxes_with_work_in_them_come_first_and_the_empty_ones_below_as_one_quiet_line(world):
    """Within each side of my work (supervising, responsible): no box with work below an
    empty one, and an empty box is marked to be shown as one quiet line."""
    seen_empty = seen_full = False
    for username in ("smx_deputy", "lushi_handler", "lushi_head"):
        page = home(world, username)
        for side in page.split('<div class="queue">')[1:]:
            counts = [int(n) for n in re.findall(r'id="box-\w+" data-count="(\d+)"', side)]
            empty_from = counts.index(0) if 0 in counts else len(counts)
            assert not any(counts[empty_from:]), (username, counts)
            seen_empty |= empty_from < len(counts)
            seen_full |= empty_from > 0
        for key, n in re.findall(r'id="box-(\w+)" data-count="(\d+)"', page):
            assert re.search(rf'class="card box{"" if int(n) else " empty"}" id="box-{key}"', page), key
    assert seen_empty and seen_full, "the demo has both kinds"


def test_every_other_page_fetches_the_headers_counts_which_my_work_prints(world):
    """Counting is the dearest part of a page: my work prints what waits and the unread
    messages (its boxes are counted anyway), the rest ask /header-counts once shown
    (app.js), and both say the same; an urge shows up as one more unread message."""
    browser = Browser(world.app, "lushi_handler")
    n = len(lushi_tasks(world))
    listing = text(browser.get("/tasks"))
    assert 'data-counts="/header-counts"' in listing, "the page says where its counts are"
    assert '<span class="badge" id="waiting" data-waiting hidden></span>' in listing, "and waits for them"
    assert '<span class="badge" id="unread" data-unread hidden></span>' in listing
    assert "data-counts" not in home(world, "lushi_handler"), "my work has them already"
    before = unread_of(world, "lushi_handler")
    assert counts(browser) == {"waiting": str(n), "unread": before}
    assert header_count(home(world, "lushi_handler")) == n

    task = lushi_tasks(world)[0]["id"]
    urged = world.api.post("/urges", "smx_deputy", json={"task_ids": [task], "comment": "请本周内完成"})
    assert urged.status_code == 200, urged.get_json()
    assert unread_of(world, "lushi_handler") == before + 1, "the urge reached the inbox"
    assert counts(browser) == {"waiting": str(n), "unread": before + 1}
    page = home(world, "lushi_handler")
    assert f'<span class="badge" id="unread" data-unread>{before + 1}</span>' in page, "my work prints it too"

    move(world, "lushi_handler", task, "in_progress")
    assert counts(browser)["waiting"] == str(n), "started, it still waits to be rectified"
    hubin = counts(Browser(world.app, "hubin_handler"))
    assert hubin["waiting"] == str(header_count(home(world, "hubin_handler"))), "each counts their own unit's"
    assert counts(Browser(world.app, "admin"))["waiting"] == "0", "no work of one's own"


def test_past_the_lists_count_cap_the_header_and_the_box_say_cap_plus_as_the_task_list_does(world, monkeypatch):
    n = len(lushi_tasks(world))
    monkeypatch.setattr(tasks_service, "COUNT_CAP", n - 1)
    page = home(world, "lushi_handler")
    assert f'<span class="badge" id="waiting" data-waiting>{n - 1}+</span>' in page, (
        "the header counts only up to the cap"
    )
    assert f'<span class="count">{n - 1}+</span>' in box(page, "to_start")
    assert count(page, "to_start") == n, "the box knows there is more than the cap (one past it)"
    monkeypatch.setattr(tasks_service, "COUNT_CAP", n)
    assert header_count(home(world, "lushi_handler")) == n, "at the cap the count is exact"


def test_a_rectified_task_waits_to_be_checked_and_comes_back_as_sent_back_with_the_reason(world):
    task = lushi_tasks(world)[0]["id"]
    rectify(world, task)
    deputy = home(world, "smx_deputy")
    assert count(deputy, "to_check") == 1 and f'href="/tasks/{task}"' in box(deputy, "to_check")
    assert count(home(world, "lushi_handler"), "to_rectify") == 0, "rectified: the unit waits, it has nothing to do"
    assert count(home(world, "smx_viewer"), "to_check") is None, "a viewer checks nothing"
    assert count(home(world, "yz_deputy"), "to_check") == 0, "another city's supervisor does not check it"

    move(world, "smx_deputy", task, "in_progress", "照片看不出护栏已更换，请补充")
    official = home(world, "lushi_handler")
    assert count(official, "sent_back") == 1 and f'href="/tasks/{task}"' in box(official, "sent_back")
    assert count(official, "to_rectify") == 0, "a sent-back task is in its own box, not twice"
    assert count(home(world, "smx_deputy"), "to_check") == 0

    photo = {"file": (io.BytesIO(PNG), "b.png")}
    assert world.api.post(f"/tasks/{task}/evidence", "lushi_handler", data=photo).status_code == 201
    move(world, "lushi_handler", task, "rectified", "补充了更换后的照片")
    move(world, "smx_deputy", task, "verified")
    move(world, "smx_head", task, "closed")
    move(world, "smx_deputy", task, "in_progress", "抽查发现护栏再次损坏")  # reopened long after
    assert count(home(world, "lushi_handler"), "sent_back") == 1, "a reopened task is sent back too"


def test_extension_requests_and_reports_reach_the_boxes_of_the_side_that_acts_on_them(world):
    task = lushi_tasks(world)[0]["id"]
    asked = world.api.post(f"/tasks/{task}/extensions", "lushi_handler", json={"deadline": "9月30日", "reason": "雨季"})
    assert asked.status_code == 201, asked.get_json()
    sid = world.obligation_for_lushi()  # due 6月10日: owed within the week
    official, deputy = home(world, "lushi_handler"), home(world, "smx_deputy")
    assert count(deputy, "extensions") == 1
    assert f'href="/tasks/{task}#extensions"' in box(deputy, "extensions"), "the decision is on the task's page"
    assert count(official, "extensions") is None
    assert count(official, "reports_owed") == 1 and "整改方案及台账" in box(official, "reports_owed")
    assert 'href="/submissions?plan_id=1"' in box(official, "reports_owed")

    r = world.api.post(f"/submissions/{sid}/submit", "lushi_handler", data={"note": "已报送", "version": "1"})
    assert r.status_code == 200, r.get_json()
    assert count(home(world, "lushi_handler"), "reports_owed") == 0
    deputy = home(world, "smx_deputy")
    assert count(deputy, "reports_to_review") == 1 and "整改方案及台账" in box(deputy, "reports_to_review")
    assert header_count(deputy) == 2, "one extension to decide and one report to review"


def test_overdue_tasks_show_by_escalation_level_and_soon_due_ones_warn_the_unit(world, clock):
    clock.now = datetime(2022, 6, 18, 2, 0, tzinfo=UTC)  # Sat: the 6月20日 items fall due within 3 days
    soon = clock.now + timedelta(days=3)
    due = [t for t in lushi_tasks(world) if t["due_at"] and clock.now <= datetime.fromisoformat(t["due_at"]) <= soon]
    assert any(t["due_at"].startswith("2022-06-20") for t in due)
    page = home(world, "lushi_handler")
    assert count(page, "due_soon") == len(due)
    assert header_count(page) == len(lushi_tasks(world)), "due soon repeats the tasks to start: not counted twice"
    clock.now = OVERDUE
    with world.app.app_context():
        jobs.tick(world.rt, clock.now)
    page = home(world, "smx_deputy")
    overdue = box(page, "overdue")
    levels = {int(lv): int(n) for lv, n in re.findall(r'data-level="(\d+)">[^<]*?(\d+)</span>', overdue)}
    everyone = world.api.get("/tasks", "smx_deputy", query_string={"overdue": "true", "per_page": 200}).get_json()
    assert count(page, "overdue") == everyone["total"] == sum(levels.values()) > 0
    by_level: dict[int, int] = {}
    for t in everyone["items"]:
        by_level[t["escalation_level"]] = by_level.get(t["escalation_level"], 0) + 1
    assert levels == by_level
    assert header_count(page) in (None, 0), "overdue tasks are watched, not counted as the supervisor's own work"
    assert "/tasks?overdue=true" in overdue or everyone["total"] <= queue.ITEMS_PER_BOX


def test_a_viewer_and_the_administrator_have_no_queue_and_keep_the_overview(world):
    for username in ("smx_viewer", "admin"):
        page = home(world, username)
        assert 'id="my-work"' not in page and header_count(page) is None, username
        assert 'id="tasks"' in page


def test_the_counts_in_the_header_are_one_statement_whatever_the_number_of_boxes(world):
    statements: list[str] = []
    engine = world.rt.db.engine

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    with world.app.app_context():
        deputy = world.rt.db.session().scalar(select(User).where(User.username == "smx_deputy"))
        assert deputy.unit.path  # a page has the user's unit loaded already (the header names it)
        event.listen(engine, "before_cursor_execute", seen)
        try:
            found = queue.counts(world.rt.db, deputy, world.clock.now)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert len(found) == len(queue.BOXES), "a supervisor has both sides' boxes"
    assert len(statements) == 1, statements


def test_the_sql_of_who_acts_on_a_record_agrees_with_the_permission_module_for_every_user(world):
    world.obligation_for_lushi()
    with world.app.app_context():
        s = world.rt.db.session()
        tasks = list(s.scalars(select(Task)))
        subs = list(s.scalars(select(Submission)))
        units = {u.id: u for u in s.scalars(select(Unit))}
        for user in s.scalars(select(User)):
            f = scope.facts(user)
            mine = set(s.scalars(select(Task.id).where(scope.task_acted_for(user))))
            assert mine == {t.id for t in tasks if permissions.acts_for(f.who, scope.unit_facts(units[t.unit_id]))}
            supervised = set(s.scalars(select(Task.id).where(scope.task_supervised(user))))
            expected = set()
            for t in tasks:
                a = scope.task_actor(s, user, t)
                if permissions.on_side(a, permissions.Side.SUPERVISING):
                    expected.add(t.id)
            assert supervised == expected, user.username
            owes = set(s.scalars(select(Submission.id).where(scope.submission_acted_for(user))))
            reviews = set(s.scalars(select(Submission.id).where(scope.submission_supervised(user))))
            for sub in subs:
                unit = scope.unit_facts(units[sub.unit_id])
                a = permissions.actor(f.who, scope.plan_facts(s.get(Plan, sub.plan_id)), unit)
                assert (sub.id in owes) == permissions.acts_for(f.who, unit), user.username
                assert (sub.id in reviews) == permissions.on_side(a, permissions.Side.SUPERVISING), user.username
