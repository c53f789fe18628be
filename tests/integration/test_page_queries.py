"""Pages cost a fixed number of queries whatever the size of the plan, and a long list
counts only up to its cap."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import literal, select

from app.domain.workflow import State
from app.models import Plan, Task, Unit, User
from app.models.base import UTCDateTime, china_day
from app.schemas import ProblemIn, TransitionIn, UnitIn
from app.services import org, plans, tasks
from tests.integration.test_pages import login
from tests.integration.test_task_paging import next_link

SORTS = ("due", "-due", "unit", "state", "updated")


def _pages(plan_id: int, unit_id: int) -> list[str]:
    return [
        "/",
        "/dashboard",
        f"/dashboard?plan_id={plan_id}",
        f"/plans/{plan_id}",
        *(f"/tasks?sort={s}" for s in SORTS),
        f"/tasks?plan_id={plan_id}&page=2&per_page=5",
        f"/tasks?unit_id={unit_id}&state=in_progress",
        "/tasks?overdue=true&category=危房改造",
    ]


def _queries_per_page(client, db, pages: list[str]) -> dict[str, int]:
    counts = {}
    for path in pages:
        with db.statements() as sent:
            r = client.get(path)
        assert r.status_code == 200, path
        counts[path] = len(sent)
    return counts


def _grow(rt, plan: Plan, head: User, problems: int, now: datetime) -> None:
    """Add counties, then common problems for every county, and start some of their
    tasks as the units would: more units, problems, tasks and history on every page."""
    for i in range(12):
        org.create_unit(rt.db, None, UnitIn(name=f"新增{i:02d}县住房和城乡建设局", parent_id=plan.issuing_unit_id))
    for i in range(problems):
        data = ProblemIn(
            nature="common",
            category="危房改造",
            title=f"补充问题{i}",
            deadline="30日内",
            all_units_under=plan.issuing_unit_id,
        )
        plans.create_problem(rt.db, head, plan.id, data, now)
    s = rt.db.session()
    for task in list(s.scalars(select(Task).where(Task.plan_id == plan.id, Task.id % 3 == 0))):
        handler = s.scalar(select(User).where(User.unit_id == task.unit_id, User.position == "handler"))
        if handler is None:  # the new counties have no users: the supervisor cannot start their work
            continue
        tasks.transition_task(rt.db, handler, task.id, TransitionIn(to=State.IN_PROGRESS, version=task.version), now)


def test_each_page_runs_as_many_queries_for_a_plan_of_many_problems_as_for_a_small_one(app, rt, clock):
    s = rt.db.session()
    head = s.scalar(select(User).where(User.username == "smx_head"))
    plan = s.scalar(select(Plan).where(Plan.doc_number == "三建〔2022〕187号"))
    county = s.scalar(select(Unit.id).where(Unit.parent_id == plan.issuing_unit_id).order_by(Unit.id))
    client = app.test_client()
    login(client, "smx_head")
    pages = _pages(plan.id, county)
    _queries_per_page(client, rt.db, pages)  # warm: sessions and caches as a signed-in user has them
    small = _queries_per_page(client, rt.db, pages)
    before = s.scalar(select(Task.id).where(Task.plan_id == plan.id).order_by(Task.id.desc()).limit(1))
    _grow(rt, plan, head, 30, clock.now)
    assert s.scalar(select(Task.id).where(Task.plan_id == plan.id).order_by(Task.id.desc()).limit(1)) > before + 500
    assert _queries_per_page(client, rt.db, pages) == small


def test_a_list_longer_than_the_count_cap_says_so_and_still_pages_on(api, monkeypatch):
    monkeypatch.setattr(tasks, "COUNT_CAP", 20)
    first = api.get("/tasks", "smx_head", query_string={"per_page": 10}).get_json()
    assert (first["total"], first["more"], first["has_next"]) == (20, True, True)
    last = api.get("/tasks", "smx_head", query_string={"per_page": 10, "page": 6}).get_json()
    assert (last["total"], last["more"], last["has_next"]) == (20, True, False) and len(last["items"]) == 7
    client = api.client
    login(client, "smx_head")
    page = client.get("/tasks?per_page=10&page=5&sort=unit").get_data(as_text=True)
    sixth = api.get("/tasks", "smx_head", query_string={"per_page": 10, "page": 6, "sort": "unit"}).get_json()
    following = client.get(next_link(page)).get_data(as_text=True)
    assert "共 20+ 项" in page and "after=" in next_link(page)
    assert re.findall(r'name="task_id" value="(\d+)"', following) == [str(i["id"]) for i in sixth["items"]]


def test_a_list_under_the_cap_gives_its_exact_count_and_no_next_page_at_the_end(api):
    p = api.get("/tasks", "smx_head", query_string={"per_page": 50, "page": 2}).get_json()
    assert (p["total"], p["more"], p["has_next"]) == (57, False, False) and len(p["items"]) == 7


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        (datetime(2022, 6, 20, 15, 59, tzinfo=UTC), "2022-06-20"),
        (datetime(2022, 6, 20, 16, 0, tzinfo=UTC), "2022-06-21"),
    ],
)
def test_the_database_puts_an_instant_on_the_china_day_people_lived_it(rt, utc, day):
    moment = literal(utc, UTCDateTime())
    assert rt.db.session().scalar(select(china_day(moment))).isoformat() == day


def test_the_plan_page_reads_the_figures_and_problems_get_plan_and_list_problems_give(app, rt, clock):
    """One grouped read for the plan's page, the same answers as the API's two, for
    everyone who sees the plan (a county sees only its own tasks' problems)."""
    clock.advance(days=40)  # the 6月20日 items are overdue
    s = rt.db.session()
    plan = s.scalar(select(Plan).where(Plan.doc_number == "三建〔2022〕187号"))
    for username in ("smx_head", "lushi_handler", "smx_viewer", "admin"):
        user = s.scalar(select(User).where(User.username == username))
        got, figures, problems = plans.plan_page(rt.db, user, plan.id, clock.now)
        assert (got, figures) == plans.get_plan(rt.db, user, plan.id, clock.now), username
        assert problems == plans.list_problems(rt.db, user, plan.id), username
        assert figures.overdue > 0 and problems, username
