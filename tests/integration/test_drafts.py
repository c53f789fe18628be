"""Documents drafted from the ledger: the 整改情况报告 of one Sanmenxia county as of a day
(its numbers the ledger's, its fonts set for Chinese, every problem in its annex, printed
by LibreOffice to PDF and PNG), an office's own template uploaded and used, broken
templates refused naming the tag, a Yuzhou township's weekly report from the ledger over
three weeks, and the 通报 draft."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from docx import Document

from app.domain.workcalendar import WorkCalendar
from tests.integration.test_api_tasks import SMX_PLAN_NO, YZ_PLAN_NO, move, plan_id, upload
from tests.integration.test_history_chain import check_printed
from tests.integration.test_ledger_print import office_pdf, pngs
from tests.integration.test_pages import _csrf, login

pytestmark = pytest.mark.presigned
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def own_tasks(api, user: str, pid: int) -> list[dict]:
    me = api.get("/me", user).get_json()
    q = {"plan_id": pid, "unit_id": me["unit_id"], "per_page": 200, "sort": "due"}
    return api.get("/tasks", user, query_string=q).get_json()["items"]


def docx_of(r) -> Document:
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return Document(io.BytesIO(r.data))


def body_text(doc: Document) -> str:
    return "\n".join(p.text for p in doc.paragraphs)


def xml_part(data: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(name).decode("utf-8")


def east_asia_fonts(data: bytes) -> set[str]:
    return set(re.findall(r'w:eastAsia="([^"]+)"', xml_part(data, "word/document.xml")))


def print_docx(data: bytes, stem: str, tmp_path: Path) -> str:
    """LibreOffice (headless) to PDF, poppler to PNG beside the screenshots; the PDF's text."""
    src = tmp_path / f"{stem}.docx"
    src.write_bytes(data)
    pdf, text = office_pdf(src)
    assert all(p.stat().st_size > 5_000 for p in pngs(pdf, stem, ["-r", "60"]))
    return text


def lushi_at_work(api, pid: int) -> list[dict]:
    """卢氏县 works its nine tasks: one struck off, one verified, one awaiting a check, one
    sent back, two in progress, three untouched."""
    tasks = own_tasks(api, "lushi_handler", pid)
    assert len(tasks) == 9
    ids = [t["id"] for t in tasks]
    for tid in ids[:6]:
        move(api, tid, "lushi_handler", "in_progress")
    for n, tid in enumerate(ids[:4]):
        for _ in range(n + 1):
            upload(api, tid, "lushi_handler")
        move(api, tid, "lushi_handler", "rectified", f"已逐户排查并整改到位（第{n + 1}项）<附照片> & 台账")
    move(api, ids[0], "smx_deputy", "verified")
    move(api, ids[0], "smx_handler", "closed")
    move(api, ids[1], "smx_deputy", "verified")
    move(api, ids[3], "smx_deputy", "in_progress", "佐证材料不足，请补充拆除后照片")
    return tasks


@pytest.mark.parametrize("backend", ["sqlite"])
def chain_line(doc: Document) -> str:
    return next(p.text for p in doc.paragraphs if p.text.startswith("记录链校验值"))


