"""What people see in the browser: an official rectifying, supervisors checking and
striking off, the dashboard, a ledger going in and out, the language switch, the 督办单.

Assertions read the page as a person would: the state shown, the rows listed, the
timeline, the images and charts actually painted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app.demo import SMX, SMX_COUNTIES
from app.demo_campaign import photo_png as png
from app.domain.ledger_layouts import short_title
from app.services import plans
from app.services.ledger import imports
from tests.conftest import need_service
from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.e2e

LUSHI = SMX_COUNTIES["lushi"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ledgers"
HANDLER = "卢氏县住房和城乡建设局经办人"
DEPUTY = "三门峡市住房和城乡建设局分管领导"
HEAD = "三门峡市住房和城乡建设局主要领导"


# ---- helpers --------------------------------------------------------------------------
def flashes(page) -> str:
    return " ".join(page.locator("p.flash").all_inner_texts())


def refused(page) -> bool:
    return page.locator("p.flash.error, p.flash.refused").count() > 0


def shown_state(page) -> tuple[str, str]:
    state = page.locator("#state")
    return state.get_attribute("data-state"), state.inner_text().strip()


def move(page, to: str, comment: str | None = None) -> None:
    """Submit the task page's form that moves the task to ``to`` and check it went through."""
    form = page.locator(f"form.move[data-to={to}]")
    if comment is not None:
        form.locator("textarea[name=comment]").fill(comment)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert not refused(page), f"moving to {to} failed: {flashes(page)}"
    assert shown_state(page)[0] == to


def click_button(page, label: str) -> None:
    """Click the transition button a person reads as ``label`` and wait for the new page."""
    with page.expect_navigation():
        page.get_by_role("button", name=label, exact=True).click()
    assert not refused(page), f"{label} failed: {flashes(page)}"


def upload_photo(page, name: str, data: bytes) -> None:
    form = page.locator("form#upload")
    form.locator("input[type=file][multiple]").set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": data}]
    )
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "佐证材料已上传" in flashes(page), flashes(page)


def thumbnails_painted(page) -> list[int]:
    """naturalWidth of every evidence thumbnail, once each has finished loading."""
    thumbs = page.locator("#evidence img.thumb")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#evidence img.thumb')].every((i) => i.complete)", timeout=5000
    )
    return [thumbs.nth(i).evaluate("(img) => img.naturalWidth") for i in range(thumbs.count())]


def timeline(page) -> list[str]:
    return [re.sub(r"\s+", " ", t).strip() for t in page.locator("#history ol.timeline li.event").all_inner_texts()]


def open_first_identified_task(page) -> int:
    """From the task list, open the first task still 挂账; returns its id."""
    page.goto("/tasks?state=identified")
    link = page.locator("table#tasks tbody tr td:nth-child(3) a").first
    with page.expect_navigation():
        link.click()
    task_id = int(re.search(r"/tasks/(\d+)$", page.url).group(1))
    assert shown_state(page) == ("identified", "挂账")
    return task_id


def official_rectifies(page, shot, comment: str, photo: str, *, start: bool) -> None:
    """On an open task page: (start,) upload a photo, mark rectified with ``comment``."""
    if start:
        click_button(page, "开始整改")
        assert shown_state(page) == ("in_progress", "整改中")
    before = page.locator("#evidence img.thumb").count()
    upload_photo(page, photo, png(tint=(200, 60 + 40 * before, 40)))
    assert page.locator("#evidence img.thumb").count() == before + 1
    move(page, "rectified", comment)
    assert shown_state(page) == ("rectified", "已整改")
    shot(page, f"rectified-{before + 1}")


# ---- 1. the official ------------------------------------------------------------------
def test_a_county_official_sees_only_own_tasks_starts_one_uploads_a_photo_and_marks_it_rectified(page, login, shot):
    login(page, "lushi_handler", screenshot=True)
    page.goto("/tasks")
    shot(page, "tasks")
    units = page.locator("table#tasks tbody tr td[data-label='责任单位']").all_inner_texts()
    assert len(units) >= 2, "the official has tasks to see"
    assert {u.strip() for u in units} == {LUSHI}, "only the official's own unit is listed"

    open_first_identified_task(page)
    shot(page, "task-identified")
    assert page.locator("#evidence img.thumb").count() == 0
    click_button(page, "开始整改")
    assert shown_state(page) == ("in_progress", "整改中")
    shot(page, "task-started")

    upload_photo(page, "现场照片.png", png())
    assert page.locator("#evidence ul.files").inner_text().count("现场照片.png") == 1
    move(page, "rectified", "已逐户排查并拆除旧房，附现场照片。")
    assert shown_state(page) == ("rectified", "已整改")
    assert thumbnails_painted(page) == [64], "the uploaded photo is shown as a thumbnail"
    assert page.locator("#actions").count() == 0, "the unit cannot verify its own work"
    assert "已逐户排查并拆除旧房" in timeline(page)[-1]
    shot(page, "task-rectified")


