"""Through the pages only, on a desk and on a phone: the city's supervisor issues a plan,
adds a common problem fanned out to every county with the unit picker, and declares a
weekly report; the counties then see their task and the report they owe."""

from __future__ import annotations

import pytest

from app.demo import DEMO_PASSWORD, SMX, SMX_COUNTIES

SIZES = {"desk": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
TITLE = "农村危房改造“回头看”整改方案"
PROBLEM = "危房改造档案资料不规范"


def fits(page) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url} scrolls sideways: {width} > {inner}"


def submit(page, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).locator("button[type=submit]").click()


@pytest.mark.parametrize("size", SIZES)
def test_a_supervisor_issues_a_plan_with_a_problem_for_every_county_and_a_weekly_report_and_the_counties_see_them(
    new_page, login, shot, size
):
    city = new_page()
    city.set_viewport_size(SIZES[size])
    login(city, "smx_deputy")
    city.goto("/plans")
    with city.expect_navigation():
        city.click("#new-plan")
    city.fill("input[name=title]", TITLE)
    city.fill("input[name=doc_number]", "三建〔2022〕201号")
    assert city.locator("select[name=issuing_unit_id] option").first.inner_text() == SMX
    city.locator("input[name=phase_name]").nth(0).fill("排查整改")
    city.locator("input[name=phase_deadline]").nth(0).fill("7月15日前")
    city.locator("input[name=phase_name]").nth(1).fill("总结验收")
    city.locator("input[name=phase_deadline]").nth(1).fill("7月底")
    fits(city)
    shot(city, f"{size}-plan-form")
    submit(city, "#plan-form")
    assert city.locator("h1").inner_text() == TITLE
    assert "三建〔2022〕201号" in city.locator(".meta").first.inner_text()
    assert "整改方案已下发" in city.locator(".flash").inner_text()

    with city.expect_navigation():
        city.click("#add-problem")
    city.fill("input[name=title]", PROBLEM)
    city.fill("input[name=category]", "工作落实方面")
    city.fill("textarea[name=measures]", "逐户核对档案，补齐缺失资料")
    city.fill("input[name=deadline]", "6月30日前")
    every_county = city.get_by_label(f"{SMX}的全部下级单位")
    assert every_county.is_checked()  # the common case is the default
    for name in SMX_COUNTIES.values():
        assert city.locator("#unit-picker").get_by_label(name).is_visible()
    fits(city)
    shot(city, f"{size}-problem-form")
    submit(city, "#problem-form")
    assert "分解为 7 项整改任务" in city.locator(".flash").inner_text()
    assert PROBLEM in city.locator("#problems").inner_text()

    with city.expect_navigation():
        city.click("#add-obligation")
    city.fill("input[name=title]", "整改进展周报")
    city.fill("input[name=schedule]", "每周五")
    city.get_by_label(f"{SMX}的全部下级单位").check()
    fits(city)
    shot(city, f"{size}-obligation-form")
    submit(city, "#obligation-form")
    assert "报送要求已设置" in city.locator(".flash").inner_text()
    owed = city.locator("#obligations")
    assert "整改进展周报" in owed.inner_text() and "待报送" in owed.inner_text()
    fits(city)
    shot(city, f"{size}-plan")
    plan_url = city.url

    for key in ("lushi", "mianchi"):
        county = new_page()
        county.set_viewport_size(SIZES[size])
        login(county, f"{key}_handler")
        county.goto(plan_url.replace(city.url.split("/plans/")[0], ""))
        assert county.locator("h1").inner_text() == TITLE
        county.goto("/tasks?plan_id=" + plan_url.rstrip("/").rsplit("/", 1)[1])
        rows = county.locator("#tasks tbody tr")
        assert rows.count() == 1
        assert PROBLEM in rows.first.inner_text() and SMX_COUNTIES[key] in rows.first.inner_text()
        fits(county)
        shot(county, f"{size}-{key}-tasks")
        county.goto("/submissions")
        mine = county.locator("#submissions tbody tr", has_text="整改进展周报")
        assert mine.count() == 6  # every Friday from 6月24日 to 7月29日, the plan's last phase
        assert all(SMX_COUNTIES[key] in t for t in mine.all_inner_texts())
        assert "待报送" in mine.first.inner_text()
        fits(county)
        shot(county, f"{size}-{key}-reports")