def test_a_countys_drafted_report_holds_the_ledgers_numbers_in_chinese_fonts_and_prints(app, api, tmp_path):
    pid = plan_id(api, SMX_PLAN_NO)
    tasks = lushi_at_work(api, pid)
    r = api.get(f"/plans/{pid}/report.docx", "lushi_handler", query_string={"as_of": "2022-06-08"})
    doc = docx_of(r)
    text = body_text(doc)
    figures = api.get(f"/plans/{pid}", "lushi_handler").get_json()["figures"]
    by = figures["by_state"]
    assert figures["total"] == 9 and by["closed"] == 1 and by["verified"] == 1 and by["rectified"] == 1
    assert "卢氏县住房和城乡建设局文件" in text and "〔2022〕　号" in text
    assert "卢氏县住房和城乡建设局关于2021年度" in text and "关于关于" not in text
    assert f"承担整改任务{figures['total']}项" in text
    assert f"已销号{by['closed']}项、已核实{by['verified']}项、待核实{by['rectified']}项" in text
    assert f"正在整改{by['in_progress'] + by['identified']}项" in text
    assert f"销号率{figures['completion_rate'] * 100:.1f}%" in text
    assert f"整改完成率{figures['rectified_rate'] * 100:.1f}%" in text
    # each problem with the unit's account, its evidence, and why the open ones are open
    assert "已逐户排查并整改到位（第1项）<附照片> & 台账" in text  # escaped, kept as typed
    assert "佐证材料3份" in text
    assert "督办单位退回：佐证材料不足，请补充拆除后照片" in text
    # the annex: every problem of the county, one row each, with its evidence count
    annex = doc.tables[-1]
    rows = [[c.text for c in row.cells] for row in annex.rows[1:]]
    assert [c.text for c in annex.rows[0].cells][:3] == ["序号", "问题类型", "具体问题"]
    assert sorted(r[2] for r in rows) == sorted(t["problem_title"] for t in tasks)
    assert sum(int(r[6]) for r in rows) == 1 + 2 + 3 + 4
    # official-document fonts, East-Asian set explicitly; A4 with the standard's margins
    fonts = east_asia_fonts(r.data)
    assert {"仿宋_GB2312", "黑体", "楷体_GB2312", "方正小标宋简体"} <= fonts
    assert 'w:eastAsia="仿宋_GB2312"' in xml_part(r.data, "word/styles.xml")
    portrait, annex_page = doc.sections[0], doc.sections[-1]
    assert round(portrait.page_width.mm) == 210 and round(portrait.page_height.mm) == 297
    assert [
        round(x.mm) for x in (portrait.top_margin, portrait.bottom_margin, portrait.left_margin, portrait.right_margin)
    ] == [37, 35, 28, 26]
    assert round(annex_page.page_width.mm) == 297  # the annex on landscape
    assert "PAGE" in xml_part(r.data, "word/footer1.xml") or "PAGE" in xml_part(r.data, "word/footer2.xml")
    # the chain head of the county's record as of the day, which the printed command checks
    line = chain_line(doc)
    assert "截至 2022-06-08T23:59:59+08:00，9 项任务" in line and f"--plan {pid} --unit " in line
    checked = check_printed(app, line)
    assert checked.exit_code == 0, checked.output
    # LibreOffice opens and prints it
    printed = print_docx(r.data, "draft-report-lushi", tmp_path)
    squeezed = re.sub(r"\s+", "", printed)
    assert "卢氏县住房和城乡建设局文件" in squeezed and f"承担整改任务{figures['total']}项" in squeezed
    assert "附件" in squeezed and "—1—" in squeezed


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_report_as_of_an_earlier_day_says_what_the_ledger_said_that_day(api, clock):
    pid = plan_id(api, SMX_PLAN_NO)
    lushi_at_work(api, pid)  # all on 2022-06-08
    doc = docx_of(api.get(f"/plans/{pid}/report.docx", "lushi_handler", query_string={"as_of": "2022-06-07"}))
    assert "承担整改任务0项" in body_text(doc)  # the tasks were assigned on the 8th
    r = api.get(f"/plans/{pid}/report.docx", "lushi_handler", query_string={"as_of": "06/08"})
    assert r.status_code == 422


def edited(template: bytes, line: str) -> bytes:
    doc = Document(io.BytesIO(template))
    doc.paragraphs[8].insert_paragraph_before(line)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def put_template(api, user: str, kind: str, data: bytes, name: str = "模板.docx"):
    return api.post(f"/report-templates/{kind}/upload", user, data={"file": (io.BytesIO(data), name)})


