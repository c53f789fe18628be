"""签收 and 转办 in the browser, on a desk (1366 px) and on a phone (390 px): a county
declines a task with a reason, the city sees it in its work and reassigns it to another
county, which acknowledges it; the city narrows one and insists on another; a county
acknowledges all of a plan's tasks from the plan page. Every button is a 44 px target and
no page scrolls sideways; each step is a screenshot."""

from __future__ import annotations

import pytest

from app.demo import SMX_COUNTIES
from tests.e2e.test_authoring_browser import SIZES, fits, submit


def assign(api, key: str, title: str) -> int:
    unit = next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == SMX_COUNTIES[key])
    body = {"nature": "individual", "title": title, "deadline": "6月30日前", "unit_ids": [unit]}
    problem = api.post("/plans/1/problems", "smx_deputy", json=body).get_json()["id"]
    tasks = api.get("/tasks", "smx_deputy", query_string={"plan_id": 1, "per_page": 200}).get_json()["items"]
    return next(t["id"] for t in tasks if t["problem_id"] == problem)


def targets_are_thumb_sized(page, selector: str) -> None:
    """Buttons, fields and the labels around check boxes (the box's tap target) are 44 px high."""
    fields = "input:not([type=hidden]):not([type=checkbox])"
    found = page.locator(f"{selector} button, {selector} {fields}, {selector} select, {selector} label").all()
    assert found
    for box in found:
        if box.is_visible():
            assert box.bounding_box()["height"] >= 44, f"{selector}: a target under 44 px"


def open_as(new_page, login, size: str, username: str):
    page = new_page()
    page.set_viewport_size(SIZES[size])
    login(page, username)
    return page


@pytest.mark.parametrize("size", SIZES)
def test_a_county_declines_a_task_and_the_city_reassigns_it_to_a_county_that_acknowledges_it(
    new_page, login, shot, api, size
):
    tid = assign(api, "lushi", "危房改造补助资金未拨付到户")
    county = open_as(new_page, login, size, "lushi_handler")
    assert county.locator("#box-to_acknowledge").get_by_role("link", name="危房改造补助资金未拨付到户").count() == 1
    county.goto(f"/tasks/{tid}")
    assert county.locator("#receipt").inner_text().startswith("待签收")
    targets_are_thumb_sized(county, "#receipt-actions")
    fits(county)
    shot(county, f"{size}-to-acknowledge")
    county.fill("#decline-form textarea[name=reason]", "该户户籍及房屋均在灵宝市，不属我县")
    submit(county, "#decline-form")
    assert "已拒收，等待下发单位处理。" in county.locator(".flash").inner_text()
    assert county.locator("#receipt").inner_text().startswith("已拒收")
    fits(county)
    shot(county, f"{size}-declined")

    city = open_as(new_page, login, size, "smx_deputy")
    with city.expect_navigation():
        city.locator("#box-declined").get_by_role("link", name="危房改造补助资金未拨付到户").click()
    assert "该户户籍及房屋均在灵宝市，不属我县" in city.locator("#history").inner_text()
    targets_are_thumb_sized(city, "#receipt-actions")
    city.select_option("#reassign-form select[name=unit_id]", label=SMX_COUNTIES["lingbao"])
    city.fill("#reassign-form input[name=reason]", "经核实属灵宝市，转灵宝市办理")
    fits(city)
    shot(city, f"{size}-to-decide")
    submit(city, "#reassign-form")
    assert f"已转办至{SMX_COUNTIES['lingbao']}。" in city.locator(".flash").inner_text()
    assert "转办：由卢氏县住房和城乡建设局转至灵宝市住房和城乡建设局" in city.locator("#history").inner_text()
    shot(city, f"{size}-reassigned")

    lingbao = open_as(new_page, login, size, "lingbao_handler")
    lingbao.goto(f"/tasks/{tid}")
    submit(lingbao, "#acknowledge-form")
    assert "已签收。" in lingbao.locator(".flash").inner_text()
    assert lingbao.locator("#receipt").get_attribute("data-receipt") == "acknowledged"
    assert lingbao.locator("#acknowledged-by").is_visible()
    fits(lingbao)
    shot(lingbao, f"{size}-acknowledged")


@pytest.mark.parametrize("size", SIZES)
def test_the_city_narrows_one_declined_task_and_insists_on_another_and_the_counties_read_it(
    new_page, login, shot, api, size
):
    narrowed = assign(api, "hubin", "农房安全隐患排查不到位")
    insisted = assign(api, "yima", "危房鉴定结论与实际不符")
    for key, tid in (("hubin", narrowed), ("yima", insisted)):
        r = api.post(f"/tasks/{tid}/decline", f"{key}_handler", json={"reason": "范围有异议", "version": 1})
        assert r.status_code == 200
    city = open_as(new_page, login, size, "smx_deputy")
    city.goto(f"/tasks/{narrowed}")
    city.fill("#narrow-form textarea[name=scope]", "仅限交口乡3个行政村")
    city.fill("#narrow-form input[name=reason]", "其余村已由区直部门整改")
    submit(city, "#narrow-form")
    assert "已调整整改范围" in city.locator(".flash").inner_text()
    shot(city, f"{size}-narrowed")
    city.goto(f"/tasks/{insisted}")
    city.fill("#insist-form textarea[name=reason]", "经核实属义马市职责，维持交办")
    submit(city, "#insist-form")
    assert "已维持交办" in city.locator(".flash").inner_text()
    shot(city, f"{size}-insisted")

    hubin = open_as(new_page, login, size, "hubin_handler")
    hubin.goto(f"/tasks/{narrowed}")
    assert hubin.locator("#scope-note").inner_text() == "仅限交口乡3个行政村"
    fits(hubin)
    shot(hubin, f"{size}-county-reads-scope")
    yima = open_as(new_page, login, size, "yima_handler")
    yima.goto(f"/tasks/{insisted}")
    assert yima.locator("#decline-form").count() == 0 and yima.locator("#acknowledge-form").count() == 1
    assert "经核实属义马市职责，维持交办" in yima.locator("#history").inner_text()
    fits(yima)
    shot(yima, f"{size}-county-reads-insisted")


@pytest.mark.parametrize("size", SIZES)
def test_a_county_acknowledges_all_of_a_plans_tasks_from_the_plan_page(new_page, login, shot, size):
    county = open_as(new_page, login, size, "mianchi_handler")
    county.goto("/plans/1")
    card = county.locator("#acknowledge-all")
    assert "待签收" in card.inner_text()
    targets_are_thumb_sized(county, "#acknowledge-all")
    fits(county)
    shot(county, f"{size}-plan-to-acknowledge")
    submit(county, "#acknowledge-all")
    assert "项任务。" in county.locator(".flash").inner_text()
    assert county.locator("#acknowledge-all").count() == 0
    shot(county, f"{size}-plan-acknowledged")