# ---- 2. the supervisors ---------------------------------------------------------------
def test_a_supervisor_sends_a_task_back_with_a_reason_and_another_verifies_and_strikes_it_off(
    new_page, login, shot, live_server
):
    clock = live_server.clock
    official = login(new_page(), "lushi_handler")
    task_id = open_first_identified_task(official)
    official_rectifies(official, shot, "第一次整改：已完成排查。", "第一次.png", start=True)

    clock.advance(hours=2)
    deputy = login(new_page(), "smx_deputy")
    deputy.goto(f"/tasks/{task_id}")
    assert shown_state(deputy) == ("rectified", "已整改")
    assert deputy.get_by_role("button", name="核实通过").count() == 1
    reason = "照片未反映旧房拆除情况，请补充拆除后现场照片。"
    move(deputy, "in_progress", reason)
    assert shown_state(deputy) == ("in_progress", "整改中")
    last = timeline(deputy)[-1]
    assert "退回整改" in last and f"退回理由：{reason}" in last and DEPUTY in last
    shot(deputy, "sent-back")

    clock.advance(days=1)
    official.reload()
    assert shown_state(official) == ("in_progress", "整改中")
    official_rectifies(official, shot, "第二次整改：已补充拆除后照片。", "拆除后.png", start=False)
    assert thumbnails_painted(official) == [64, 64]

    clock.advance(hours=3)
    head = login(new_page(), "smx_head")
    head.goto(f"/tasks/{task_id}")
    click_button(head, "核实通过")
    assert shown_state(head) == ("verified", "已核实")
    clock.advance(minutes=30)
    click_button(head, "销号")
    assert shown_state(head) == ("closed", "已销号")
    assert head.locator("form#upload").count() == 0, "a closed task takes no more evidence"
    shot(head, "closed")

    steps = timeline(head)
    expected = [
        ("任务下达，列入挂账", None),
        ("开始整改", HANDLER),
        ("提交整改", HANDLER, "整改情况：第一次整改", "第一次.png"),
        ("退回整改", DEPUTY, f"退回理由：{reason}"),
        ("提交整改", HANDLER, "整改情况：第二次整改", "拆除后.png"),
        ("核实通过", HEAD),
        ("销号", HEAD),
    ]
    assert len(steps) == len(expected), steps
    for text, (arrow, *rest) in zip(steps, expected, strict=True):
        assert arrow in text and all(part in text for part in rest if part), (arrow, text)
    times = head.locator("#history ol.timeline time").all_inner_texts()
    assert times == sorted(times), "the history reads in the order things happened"
    attached = head.locator("#history ul.attached li").all_inner_texts()
    assert len(attached) == 2, "each rectification carries its photo"
    assert all(HANDLER in a for a in attached), "named with who uploaded it"


# ---- 3. the dashboard -----------------------------------------------------------------
INKED_PIXELS = """(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0 && (data[i] < 235 || data[i + 1] < 235 || data[i + 2] < 235)) inked++;
  }
  return inked;
}"""


def test_the_supervisor_sees_every_dashboard_chart_drawn(page, login, shot):
    login(page, "smx_deputy")
    page.goto("/dashboard")
    charts = page.locator("div.chart")
    assert charts.count() == 4
    page.wait_for_function("() => [...document.querySelectorAll('div.chart')].every((c) => c.dataset.drawn === '1')")
    shot(page, "dashboard")
    assert int(page.locator("#total").inner_text()) > 0
    for i in range(charts.count()):
        chart = charts.nth(i)
        name = chart.get_attribute("id")
        assert chart.get_attribute("data-drawn") == "1", name
        canvas = chart.locator("canvas").first
        box = canvas.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, (name, box)
        assert canvas.evaluate(INKED_PIXELS) > 200, f"{name} is blank"
    overdue = int(page.locator(".tile b.overdue").inner_text())
    assert overdue > 0, "on 21 June the 6月20日 items are overdue"


def test_on_a_phone_the_state_ring_lists_each_state_with_its_count_below_it(page, login, shot):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "smx_deputy")
    page.goto("/dashboard")
    page.wait_for_function("() => document.getElementById('chart-states').dataset.drawn === '1'")
    shot(page, "phone-dashboard")
    ring = page.evaluate(
        """() => {
          const o = echarts.getInstanceByDom(document.getElementById('chart-states')).getOption();
          const pie = o.series[0];
          return {outer: pie.label.show, lines: pie.data.map((d) => o.legend[0].formatter(d.name)),
                  counts: pie.data.map((d) => d.value)};
        }"""
    )
    assert ring["outer"] is False  # the labels around the ring ran off a phone's edges
    assert ring["lines"] and all(line.endswith(f" {n}") for line, n in zip(ring["lines"], ring["counts"], strict=True))
    assert sum(ring["counts"]) == int(page.locator("#total").inner_text())
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