def test_an_office_edits_its_template_in_word_uploads_it_and_drafts_with_it(api):
    pid = plan_id(api, SMX_PLAN_NO)
    default = api.get("/report-templates/report.docx", "lushi_handler")
    assert default.status_code == 200 and "{{ totals.total }}" in body_text(docx_of(default))
    assert default.data == api.get("/report-templates/report.docx", "hubin_handler").data  # reproducible
    mine = edited(default.data, "本报告由{{ issuer }}依据台账编制，共{{ annex|length }}项。")
    r = put_template(api, "lushi_handler", "report", mine, "卢氏县模板.docx")
    assert r.status_code == 201 and r.get_json()["custom"] is True, r.get_json()
    text = body_text(docx_of(api.get(f"/plans/{pid}/report.docx", "lushi_handler")))
    assert "本报告由卢氏县住房和城乡建设局依据台账编制，共9项。" in text
    # another county still drafts with the default
    assert "依据台账编制" not in body_text(docx_of(api.get(f"/plans/{pid}/report.docx", "hubin_handler")))
    listed = {t["kind"]: t for t in api.get("/report-templates", "lushi_handler").get_json()}
    assert listed["report"]["file_name"] == "卢氏县模板.docx" and listed["notice"]["custom"] is False


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("broken", "words"),
    [
        ("not a zip", ["不是有效的 .docx 文件"]),
        ("no document", ["没有 word/document.xml"]),
        ("{{ totals.total }", ["{{ totals.total }", "没有闭合"]),
        ("{{ totals.total + }}", ["{{ totals.total + }}", "语法错误"]),
        ("{% frobnicate %}", ["{% frobnicate %}", "无法识别"]),
        ("{% for x in next_steps %}{{ x }}", ["{% for x in next_steps %}", "endfor"]),
        ("{{ totls.total }}", ["{{ totls.total }}", "totls"]),
        ("{{ totals.totl }}", ["{{ totals.totl }}", "totl"]),
    ],
)
def test_a_broken_template_is_refused_naming_what_is_wrong_and_the_old_one_stays(api, broken, words):
    default = api.get("/report-templates/report.docx", "lushi_handler").data
    if broken == "not a zip":
        data = b"%PDF-1.4 this is not a word file"
    elif broken == "no document":
        data = zipped({"hello.txt": b"hi"})
    else:
        data = edited(default, f"坏标签：{broken}")
    r = put_template(api, "lushi_handler", "report", data)
    assert r.status_code == 422, r.get_json()
    message = r.get_json()["message"]
    for w in words:
        assert w in message, message
    assert not next(t for t in api.get("/report-templates", "lushi_handler").get_json() if t["kind"] == "report")[
        "custom"
    ]


