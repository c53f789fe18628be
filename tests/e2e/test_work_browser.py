"""My work and acting on many, in Chromium on a desk (1366×768) and on a phone (390×844).

An official signs in and lands on their queue, with its count in the header, and follows an
item to the task's page. The supervisor lands on what waits to be checked, searches the
task list for a Chinese keyword, ticks the hits and verifies them together; the page that
follows gives each task's result, the one that changed meanwhile refused with the reason.
Screenshots: test-artifacts/screenshots/<test>-<step>.png.
"""

from __future__ import annotations

import io
import re

import pytest

from tests.integration.test_web_security import PNG

pytestmark = pytest.mark.e2e

SIZES = {"desk": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"


def opened(new_page, login, username: str, size: str):
    page = new_page()
    page.set_viewport_size(SIZES[size])
    login(page, username)
    return page


def rectify(api, task: dict, account: str) -> None:
    tid = task["id"]
    start = {"to": "in_progress", "version": task["version"]}
    assert api.post(f"/tasks/{tid}/transitions", "lushi_handler", json=start).status_code == 200
    up = api.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "现场.png")})
    assert up.status_code == 201
    body = {"to": "rectified", "version": task["version"] + 1, "comment": account}
    assert api.post(f"/tasks/{tid}/transitions", "lushi_handler", json=body).status_code == 200


def waiting(page) -> int:
    """The count of my work in the header (on the menu button, seen even while it is folded)."""
    return int(page.locator("#menu summary .badge.work").inner_text())


@pytest.mark.parametrize("size", SIZES)
def test_an_official_lands_on_their_queue_and_follows_an_item_to_the_task(new_page, login, shot, api, size):
    mine = api.task_of("lushi_handler")
    page = opened(new_page, login, "lushi_handler", size)
    to_start = page.locator("#box-to_start")
    count = int(to_start.get_attribute("data-count"))
    assert count > 0 and waiting(page) >= count
    assert page.evaluate(FITS), "my work fits the screen"
    shot(page, "home")
    with page.expect_navigation():
        to_start.locator("a", has_text=mine["problem_title"]).first.click()
    assert re.search(r"/tasks/\d+$", page.url)
    assert page.get_by_role("button", name="开始整改").count() == 1, "the item leads where the official acts"
    shot(page, "task")


@pytest.mark.parametrize("size", SIZES)
def test_a_supervisor_searches_ticks_and_verifies_many_with_a_result_for_each(new_page, login, shot, api, size):
    items = api.get("/tasks", "lushi_handler", query_string={"per_page": 3, "state": "identified"}).get_json()["items"]
    lushi = [t for t in items if t["unit_name"].startswith("卢氏县")][:3]
    assert len(lushi) == 3
    for t in lushi:
        rectify(api, t, "已拆除违建并补种草皮")
    stale = lushi[2]["id"]

    page = opened(new_page, login, "smx_deputy", size)
    check = page.locator("#box-to_check")
    assert int(check.get_attribute("data-count")) == 3 and waiting(page) >= 3
    shot(page, "home")
    at_home = waiting(page)

    page.goto("/tasks")
    # the list comes without the counts, which the page then fetches (app.js): the same
    page.wait_for_function("() => !document.querySelector('#menu summary .badge.work').hidden")
    assert waiting(page) == at_home
    unread = api.get("/inbox", "smx_deputy").get_json()["unread"]
    badge = page.locator("#menu summary [data-unread]")
    assert (badge.inner_text() if unread else badge.is_hidden()) == (str(unread) if unread else True)
    page.fill("#filters input[name=q]", "补种草皮")  # a word of the units' accounts, no word boundary
    with page.expect_navigation():
        page.locator("#filters button[type=submit]").click()
    rows = page.locator("table#tasks tbody tr")
    assert rows.count() == 3
    assert page.evaluate(FITS), "the list fits the screen"
    for t in lushi:
        page.locator(f"input[name=task_id][value='{t['id']}']").check()
    shot(page, "ticked")
    # meanwhile the head sends one back: the list the deputy ticked is stale for it
    body = {"to": "in_progress", "version": lushi[2]["version"] + 2, "comment": "照片不清"}
    assert api.post(f"/tasks/{stale}/transitions", "smx_head", json=body).status_code == 200
    with page.expect_navigation():
        page.get_by_role("button", name="核实通过所选").click()
    result = page.locator("#bulk-result")
    assert result.locator("tr[data-done=yes]").count() == 2
    refused = result.locator(f"tr[data-task='{stale}']")
    assert refused.get_attribute("data-done") == "no" and "已被他人修改" in refused.inner_text()
    assert "完成 2 项，未办理 1 项" in page.locator("p.flash").inner_text()
    assert page.evaluate(FITS), "the result fits the screen"
    shot(page, "result")
    states = {t["id"]: api.get(f"/tasks/{t['id']}", "smx_deputy").get_json()["state"] for t in lushi}
    assert states == {lushi[0]["id"]: "verified", lushi[1]["id"]: "verified", stale: "in_progress"}