def test_on_a_phone_a_supervisor_withdraws_a_problem_with_a_reason_and_the_county_reads_it_on_its_task(
    new_page, login, shot, api
):
    lushi = next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == SMX_COUNTIES["lushi"])
    body = {"nature": "individual", "title": "误交办的问题", "deadline": "6月30日前", "unit_ids": [lushi]}
    problem = api.post("/plans/1/problems", "smx_deputy", json=body).get_json()["id"]
    city = new_page()
    city.set_viewport_size(SIZES["phone"])
    login(city, "smx_deputy")
    city.goto("/plans/1")
    with city.expect_navigation():
        city.get_by_role("link", name="误交办的问题").click()
    city.fill("#withdraw-form textarea[name=reason]", "交办单位有误，改由市局直接整改")
    fits(city)
    submit(city, "#withdraw-form")
    assert "1 项任务不再计入未办结数" in city.locator(".flash").inner_text()
    assert city.locator("#problem-state").inner_text() == "已撤销"
    assert "交办单位有误，改由市局直接整改" in city.locator("#withdrawal").inner_text()
    fits(city)
    shot(city, "phone-withdrawn-problem")

    county = new_page()
    county.set_viewport_size(SIZES["phone"])
    login(county, "lushi_handler")
    county.goto(f"/problems/{problem}")
    with county.expect_navigation():
        county.locator("#problem-tasks a").first.click()
    page = county.locator("main").inner_text()
    assert "已撤销" in page and "交办单位有误，改由市局直接整改" in page
    fits(county)
    shot(county, "phone-withdrawn-task")


@pytest.mark.parametrize("size", SIZES)
def test_a_supervisor_edits_a_problem_its_units_and_deadline_and_a_stale_edit_is_refused_keeping_what_was_typed(
    new_page, login, shot, api, size
):
    units = {u["name"]: u["id"] for u in api.get("/units", "admin").get_json()}
    lushi, hubin, shanzhou = (units[SMX_COUNTIES[k]] for k in ("lushi", "hubin", "shanzhou"))
    body = {"nature": "common", "title": "档案资料不规范", "deadline": "6月30日前", "unit_ids": [lushi, hubin]}
    problem = api.post("/plans/1/problems", "smx_deputy", json=body).get_json()["id"]
    city = new_page()
    city.set_viewport_size(SIZES[size])
    login(city, "smx_deputy")
    city.goto(f"/problems/{problem}")
    with city.expect_navigation():
        city.click("#edit-problem")
    assert city.locator("input[name=title]").input_value() == "档案资料不规范"
    picker = city.locator("#unit-picker")
    assert (
        picker.get_by_label(SMX_COUNTIES["lushi"]).is_checked()
        and picker.get_by_label(SMX_COUNTIES["hubin"]).is_checked()
    )
    city.fill("input[name=title]", "危房改造档案资料不规范、不完整")
    city.get_by_label("个性问题").check()
    city.fill("textarea[name=measures]", "逐户核对档案，7月10日前补齐缺失资料")
    city.fill("input[name=deadline]", "7月15日前")
    picker.get_by_label(SMX_COUNTIES["hubin"]).uncheck()
    picker.get_by_label(SMX_COUNTIES["shanzhou"]).check()
    city.fill("textarea[name=reason]", "湖滨区已纳入市本级统一整改")
    fits(city)
    shot(city, f"{size}-problem-edit-form")
    submit(city, "#problem-form")
    assert "新增 1 项任务，撤销 1 项，1 项任务的整改时限随之调整" in city.locator(".flash").inner_text()
    assert city.locator("h1").inner_text() == "危房改造档案资料不规范、不完整"
    facts = city.locator("#problem-facts").inner_text()
    assert "个性问题" in facts and "7月15日前" in facts and "7月10日前补齐缺失资料" in facts
    rows = {
        r.locator("td").nth(1).inner_text(): r.locator("td").nth(2).inner_text()
        for r in city.locator("#problem-tasks tbody tr").all()
    }
    assert rows == {SMX_COUNTIES["hubin"]: "已撤销", SMX_COUNTIES["shanzhou"]: "挂账", SMX_COUNTIES["lushi"]: "挂账"}
    fits(city)
    shot(city, f"{size}-problem-edited")

    # someone else saves first; the stale form is refused and keeps what was typed here
    with city.expect_navigation():
        city.click("#edit-problem")
    other = api.get(f"/problems/{problem}", "smx_head").get_json()
    theirs = {k: other[k] for k in ("title", "category", "nature", "description", "source", "measures", "remarks")}
    theirs |= {"deadline": other["deadline_text"], "unit_ids": [lushi, shanzhou], "version": other["version"]}
    assert api.call("PUT", f"/problems/{problem}", "smx_head", json=theirs | {"remarks": "市局复核"}).status_code == 200
    typed = "逐户核对档案，并由乡镇复核签字"
    city.fill("textarea[name=measures]", typed)
    submit(city, "#problem-form")
    assert "问题已被他人修改，请刷新后查看最新内容再修改" in city.locator(".flash.refused").inner_text()
    assert city.locator("textarea[name=measures]").input_value() == typed, "what was typed stays"
    fits(city)
    shot(city, f"{size}-problem-edit-stale")


