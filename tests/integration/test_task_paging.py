"""The task list pages by position (next/prev) in every order it offers: every task once,
in the order named, the page before is the one that was shown, a long-term task (no
deadline) comes last by deadline, and a page's position holds when its tasks change."""

from __future__ import annotations

import re
from html import unescape
from itertools import pairwise

import pytest
from sqlalchemy import select

from app.domain.workflow import State
from app.models import Plan, User
from app.schemas import ProblemIn, TransitionIn
from app.services import plans, tasks
from tests.integration.test_pages import login

SORTS = ("due", "-due", "unit", "state", "updated")
SMX_PLAN_NO = "三建〔2022〕187号"

pytestmark = pytest.mark.presigned


def page(api, **query) -> dict:
    r = api.get("/tasks", "smx_head", query_string=query)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def walk(api, **query) -> list[dict]:
    """Every page from the first by following ``next``; the pages as shown."""
    pages = [page(api, **query)]
    while pages[-1]["next"]:
        assert pages[-1]["has_next"]
        pages.append(page(api, **query, after=pages[-1]["next"]))
    assert not pages[-1]["has_next"]
    return pages


def ids(p: dict) -> list[int]:
    return [i["id"] for i in p["items"]]


@pytest.fixture
def long_term(rt, clock) -> int:
    """A long-term problem (长期整改: no deadline) for every county: tasks without a due date."""
    s = rt.db.session()
    head = s.scalar(select(User).where(User.username == "smx_head"))
    plan = s.scalar(select(Plan).where(Plan.doc_number == SMX_PLAN_NO))
    data = ProblemIn(
        nature="common",
        title="农房安全长效机制",
        deadline="长期整改",
        milestones=[{"title": "完成排查", "deadline": "6月20日"}],
        all_units_under=plan.issuing_unit_id,
    )
    return plans.create_problem(rt.db, head, plan.id, data, clock.now).id


def by_order(sort: str, items: list[dict]) -> list[int]:
    """The order each sort names, computed here from what the list shows."""
    far = "9999"  # no deadline: after every date
    keys = {
        "due": lambda i: (i["due_at"] or far, i["id"]),
        "-due": lambda i: (i["due_at"] or far, i["id"]),
        "unit": lambda i: (i["unit_name"], i["unit_id"], i["id"]),
        "state": lambda i: (i["state"], i["due_at"] or far, i["id"]),
    }
    return [i["id"] for i in sorted(items, key=keys[sort], reverse=sort == "-due")]


@pytest.mark.parametrize("cap", [1000, 10], ids=["short", "past-the-cap"])
@pytest.mark.parametrize("sort", SORTS)
def test_following_next_shows_every_task_once_in_the_order_named_and_prev_shows_the_page_before(
    api, long_term, monkeypatch, sort, cap
):
    """A list longer than the count's cap reads its page another way (list_tasks): the
    same pages either way."""
    monkeypatch.setattr(tasks, "COUNT_CAP", cap)
    pages = walk(api, sort=sort, per_page=7)
    shown = [i for p in pages for i in p["items"]]
    every = page(api, sort=sort, per_page=200)
    assert len(shown) > 60 and every["total"] == min(len(shown), cap) and not every["next"]
    assert [i["id"] for i in shown] == ids(every), "the walk and one long page disagree"
    assert len({i["id"] for i in shown}) == len(shown)
    if sort != "updated":  # the last update is not shown: its order is checked by the database alone
        assert [i["id"] for i in shown] == by_order(sort, shown)
    assert pages[0]["prev"] is None and all(p["prev"] for p in pages[1:])
    for before, current in pairwise(pages):
        assert ids(page(api, sort=sort, per_page=7, before=current["prev"])) == ids(before)


def test_tasks_without_a_deadline_come_last_by_deadline_and_first_backwards(api, long_term):
    shown = [i for p in walk(api, sort="due", per_page=20) for i in p["items"]]
    undated = [i["problem_id"] == long_term for i in shown]
    assert any(undated) and undated == sorted(undated), "the long-term tasks are not all at the end"
    assert all(i["due_at"] is None for i in shown if i["problem_id"] == long_term)
    backwards = page(api, sort="-due", per_page=5)["items"]
    assert {i["problem_id"] for i in backwards} == {long_term}


def test_the_next_page_follows_the_rows_shown_even_when_they_have_moved_on(api, rt):
    """A supervisor sorts by state, acts on the page shown and goes on: the next page
    starts after the tasks that were shown, not after where they went."""
    first = page(api, sort="state", per_page=5)
    assert {i["state"] for i in first["items"]} == {"identified"}
    following = ids(page(api, sort="state", per_page=5, after=first["next"]))
    s = rt.db.session()
    for item in first["items"]:
        handler = s.scalar(select(User).where(User.unit_id == item["unit_id"], User.position == "handler"))
        started = TransitionIn(to=State.IN_PROGRESS, version=item["version"])
        tasks.transition_task(rt.db, handler, item["id"], started, rt.clock())
    assert ids(page(api, sort="state", per_page=5, after=first["next"])) == following


def test_a_page_after_a_position_costs_the_queries_of_the_first_page(app, rt):
    client = app.test_client()
    login(client, "smx_head")
    for sort in SORTS:
        first = f"/tasks?sort={sort}&per_page=5"
        counts = []
        for path in (first, next_link(client.get(first).get_data(as_text=True))):
            with rt.db.statements() as sent:
                assert client.get(path).status_code == 200
            counts.append(len(sent))
        assert counts[0] == counts[1], sort


def next_link(html: str) -> str:
    return unescape(re.search(r'<a href="([^"]+)" id="next-page"', html)[1])


@pytest.mark.parametrize(
    "query",
    [
        {"after": "not-a-position"},
        {"before": "WyJ4Il0"},  # ["x"]: one key where the order has two
        {"sort": "unit", "after": "WyIyMDIyLTA2LTIwVDE2OjAwOjAwKzAwOjAwIiwxXQ"},  # a "due" position
        {"after": "WyIyMDIyLTA2LTIwVDE2OjAwOjAwIiwxXQ"},  # an instant without its offset
    ],
)
def test_a_position_that_is_not_one_of_the_order_is_refused_naming_it(api, query):
    r = api.get("/tasks", "smx_head", query_string=query)
    assert r.status_code == 422
    assert r.get_json()["details"][0]["field"] == ("before" if "before" in query else "after")


def test_a_position_and_a_page_number_together_are_refused(api):
    token = page(api, per_page=5)["next"]
    assert api.get("/tasks", "smx_head", query_string={"after": token, "page": 2}).status_code == 422
    assert api.get("/tasks", "smx_head", query_string={"after": token, "before": token}).status_code == 422


def test_an_old_page_number_link_still_shows_that_page_and_links_on_by_position(api):
    walked = walk(api, sort="unit", per_page=10)
    third = page(api, sort="unit", per_page=10, page=3)
    assert ids(third) == ids(walked[2]) and third["prev"] and third["next"]
    assert ids(page(api, sort="unit", per_page=10, after=third["next"])) == ids(walked[3])
    assert ids(page(api, sort="unit", per_page=10, before=third["prev"])) == ids(walked[1])
