"""Drafted documents in Chromium, on a desk (1366×768) and on a phone (390×844).

A county drafts its 整改情况报告 from the plan page as of a day and downloads it, drafts
the report it owes from the reports page and hands it in with a note alone (the draft is
attached), and has a broken template refused with the tag named on the page. A township
hands in its weekly report from the ledger typing only its note, after reading the
period's changes; the city reads the same rows. The city drafts the 通报. Every control
it taps is a thumb's size. Screenshots: test-artifacts/screenshots/<test>-<step>.png.
"""

from __future__ import annotations

import io

import pytest
from docx import Document

from tests.integration.test_api_tasks import SMX_PLAN_NO, YZ_PLAN_NO, move, plan_id

pytestmark = [pytest.mark.e2e, pytest.mark.presigned]

SIZES = {"desk": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"
TAP_PX = 44


def opened(new_page, login, username: str, size: str):
    page = new_page()
    page.set_viewport_size(SIZES[size])
    login(page, username)
    return page


def thumb_sized(locator) -> None:
    box = locator.bounding_box()
    assert box and box["height"] >= TAP_PX - 0.5, (locator, box)


def downloaded(page, locator, tmp_path) -> Document:
    with page.expect_download() as info:
        locator.click()
    d = info.value
    assert d.suggested_filename.endswith(".docx"), d.suggested_filename
    path = tmp_path / d.suggested_filename
    d.save_as(path)
    return Document(path)


def text_of(doc: Document) -> str:
    return "\n".join(p.text for p in doc.paragraphs)


def unit_id(api, name: str) -> int:
    return next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == name)


@pytest.mark.parametrize("size", SIZES)
def test_a_county_drafts_its_report_hands_it_in_and_sees_a_broken_template_refused(
    new_page, login, shot, api, size, tmp_path
):
    pid = plan_id(api, SMX_PLAN_NO)
    lushi = unit_id(api, "卢氏县住房和城乡建设局")
    body = {"title": "整改情况报告", "schedule": "6月30日前", "unit_ids": [lushi]}
    assert api.post(f"/plans/{pid}/obligations", "smx_deputy", json=body).status_code == 201
    page = opened(new_page, login, "lushi_handler", size)

    page.goto(f"/plans/{pid}")
    assert page.evaluate(FITS)
    button = page.locator("#draft-report")
    thumb_sized(button)
    thumb_sized(page.locator("#draft-report-form input[name=as_of]"))
    page.fill("#draft-report-form input[name=as_of]", "2022-06-21")
    shot(page, "plan")
    doc = downloaded(page, button, tmp_path)
    assert "卢氏县住房和城乡建设局文件" in text_of(doc) and "截至2022年6月21日" in text_of(doc)

    page.goto("/submissions")
    assert page.evaluate(FITS)
    row = page.locator("#submissions tbody tr", has_text="整改情况报告").first
    draft = row.locator("a.draft-link")
    thumb_sized(draft)
    assert "承担整改任务9项" in text_of(downloaded(page, draft, tmp_path))
    row.locator("input[name=note]").fill("整改情况报告，请审阅。")
    assert row.locator("input[name=draft]").is_checked(), "without a file the draft goes with it"
    thumb_sized(row.locator("button[type=submit]"))
    shot(page, "reports")
    with page.expect_navigation():
        row.locator("button[type=submit]").click()
    row = page.locator("#submissions tbody tr", has_text="整改情况报告").first
    assert row.locator(".report-state").get_attribute("data-state") == "submitted"
    assert ".docx" in row.locator(".report-file").inner_text()
    shot(page, "handed-in")

    page.locator("#report-templates-link").click()
    page.wait_for_url("**/report-templates")
    template = api.get("/report-templates/report.docx", "lushi_handler").data
    bad = Document(io.BytesIO(template))
    bad.paragraphs[8].insert_paragraph_before("{% for x in next_steps %}{{ x }}")
    buf = io.BytesIO()
    bad.save(buf)
    form = page.locator("#template-report form")
    form.locator("input[type=file]").set_input_files(
        files=[{"name": "坏模板.docx", "mimeType": "application/octet-stream", "buffer": buf.getvalue()}]
    )
    thumb_sized(form.locator("button[type=submit]"))
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    error = page.locator("#template-error").inner_text()
    assert "{% for x in next_steps %}" in error and "endfor" in error
    assert page.evaluate(FITS)
    shot(page, "template-refused")


@pytest.mark.parametrize("size", SIZES)
def test_a_township_hands_in_its_weekly_report_from_the_ledger_typing_only_its_note(new_page, login, shot, api, size):
    pid = plan_id(api, YZ_PLAN_NO)
    yz = unit_id(api, "禹州市住房和城乡建设局")
    body = {"title": "周报", "schedule": "每周五", "all_units_under": yz, "from_ledger": "yuzhou"}
    assert api.post(f"/plans/{pid}/obligations", "yz_deputy", json=body).status_code == 201
    me = api.get("/me", "gucheng_handler").get_json()
    tasks = api.get("/tasks", "gucheng_handler", query_string={"plan_id": pid, "unit_id": me["unit_id"]}).get_json()
    move(api, tasks["items"][0]["id"], "gucheng_handler", "in_progress")

    page = opened(new_page, login, "gucheng_handler", size)
    page.goto(f"/submissions?plan_id={pid}")
    row = page.locator("#submissions tbody tr", has_text="周报").first
    form = row.locator("form.submit-form")
    typed = form.locator("input:not([type=hidden]), textarea, select")
    assert typed.count() == 1 and typed.first.get_attribute("name") == "note", "the township types its note only"
    changes = row.locator("a.changes-link")
    thumb_sized(changes)
    shot(page, "reports")
    with page.expect_navigation():
        changes.click()
    rows = page.locator("#period-changes tbody tr")
    assert rows.count() == tasks["total"]
    assert "挂账→整改中" in page.locator("#period-changes").inner_text()
    summary = page.locator("#period-summary").inner_text()
    assert f"本期新增问题{tasks['total']}个" in summary
    assert page.evaluate(FITS)
    shot(page, "changes")
    changes_url = page.url
    page.go_back()
    row = page.locator("#submissions tbody tr", has_text="周报").first
    row.locator("input[name=note]").fill("本周无其他情况。")
    with page.expect_navigation():
        row.locator("button[type=submit]").click()
    row = page.locator("#submissions tbody tr", has_text="周报").first
    assert row.locator(".report-state").get_attribute("data-state") == "submitted"
    shot(page, "handed-in")

    city = opened(new_page, login, "yz_handler", size)
    city.goto(changes_url)
    assert city.locator("#period-summary").inner_text() == summary
    assert city.locator("#period-changes tbody tr").count() == tasks["total"]
    assert "本周无其他情况。" in city.locator("#period-note").inner_text()
    shot(city, "city-reads")


@pytest.mark.parametrize("size", SIZES)
def test_the_city_drafts_the_public_notice_from_the_plan_page(new_page, login, shot, api, size, tmp_path):
    pid = plan_id(api, SMX_PLAN_NO)
    page = opened(new_page, login, "smx_deputy", size)
    page.goto(f"/plans/{pid}")
    link = page.locator("#draft-notice")
    thumb_sized(link)
    shot(page, "plan")
    doc = downloaded(page, link, tmp_path)
    assert "三门峡市住房和城乡建设局" in text_of(doc) and "逾期未整改问题的通报" in text_of(doc)