LONG_UNIT = "三门峡市城乡一体化示范区住房和城乡建设局村镇建设与农村危房改造工作专班"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_on_a_desk_the_header_stays_one_row_for_a_long_unit_name_cut_short_with_its_whole_name_in_the_title(
    new_page, login, shot, api, lang
):
    smx = next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == SMX)
    unit = api.post("/units", "admin", json={"name": LONG_UNIT, "kind": "专班", "parent_id": smx}).get_json()["id"]
    user = {"username": "zhuanban_head", "password": DEMO_PASSWORD, "full_name": "欧阳某某", "unit_id": unit}
    assert api.post("/users", "admin", json=user | {"role": "supervisor", "position": "head"}).status_code == 201
    page = new_page()
    page.set_viewport_size(SIZES["desk"])
    login(page, "zhuanban_head")
    if lang == "en":
        page.goto("/lang/en?next=/")
    header = page.locator("header.top").bounding_box()
    assert header["height"] <= 60, f"the header wraps: {header['height']:.0f} px"
    who = page.locator("header.top .who")
    assert who.get_attribute("title") == f"欧阳某某 · {LONG_UNIT}"
    assert page.evaluate("(el) => el.scrollWidth > el.clientWidth", who.element_handle()), "cut short (ellipsis)"
    nav = page.locator("header.top nav a").all()
    assert len({round(a.bounding_box()["y"]) for a in nav}) == 1, "every entry on the one row"
    fits(page)
    shot(page, f"header-{lang}")


def test_on_a_phone_switched_to_english_a_refused_step_says_why_in_english_and_keeps_the_account(
    new_page, login, shot, api
):
    task = api.get("/tasks", "lushi_handler", query_string={"plan_id": 1, "state": "identified"}).get_json()["items"][0]
    page = new_page()
    page.set_viewport_size(SIZES["phone"])
    login(page, "lushi_handler")
    page.goto(f"/lang/en?next=/tasks/{task['id']}")
    with page.expect_navigation():
        page.get_by_role("button", name="Start", exact=True).click()
    account = "已逐户核查，危房已拆除重建。"
    page.locator("form.move[data-to=rectified] textarea").fill(account)
    with page.expect_navigation():
        page.get_by_role("button", name="Mark rectified", exact=True).click()
    said = page.locator("p.flash.refused").inner_text()
    assert said == "Marking it rectified needs at least one piece of evidence (upload a photo or a file first).", said
    assert page.locator("p.flash.refused").get_attribute("lang") is None
    assert page.locator("form.move[data-to=rectified] textarea").input_value() == account
    fits(page)
    shot(page, "phone-en-refused")