def test_the_template_page_shows_a_refusal_naming_the_tag(app, api):
    default = api.get("/report-templates/report.docx", "lushi_handler").data
    client = app.test_client()
    login(client, "lushi_handler")
    token = _csrf(client.get("/report-templates").get_data(as_text=True))
    bad = edited(default, "{{ totals.total + }}")
    r = client.post(
        "/report-templates/report/upload",
        data={"csrf_token": token, "file": (io.BytesIO(bad), "坏模板.docx")},
        content_type="multipart/form-data",
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="template-error"' in page and "{{ totals.total + }}" in page


def test_the_sample_a_template_is_checked_with_names_every_variable_a_draft_has(rt):
    from app.models import Plan, Unit
    from app.services import drafts

    s = rt.db.session()
    plan = s.query(Plan).filter_by(doc_number=SMX_PLAN_NO).one()
    unit = s.query(Unit).filter_by(name="卢氏县住房和城乡建设局").one()
    ctx = drafts.report_context(s, plan, unit, date(2022, 6, 8))
    assert ctx.keys() == drafts.SAMPLES["report"]().keys()
    assert ctx["annex"][0].keys() == drafts.SAMPLES["report"]()["annex"][0].keys()
    assert ctx["problems"][0].keys() == drafts.SAMPLES["report"]()["problems"][0].keys()


# ---- report once: a weekly report from the ledger -------------------------------------------
WEEK = {
    1: datetime(2022, 6, 9, 2, 0, tzinfo=UTC),
    2: datetime(2022, 6, 14, 2, 0, tzinfo=UTC),
    3: datetime(2022, 6, 21, 2, 0, tzinfo=UTC),
}


def typed_fields(form_html: str) -> list[str]:
    """The fields a person fills in: every named input but hidden ones, every textarea and select."""
    names = [
        m.group(2) for m in re.finditer(r'<input([^>]*)name="([^"]+)"', form_html) if 'type="hidden"' not in m.group(1)
    ]
    return names + re.findall(r'<(?:textarea|select)[^>]*name="([^"]+)"', form_html)


def test_a_townships_weekly_report_from_the_ledger_holds_exactly_each_weeks_changes(app, api, clock, tmp_path):
    pid = plan_id(api, YZ_PLAN_NO)
    yz = next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == "禹州市住房和城乡建设局")
    r = api.post(
        f"/plans/{pid}/obligations",
        "yz_deputy",
        json={"title": "“回头看”整改台账周报", "schedule": "每周五", "all_units_under": yz, "from_ledger": "yuzhou"},
    )
    assert r.status_code == 201 and r.get_json()["ledger_layout"] == "yuzhou", r.get_json()
    me = api.get("/me", "gucheng_handler").get_json()
    subs = [
        s for s in api.get(f"/plans/{pid}/submissions", "gucheng_handler").get_json() if s["unit_id"] == me["unit_id"]
    ]
    weeks = sorted(subs, key=lambda s: s["due_on"])[:3]
    assert [s["due_on"] for s in weeks] == ["2022-06-10", "2022-06-17", "2022-06-24"]
    tasks = own_tasks(api, "gucheng_handler", pid)
    lookback = next(t for t in tasks if "回头看" in t["problem_title"])
    found = next(t for t in tasks if t["id"] != lookback["id"])

    # week 1: the problems arrived (at load), the look-back is started
    clock.now = WEEK[1]
    move(api, lookback["id"], "gucheng_handler", "in_progress")
    # week 2: evidence and the account; a problem found in the week is added
    clock.now = WEEK[2]
    upload(api, lookback["id"], "gucheng_handler")
    upload(api, lookback["id"], "gucheng_handler")
    move(api, lookback["id"], "gucheng_handler", "rectified", "已完成全镇脱贫户住房安全排查，建立台账。")
    r = api.post(
        f"/plans/{pid}/problems",
        "gucheng_handler",
        json={
            "category": "农村危房改造",
            "nature": "individual",
            "title": "某村一户危房未挂牌",
            "measures": "立即挂牌",
            "deadline": "6月20日前",
            "unit_ids": [me["unit_id"]],
        },
    )
    assert r.status_code == 201, r.get_json()
    # week 3: the city verifies the look-back, the township starts the other problem
    clock.now = WEEK[3]
    move(api, lookback["id"], "yz_deputy", "verified")
    move(api, found["id"], "gucheng_handler", "in_progress")
    clock.now = datetime(2022, 6, 27, 2, 0, tzinfo=UTC)  # the township hands all three in afterwards

    changes = [api.get(f"/submissions/{s['id']}/changes", "gucheng_handler").get_json() for s in weeks]
    first = {row[3]: row[-1] for row in changes[0]["rows"]}
    assert len(first) == len(tasks) and all(v.startswith("新增问题") for v in first.values())
    assert first[lookback["problem_title"]] == "新增问题；挂账→整改中"
    second = {row[3]: row[-1] for row in changes[1]["rows"]}
    assert second == {
        lookback["problem_title"]: "整改中→已整改；整改说明：已完成全镇脱贫户住房安全排查，建立台账。；新增佐证材料2份",
        "某村一户危房未挂牌": "新增问题",
    }
    third = {row[3]: row[-1] for row in changes[2]["rows"]}
    assert third == {lookback["problem_title"]: "已整改→已核实", found["problem_title"]: "挂账→整改中"}
    assert changes[1]["columns"][:7] == ["序号", "问题类型", "问题性质", "问题表述", "整改措施", "完成时限", "责任单位"]
    assert "本期新增问题1个" in changes[1]["summary"] and "新增佐证材料2份" in changes[1]["summary"]

    # the reports page asks the township for its note only
    client = app.test_client()
    login(client, "gucheng_handler")
    page = client.get(f"/submissions?plan_id={pid}").get_data(as_text=True)
    form = re.search(rf'action="/submissions/{weeks[0]["id"]}/submit".*?</form>', page, re.S).group(0)
    assert typed_fields(form) == ["note"]

    # it hands in each week with its note alone; the supervisor reads the same rows
    for n, (sub, change) in enumerate(zip(weeks, changes, strict=True), start=1):
        r = api.post(
            f"/submissions/{sub['id']}/submit",
            "gucheng_handler",
            data={"note": f"第{n}周无其他情况。", "version": str(sub["version"])},
        )
        assert r.status_code == 200 and r.get_json()["file_name"].endswith(".docx"), r.get_json()
        assert api.get(f"/submissions/{sub['id']}/changes", "yz_handler").get_json()["rows"] == change["rows"]
        handed = client.get(f"/submissions/{sub['id']}/file")
        doc = Document(io.BytesIO(handed.data))
        assert f"第{n}周无其他情况。" in body_text(doc) and change["summary"] in body_text(doc)
        table_rows = [[c.text for c in row.cells] for row in doc.tables[-1].rows[1:]]
        assert table_rows == change["rows"]
        assert {"仿宋_GB2312", "黑体"} <= east_asia_fonts(handed.data)
        checked = check_printed(app, chain_line(doc))
        assert checked.exit_code == 0, checked.output
        if n == 2:  # the week with the most to say, printed
            printed = re.sub(r"\s+", "", print_docx(handed.data, "draft-weekly-gucheng", tmp_path))
            assert "第2周无其他情况。" in printed and "本期变化" in printed

    # switched to English, the page's headings (a phone's card labels) read in English;
    # the ledger's own words stay as they were written
    client.get("/lang/en")
    page = client.get(f"/submissions/{weeks[1]['id']}/changes").get_data(as_text=True)
    headings = re.findall(r"<th>([^<]*)</th>", re.search(r'<table[^>]*id="period-changes".*?</thead>', page, re.S)[0])
    assert headings[:7] == ["No.", "Category", "Nature", "Description", "Measures", "Due by", "Responsible unit"]
    assert headings[-1] == "Change this period"
    assert "整改中→已整改" in page