# ---- 4. a ledger in and out -----------------------------------------------------------
def ledger_rows(path: Path) -> list[tuple[str, str, str]]:
    """(具体问题, 问题简述, 整改时限) of each problem row of a Sanmenxia-layout sheet."""
    ws = load_workbook(path).active
    out = []
    for row in ws.iter_rows(min_row=3, values_only=True):
        title, description, deadline = row[3], row[4], row[6]
        if description:
            out.append(((title or "").strip().rstrip("。"), description, str(deadline)))
    return out


def new_plan(api) -> int:
    r = api.post("/plans", "smx_deputy", json={"title": "台账导入演示方案", "issued_on": "2022-06-07"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def preview_ledger(page, plan_id: int, path: Path) -> None:
    page.goto(f"/plans/{plan_id}/import")
    page.locator("form#upload-ledger input[type=file]").set_input_files(str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="预览").click()


def test_a_supervisor_imports_a_ledger_through_the_preview_and_exports_it_back(
    page, login, shot, api, tmp_path, monkeypatch
):
    plan_id = new_plan(api)
    expected = ledger_rows(FIXTURES / "sanmenxia.xlsx")
    titles = [t or short_title(d) for t, d, _ in expected]

    login(page, "smx_deputy")
    page.goto(f"/plans/{plan_id}")
    assert page.locator("table#problems tbody tr").count() == 0
    with page.expect_navigation():
        page.get_by_role("link", name="导入台账").click()
    shot(page, "upload")
    preview_ledger(page, plan_id, FIXTURES / "sanmenxia.xlsx")
    preview = page.locator("table#preview tbody tr")
    assert preview.count() == len(expected) == 5
    assert page.locator("#errors-count").inner_text() == "0"
    assert page.locator("table#preview tr.colour-red").count() == 0
    assert [t.strip() for t in preview.locator("td:nth-child(6)").all_inner_texts()] == titles
    assert all(u.count("、") == len(SMX_COUNTIES) - 1 for u in preview.locator("td:nth-child(8)").all_inner_texts())
    shot(page, "preview")

    # hold the job after its first chunk of rows, so the page shows real progress while it runs
    monkeypatch.setattr(plans, "ADD_CHUNK", 2)
    halfway, go_on = threading.Event(), threading.Event()
    record = imports.FileProgress.set

    def report(self, token, done):
        record(self, token, done)
        if done == 2:
            halfway.set()
            go_on.wait(30)

    monkeypatch.setattr(imports.FileProgress, "set", report)
    with page.expect_navigation(url=re.compile(rf"/plans/{plan_id}/import/[A-Za-z0-9_-]+$")):
        page.get_by_role("button", name="确认导入").click()
    assert halfway.wait(30), "the job started beside the request, which has already answered"
    page.wait_for_function("() => document.getElementById('import-progress').value === 2")
    assert page.locator("#import-progress").get_attribute("max") == "5"
    shot(page, "importing")
    go_on.set()
    page.wait_for_selector("#import-result")
    assert "新增问题 5（分解为任务 35）" in page.locator("#import-result").inner_text()
    shot(page, "import-done")
    with page.expect_navigation(url=re.compile(rf"/plans/{plan_id}$")):
        page.get_by_role("link", name="返回整改方案").click()
    problems = page.locator("table#problems tbody tr")
    assert [t.strip() for t in problems.locator("td:nth-child(4)").all_inner_texts()] == titles
    assert [t.strip() for t in problems.locator("td:nth-child(5)").all_inner_texts()] == [d for *_, d in expected]
    assert set(problems.locator("td:nth-child(6)").all_inner_texts()) == {str(len(SMX_COUNTIES))}
    shot(page, "imported")

    with page.expect_download() as info:
        page.locator("a#export-sanmenxia").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    ws = load_workbook(saved).active
    assert ws["A2"].value == "序号" and ws["D2"].value == "具体问题" and ws["G2"].value == "整改时限"
    assert ledger_rows(saved) == expected, "titles, descriptions and deadlines come back as the fixture has them"
    assert ws["H3"].value == "各县（市、区）住房和城乡建设部门"


def test_after_confirming_an_import_its_page_says_how_many_problems_were_imported(page, login, shot, api):
    plan_id = new_plan(api)
    login(page, "smx_deputy")
    preview_ledger(page, plan_id, FIXTURES / "sanmenxia.xlsx")
    page.get_by_role("button", name="确认导入").click()
    page.wait_for_selector("#import-result")
    shot(page, "imported")
    assert "新增问题 5（分解为任务 35）" in page.locator("#import-result").inner_text()


def test_the_import_preview_names_each_rows_nature_as_the_ledger_does(page, login, api):
    plan_id = new_plan(api)
    login(page, "smx_deputy")
    preview_ledger(page, plan_id, FIXTURES / "sanmenxia.xlsx")
    natures = page.locator("table#preview tbody tr td:nth-child(5)").all_inner_texts()
    assert natures == ["共性问题"] * 5


# ---- 5. language ----------------------------------------------------------------------
def test_pages_are_in_chinese_by_default_and_the_header_link_switches_to_english(page, login, shot):
    login(page, "lushi_handler")
    page.goto("/tasks")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text().startswith("整改任务")
    headers = page.locator("table#tasks thead th").all_inner_texts()
    assert {"问题", "责任单位", "状态", "整改时限"} <= set(headers)
    shot(page, "zh")

    switch = page.locator("header a.lang")
    assert switch.inner_text() == "English"
    with page.expect_navigation():
        switch.click()
    assert re.search(r"/tasks\??$", page.url), page.url
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text().startswith("Tasks")
    headers = page.locator("table#tasks thead th").all_inner_texts()
    assert {"Problem", "Responsible unit", "State", "Deadline"} <= set(headers)
    assert set(page.locator("table#tasks td[data-state]").all_inner_texts()) <= {
        "On the books",
        "In progress",
        "Rectified",
        "Verified",
        "Closed",
    }
    assert page.get_by_role("button", name="Filter").count() == 1
    assert page.get_by_role("button", name="Sign out").count() == 1
    assert page.locator("header a.lang").inner_text() == "中文"
    shot(page, "en")


# ---- 6. the 督办单 ----------------------------------------------------------------------
def test_a_printable_supervision_notice_renders_for_an_overdue_task(page, login, shot, screenshot_dir):
    login(page, "smx_deputy")
    page.goto("/tasks?overdue=true")
    rows = page.locator("table#tasks tbody tr")
    assert rows.count() > 0 and rows.first.locator("strong.overdue").count() == 1
    with page.expect_navigation():
        rows.first.locator("td:nth-child(3) a").click()
    unit = page.locator("dl.facts dd").first.inner_text().strip()  # 责任单位
    with page.expect_navigation():
        page.get_by_role("link", name="打印督办单").click()
    assert re.search(r"/tasks/\d+/notice$", page.url)
    notice = page.locator("article.notice")
    assert "整改事项督办单" in notice.locator("h1").inner_text() and SMX in notice.locator("h1").inner_text()
    assert page.locator("#addressee").inner_text() == f"{unit}：", "addressed to the responsible unit"
    assert re.fullmatch(r"督办编号：三建督〔2022〕\d+号", page.locator("#notice-number").inner_text())
    assert page.locator("#notice-date").inner_text() == "2022年6月21日"
    assert "联系人：王某某" in page.locator("#notice-contact").inner_text()
    heads = notice.locator("table th").all_inner_texts()
    cells = dict(zip(heads, (t.strip() for t in notice.locator("table td").all_inner_texts()), strict=True))
    assert cells["当前状态"].endswith("已逾期")
    assert re.search(r"（2022年6月20日）$", cells["整改时限"]), cells["整改时限"]
    assert cells["督办级别"] == "尚未升级", "the sweep has not run in this test"
    assert notice.locator("figure.qr img").evaluate("(img) => img.complete && img.naturalWidth") > 0
    assert re.fullmatch(r"sm3:[0-9a-f]{64}", page.locator("#chain-head").inner_text()), "the record's chain head"
    assert "verify-history --head sm3:" in page.locator("#notice-chain").inner_text()
    assert page.locator("#print").is_visible()
    shot(page, "notice")
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible() and not page.locator("#print").is_visible()
    shot(page, "notice-print")
    printed(page, screenshot_dir)


def printed(page, folder: Path) -> None:
    """The 督办单 as the printer gets it: Chromium's PDF (A4), made into a PNG by pdftoppm and
    kept beside the screenshots; its text carries the number, the addressee and the contact."""
    if shutil.which("pdftoppm") is None:
        need_service("pdftoppm", "run `make browser` (poppler-utils)")
    pdf = folder / "notice-printed.pdf"
    pdf.write_bytes(page.pdf(format="A4", print_background=True))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", str(pdf), str(folder / "notice-printed")], check=True
    )
    png_file = folder / "notice-printed.png"
    assert png_file.stat().st_size > 10_000
    SHOTS.append(png_file)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "整改事项督办单" in text and "三建督〔2022〕" in text and "联系人" in text
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\b", pages), "one sheet of A4"
