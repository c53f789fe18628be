"""The demo as `make run` loads it, a campaign under way, seen in the browser: the
supervisor's dashboard with its three colours and weeks of burn-down, and their inbox.

The demo is loaded once at CAMPAIGN_NOW by `flask demo --if-empty` (tests/conftest.py
campaign_sqlite, shared with the API tests, which only read it too); the server runs at
that instant. Screenshots: test-artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

import config as rectify_config
from app import create_app
from tests.conftest import CAMPAIGN_NOW, Clock
from tests.e2e.test_browser import INKED_PIXELS

pytestmark = pytest.mark.e2e


@pytest.fixture
def clock() -> Clock:
    return Clock(CAMPAIGN_NOW)


@pytest.fixture
def app(campaign_sqlite, clock):
    url, instance = campaign_sqlite
    application = create_app(rectify_config.TestConfig(url, instance), clock=clock)
    yield application
    application.extensions["rectify"].db.dispose()


def tile(page, colour: str) -> int:
    return int(page.locator(f".tile.{colour} b").inner_text())


def dashboard_of(page, login, username: str):
    """``username``'s dashboard, once every chart is drawn."""
    login(page, username)
    page.goto("/dashboard")
    page.wait_for_function("() => [...document.querySelectorAll('div.chart')].every((c) => c.dataset.drawn === '1')")
    return page


def test_the_city_supervisor_sees_a_campaign_under_way_on_the_dashboard(page, login, shot):
    dashboard_of(page, login, "smx_head")
    shot(page, "dashboard")
    assert tile(page, "red") > 0, "items 5 working days overdue are on the 通报 list"
    assert tile(page, "blue") > 0, "an extended item falls due within three days"
    assert 0 < int(page.locator(".tile b.overdue").inner_text()) < int(page.locator("#total").inner_text())
    burndown = page.locator("#chart-burndown canvas").first
    assert burndown.evaluate(INKED_PIXELS) > 200, "the burn-down is drawn"


def test_the_township_supervisor_sees_yellow_items_on_the_dashboard(page, login, shot):
    dashboard_of(page, login, "yz_head")
    shot(page, "dashboard-yuzhou")
    assert tile(page, "yellow") > 0, "items 1 to 4 working days overdue are yellow"


def test_the_supervisors_inbox_lists_escalations_unread_above_what_they_already_read(page, login, shot):
    login(page, "smx_head")
    page.goto("/inbox")
    shot(page, "inbox-smx_head")
    unread = page.locator("#inbox li.unread")
    assert unread.count() > 0
    assert page.locator("#inbox li:not(.unread)").count() > 0, "the head read the older ones"
    assert page.locator("#inbox li.level-3").count() > 0, "level 3 reaches the issuing unit's supervisors"
    assert any("通报" in text or "逾期" in text for text in unread.all_inner_texts())


def test_a_county_handler_opens_the_task_the_city_sent_back_from_their_inbox(page, login, shot):
    login(page, "lushi_handler")
    page.goto("/inbox")
    shot(page, "inbox-lushi_handler")
    assert page.locator("#inbox li.unread").count() > 0
    page.goto("/tasks?state=in_progress")
    link = page.get_by_role("link", name="帮扶工作管理不规范").first
    with page.expect_navigation():
        link.click()
    shot(page, "task-sent-back")
    history = page.locator("#history").inner_text()
    assert "退回整改" in history and "约谈记录" in history
    assert page.locator("#history img").count() > 0 or page.locator("img").count() > 0, "its photos show"
