"""Workflow news in the browser, phone-wide: a supervisor urges ticked tasks from the list,
the county's handler reads the news in the inbox, follows it to the task, and switches that
kind of news off on the settings page."""

from __future__ import annotations

import re

import pytest

from app.demo import SMX_COUNTIES

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"


def flashes(page) -> str:
    return " ".join(page.locator("p.flash").all_inner_texts())


def phone(new_page, login, username: str):
    page = new_page()
    page.set_viewport_size(PHONE)
    login(page, username)
    return page


def test_urged_tasks_reach_the_handlers_inbox_and_the_news_can_be_switched_off_on_a_phone(new_page, login, shot, api):
    lushi = next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == SMX_COUNTIES["lushi"])
    supervisor = phone(new_page, login, "smx_deputy")
    supervisor.goto(f"/tasks?unit_id={lushi}&state=identified")
    boxes = supervisor.locator("table#tasks input[name=task_id]")
    assert boxes.count() >= 2
    urged = [int(boxes.nth(i).get_attribute("value")) for i in range(2)]
    for i in range(2):
        boxes.nth(i).check()
    supervisor.fill("#bulk-form input[name=comment]", "请本周内完成并报告进展")
    shot(supervisor, "ticked")
    with supervisor.expect_navigation():
        supervisor.get_by_role("button", name="催办所选").click()
    assert "已催办 2 项任务" in flashes(supervisor)

    handler = phone(new_page, login, "lushi_handler")
    handler.goto("/inbox")
    news = handler.locator("#inbox li a", has_text="【催办】")
    assert news.count() == 2
    assert handler.evaluate(FITS), "the inbox fits a phone"
    shot(handler, "inbox")
    with handler.expect_navigation():
        news.first.click()
    task_id = int(re.search(r"/tasks/(\d+)$", handler.url).group(1))
    assert task_id in urged
    urge_step = handler.locator("#history ol.timeline li.urged")
    assert "催办" in urge_step.inner_text() and "请本周内完成并报告进展" in urge_step.inner_text()
    assert handler.locator("#urge").count() == 0, "the unit does not urge itself"
    shot(handler, "task")

    handler.goto("/account/preferences")
    assert handler.evaluate(FITS), "the settings page fits a phone"
    handler.select_option("select[name=event_urged]", "off")
    shot(handler, "preferences")
    with handler.expect_navigation():
        handler.locator("#preferences button[type=submit]").click()
    assert "消息设置已保存" in flashes(handler)
    assert handler.locator("select[name=event_urged]").input_value() == "off"
    assert api.get("/me/preferences", "lushi_handler").get_json()["events"]["urged"] == "off"