@pytest.mark.parametrize("size", SIZES)
def test_a_city_picks_one_unit_of_a_list_too_long_to_print_into_every_page(new_page, login, shot, monkeypatch, size):
    """Past INLINE_UNITS the unit filter arrives with 全部 only and fills itself in from
    /units/choices; picking a unit filters the list and the page comes back with it chosen."""
    from app.web import plans as plan_pages

    monkeypatch.setattr(plan_pages, "INLINE_UNITS", 2)
    page = opened(new_page, login, "smx_deputy", size)
    page.goto("/tasks")
    unit = page.locator("#filters select[name=unit_id]")
    page.wait_for_function("() => document.querySelector('#filters select[name=unit_id]').options.length > 3")
    if size == "phone":
        page.locator("#filter-box summary").click()  # folded on a phone until tapped
    unit.select_option(label="卢氏县住房和城乡建设局")
    with page.expect_navigation():
        page.locator("#filters button[type=submit]").click()
    names = page.locator("table#tasks tbody tr td:nth-child(5)").all_inner_texts()
    assert names and set(names) == {"卢氏县住房和城乡建设局"}
    page.wait_for_function("() => document.querySelector('#filters select[name=unit_id]').options.length > 3")
    assert unit.evaluate("(s) => s.selectedOptions[0].textContent") == "卢氏县住房和城乡建设局", "kept once filled in"
    assert page.evaluate(FITS), "the filter fits the screen"
    shot(page, "unit-chosen")


def test_on_a_phone_a_task_is_one_compact_card_and_a_deadline_reads_as_one_line(new_page, login, shot):
    """Fifty tasks a page: a labelled line per column made each card 330 px, a page 17 m of
    thumb. Each is now tick, number and problem on the first line, the unit, then state,
    deadline and level; and a cell of several parts (deadline, 逾期, level) stays beside
    its heading instead of spilling a part under the heading."""
    page = opened(new_page, login, "smx_deputy", "phone")
    page.goto("/tasks")
    rows = page.locator("table#tasks tbody tr")
    assert rows.count() >= 10
    for i in range(10):
        row = rows.nth(i)
        card = row.bounding_box()
        assert card["height"] <= 170, f"card {i} is {card['height']} px high"
        tick = row.locator("input[name=task_id]").bounding_box()
        problem = row.locator("td a").nth(1).bounding_box()
        assert abs((tick["y"] + tick["height"] / 2) - (problem["y"] + problem["height"] / 2)) < 12, (
            "tick and problem on one line"
        )
    assert page.evaluate(FITS), "the list fits the screen"
    shot(page, "compact-cards")

    page.goto("/")
    late = page.locator(".box table.grid td strong.overdue").first
    cell = page.locator(".box table.grid td:has(strong.overdue)").first
    heading_right = cell.bounding_box()["x"] + 100  # the heading's column (6.5 rem)
    assert late.bounding_box()["x"] >= heading_right, "逾期 stands in the value's column, not under the heading"
    # a problem's link starts on its heading's line (事项): centred in its 44 px tap height,
    # a one-line title sat half a line below the heading
    offsets = page.evaluate(
        """() => [...document.querySelectorAll('.box table.grid td[data-label] > a')].map((a) => {
          const cell = a.parentElement, range = document.createRange();
          range.selectNodeContents(a);
          const text = range.getClientRects()[0].top;
          return text - (cell.getBoundingClientRect().top + parseFloat(getComputedStyle(cell).paddingTop));
        })"""
    )
    assert offsets and max(abs(o) for o in offsets) < 4, offsets
    shot(page, "deadline-one-line")
