"""Through the pages, on a desk and on a phone: 卢氏县's supervisor answers the city's plan
with its own plan for two townships; the city's supervisor reads the township progress on
its plan page and the dashboard; a closed task's look-back (回头看) is due in the
supervisor's work, one is confirmed and one reopened as a rebound, and the plan counts it."""

from __future__ import annotations

import pytest

from app.demo import SMX_COUNTIES
from tests.e2e.test_authoring_browser import SIZES, fits, submit
from tests.e2e.test_pages import SMALL_CHECKS, SMALL_TARGETS
from tests.integration.test_tree_campaign import TOWNS, add_tree, check, rectify, tasks_of

pytestmark = pytest.mark.presigned


def thumb_sized(page) -> None:
    """On a phone every button, field and tick box of the page is at least 44 px high."""
    if page.viewport_size["width"] < 500:
        small = page.evaluate(SMALL_TARGETS) + page.evaluate(SMALL_CHECKS)
        assert not small, f"{page.url}: small targets {small}"


@pytest.mark.parametrize("size", SIZES)
def test_a_county_answers_the_city_plan_for_its_townships_and_the_city_sees_the_tree(
    new_page, login, shot, api, app, size
):
    ids = add_tree(api, app)
    county = new_page()
    county.set_viewport_size(SIZES[size])
    login(county, "lushi_sup")
    county.goto("/plans/1")
    with county.expect_navigation():
        county.click("#answer-plan")
    county.fill("input[name=doc_number]", "卢建〔2022〕45号")
    cards = county.locator("fieldset.carry")
    assert cards.count() >= 2
    for i in range(2, cards.count()):  # carry the first two received problems only
        cards.nth(i).locator("input[name=carry]").uncheck()
    assert cards.first.get_by_label(TOWNS["gdk"]).is_checked()
    fits(county)
    thumb_sized(county)
    shot(county, f"{size}-answer-form")
    submit(county, "#answer-form")
    assert "答复方案已下发" in county.locator(".flash").inner_text()
    assert "卢建〔2022〕45号" in county.locator(".meta").first.inner_text()
    assert "上级督办单位只能查看" in county.locator("#answers-plan").inner_text()
    fits(county)
    shot(county, f"{size}-answering-plan")

    aid = int(county.url.rstrip("/").rsplit("/", 1)[1])
    gdk = tasks_of(api, "gdk_handler", aid, ids["gdk"])
    rectify(api, "gdk_handler", gdk[0]["id"])
    check(api, "lushi_sup", "lushi_sup", gdk[0]["id"])

    city = new_page()
    city.set_viewport_size(SIZES[size])
    login(city, "smx_deputy")
    city.goto("/plans/1")
    below = city.locator("#below")
    text = below.inner_text()
    assert SMX_COUNTIES["lushi"] in text and TOWNS["gdk"] in text and TOWNS["dg"] in text
    assert "已销号" in text and "挂账" in text
    fits(city)
    shot(city, f"{size}-tree-progress")
    city.goto("/dashboard?plan_id=1")
    assert SMX_COUNTIES["lushi"] in city.locator("#below").inner_text()
    fits(city)
    shot(city, f"{size}-dashboard-below")


@pytest.mark.parametrize("size", SIZES)
def test_the_supervisor_looks_back_at_closed_tasks_confirms_one_and_reopens_one_as_a_rebound(
    new_page, login, shot, api, size
):
    assert api.call("PUT", "/plans/1/policy", "smx_deputy", json={"lookback_days": 3}).status_code == 200
    closed = {}
    for key in ("lushi", "hubin"):
        tid = api.task_of(f"{key}_handler")["id"]
        rectify(api, f"{key}_handler", tid)
        check(api, "smx_deputy", "smx_head", tid)
        closed[key] = tid

    city = new_page()
    city.set_viewport_size(SIZES[size])
    login(city, "smx_deputy")
    city.goto("/")
    box = city.locator("#box-lookbacks")
    assert box.get_attribute("data-count") == "2"
    fits(city)
    shot(city, f"{size}-lookbacks-due")
    with city.expect_navigation():
        box.get_by_role("link").first.click()
    form = city.locator("#lookback form")
    form.locator("input[name=comment]").fill("回访入户，整改到位")
    with city.expect_navigation():
        form.get_by_role("button", name="确认整改到位").click()
    assert "回头看已确认整改到位" in city.locator(".flash").inner_text()
    assert "整改到位" in city.locator("#lookback").inner_text()

    city.goto("/")
    with city.expect_navigation():
        city.locator("#box-lookbacks").get_by_role("link").first.click()
    form = city.locator("#lookback form")
    form.locator("input[name=comment]").fill("回访发现农户又搬回危房居住")
    fits(city)
    thumb_sized(city)
    shot(city, f"{size}-lookback-form")
    with city.expect_navigation():
        form.get_by_role("button", name="问题反弹，重新整改").click()
    assert "已登记问题反弹" in city.locator(".flash").inner_text()
    assert city.locator("#state").get_attribute("data-state") == "in_progress"
    assert "回访发现农户又搬回危房居住" in city.locator("#lookback").inner_text()
    fits(city)
    shot(city, f"{size}-rebound")
    city.goto("/plans/1")
    assert city.locator("#rebounds").inner_text() == "1"
    assert "问题反弹" in city.locator("#lookbacks").inner_text()
    fits(city)
    shot(city, f"{size}-plan-rebounds")
