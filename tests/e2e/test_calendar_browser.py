"""The working-day calendar in the browser, phone-wide: a 2027 deadline says it is
provisional, and the admin's holiday moves it where the unit sees it."""

from __future__ import annotations

from datetime import UTC, datetime

from app.demo import YZ_TOWNS

JAN_4_2027 = datetime(2027, 1, 4, 1, 30, tzinfo=UTC)  # Monday 09:30 in China, in a year no package covers yet
PHONE = {"width": 390, "height": 844}


def a_2027_task(api) -> int:
    gucheng = next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == YZ_TOWNS["gucheng"])
    plan = {"title": "春节前农房安全排查", "issued_on": "2027-01-04"}
    pid = api.post("/plans", "yz_deputy", json=plan).get_json()["id"]
    problem = {"nature": "individual", "title": "房屋鉴定未完成", "deadline": "5个工作日内", "unit_ids": [gucheng]}
    assert api.post(f"/plans/{pid}/problems", "yz_deputy", json=problem).status_code == 201
    return api.get("/tasks", "admin", query_string={"plan_id": pid}).get_json()["items"][0]["id"]


def test_a_2027_deadline_reads_provisional_on_a_phone_and_moves_when_the_admin_adds_a_holiday(
    new_page, live_server, login, shot, api
):
    live_server.clock.now = JAN_4_2027
    task_id = a_2027_task(api)
    unit = new_page()
    unit.set_viewport_size(PHONE)
    login(unit, "gucheng_handler")
    unit.goto(f"/tasks/{task_id}")
    deadline = unit.locator("#deadline")
    assert "5个工作日内（2027年1月11日）" in deadline.inner_text()
    assert "自收到任务之日（2027年1月4日）起算" in deadline.inner_text()
    assert deadline.locator(".provisional").inner_text() == "暂定"
    shot(unit, "provisional")

    admin = new_page()
    admin.set_viewport_size(PHONE)
    login(admin, "admin")
    admin.goto("/admin/holidays")
    assert admin.locator("#calendar-years tr[data-source=provisional] td").first.inner_text() == "2027"
    admin.fill("input[name=day]", "2027-01-06")
    admin.fill("input[name=note]", "地方假日")
    with admin.expect_navigation():
        admin.get_by_role("button", name="保存").click()
    assert "1 项任务的整改时限随之调整" in admin.locator(".flash").inner_text()
    shot(admin, "holiday-added")

    unit.reload()
    assert "5个工作日内（2027年1月12日）" in unit.locator("#deadline").inner_text()
    moved = unit.locator("ol.timeline li.deadline_moved")
    assert "工作日历调整，时限重算" in moved.inner_text()
    assert "由2027年01月11日改为2027年01月12日" in moved.inner_text()
    shot(unit, "moved")