# ---- the 通报 draft --------------------------------------------------------------------------
def test_the_notice_draft_lists_the_top_of_the_ladder_by_unit_with_working_days_overdue(app, api, clock, tmp_path):
    pid = plan_id(api, SMX_PLAN_NO)
    clock.now = datetime(2022, 7, 15, 1, 30, tzinfo=UTC)  # 09:30 China time, weeks after 6月20日
    result = app.test_cli_runner().invoke(args=["sweep", "--at", "2022-07-15T09:30+08:00", "--no-deliver"])
    assert result.exit_code == 0, result.output
    red = api.get("/tasks", "smx_deputy", query_string={"plan_id": pid, "colour": "red", "per_page": 200}).get_json()
    assert red["total"] > 0
    assert api.get(f"/plans/{pid}/notice-draft.docx", "lushi_handler").status_code == 403
    doc = docx_of(api.get(f"/plans/{pid}/notice-draft.docx", "smx_deputy"))
    rows = [[c.text for c in row.cells] for row in doc.tables[-1].rows[1:]]
    assert len(rows) == red["total"]
    assert {(r[1], r[2]) for r in rows} == {(t["unit_name"], t["problem_title"]) for t in red["items"]}
    late = WorkCalendar().workdays_between(date(2022, 6, 20), date(2022, 7, 15))
    assert {r[3]: r[4] for r in rows}.get("6月20日") == str(late)
    text = body_text(doc)
    assert f"共有{red['total']}项整改任务逾期未完成" in text and "卢氏县住房和城乡建设局：" in text
    r = api.get(f"/plans/{pid}/notice-draft.docx", "smx_deputy")
    printed = re.sub(r"\s+", "", print_docx(r.data, "draft-notice-sanmenxia", tmp_path))
    assert "逾期未整改问题的通报" in printed and "逾期未整改问题清单" in printed


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_default_templates_are_written_the_same_every_time(app, tmp_path):
    for kind in ("report", "period", "notice"):
        paths = [tmp_path / f"{kind}-{n}.docx" for n in (1, 2)]
        for path in paths:
            result = app.test_cli_runner().invoke(args=["draft-template", kind, str(path)])
            assert result.exit_code == 0, result.output
        assert paths[0].read_bytes() == paths[1].read_bytes()
        assert "{{ issuer }}" in "".join(p.text for p in Document(paths[0]).paragraphs)
