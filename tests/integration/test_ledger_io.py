"""Ledger files through the API: preview, commit, progress, export, and hostile files."""

from __future__ import annotations

import csv
import functools
import io
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, update

from app.demo import SMX_COUNTIES, YZ_TOWNS
from app.models import LedgerImport, Problem, Task, TaskEvent
from app.services import plans
from app.services.errors import Invalid
from app.services.ledger import guard, imports, reading
from tests.integration.celery_fixtures import wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ledgers"
YZ_HEADER = ["序号", "问题类型", "问题性质", "问题表述", "整改措施", "完成时限", "责任单位"]
SMX_PLAN_NO = "三建〔2022〕187号"
YZ_PLAN_NO = "禹建〔2022〕39号"

pytestmark = pytest.mark.presigned  # not about signing in: tokens minted up front


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def new_plan(api, as_user: str, issued_on: str, doc_number: str = "") -> int:
    body = {"title": "台账导入测试方案", "doc_number": doc_number, "issued_on": issued_on}
    r = api.post("/plans", as_user, json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def demo_plan(api, doc_number: str) -> int:
    return next(p["id"] for p in api.get("/plans", "admin").get_json() if p["doc_number"] == doc_number)


def preview(api, pid: int, as_user: str, data: bytes, name: str = "台账.xlsx"):
    return api.post(f"/plans/{pid}/ledger/preview", as_user, data={"file": (io.BytesIO(data), name)})


def commit(api, pid: int, as_user: str, token: str):
    return api.post(f"/plans/{pid}/ledger/commit", as_user, json={"token": token})


def status_of(api, pid: int, as_user: str, token: str) -> dict:
    return api.get(f"/plans/{pid}/ledger/imports/{token}", as_user).get_json()


def finished(api, pid: int, as_user: str, token: str) -> dict:
    """The status of an import once its job has finished (it runs beside the request)."""
    found = {}
    wait_for(
        lambda: found.update(status_of(api, pid, as_user, token)) or found["state"] in ("done", "failed"),
        30,
        "the import job",
    )
    return found


def imported(api, pid: int, as_user: str, token: str) -> dict:
    """Confirm an import, which answers at once, and wait for its job's result."""
    r = commit(api, pid, as_user, token)
    assert r.status_code == 202 and r.get_json()["state"] == "queued", r.get_json()
    status = finished(api, pid, as_user, token)
    assert status["state"] == "done", status
    return status["result"]


def created(problems: int, tasks: int) -> dict:
    return {"created_problems": problems, "created_tasks": tasks, "changed_problems": 0, "progress_notes": 0}


def problem_count(api, pid: int) -> int:
    return len(api.get(f"/plans/{pid}/problems", "admin").get_json())


def task_total(api, pid: int) -> int:
    return api.get("/tasks", "admin", query_string={"plan_id": pid}).get_json()["total"]


def export(api, pid: int, as_user: str, layout: str, fmt: str = "xlsx"):
    r = api.get(f"/plans/{pid}/ledger.{fmt}", as_user, query_string={"layout": layout})
    assert r.status_code == 200, r.get_json()
    return r


def yuzhou_workbook(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["禹州市脱贫攻坚农村危房改造情况排查整改台账"])
    ws.append(YZ_HEADER)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def count_rows(rt, model) -> int:
    s = rt.db.session()
    try:
        return s.scalar(select(func.count()).select_from(model))
    finally:
        s.rollback()


def same_rows(rows: list[dict]) -> list[dict]:
    """Preview rows without the sheet row number, which differs between layouts' files."""
    return [{k: v for k, v in r.items() if k != "row"} for r in rows]


# ---- the seed ledgers -----------------------------------------------------------------
def test_the_sanmenxia_annex_imports_cleanly_and_exports_back_with_the_same_rows(api):
    pid = new_plan(api, "smx_deputy", "2022-06-07", SMX_PLAN_NO)
    r = preview(api, pid, "smx_deputy", fixture("sanmenxia.xlsx"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["layout"] == "sanmenxia" and body["errors_count"] == 0
    rows = body["rows"]
    assert [(x["row"], x["seq"], x["category"]) for x in rows] == [
        (3, 1, "政策落实方面"),
        (4, 2, "政策落实方面"),
        (5, 3, "工作落实方面"),
        (6, 4, "工作落实方面"),
        (7, 5, "工作落实方面"),
    ]
    assert [x["title"] for x in rows] == [
        "农村危房改造不及时",
        "省第三方评估组发现，三门峡市陕州区张湾乡西罐村监测户武某某，房屋经鉴定为D级危…",
        "村民住房灾后重建进度较慢",
        "档案资料填写不规范",
        "帮扶工作管理不规范",
    ]
    assert [x["deadline_text"] for x in rows] == ["6月20日", "立行立改", "立行立改", "立行立改", "立行立改"]
    assert rows[0]["due_at"].startswith("2022-06-20T15:59:59") and rows[1]["due_at"] is None
    assert all(x["nature"] == "common" and sorted(x["units"]) == sorted(SMX_COUNTIES.values()) for x in rows)
    assert problem_count(api, pid) == 0, "a preview writes nothing"

    assert imported(api, pid, "smx_deputy", body["token"]) == created(5, 5 * len(SMX_COUNTIES))
    status = status_of(api, pid, "smx_deputy", body["token"])
    assert (status["state"], status["done"], status["total"], status["error"]) == ("done", 5, 5, None)
    assert commit(api, pid, "smx_deputy", body["token"]).status_code == 409, "one preview, one import"
    problems = api.get(f"/plans/{pid}/problems", "admin").get_json()
    assert problems[3]["description"].startswith("省后评估专业组查阅资料发现") and "栗某" in problems[3]["description"]

    r = export(api, pid, "smx_deputy", "sanmenxia")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    disposition = r.headers["Content-Disposition"]
    name = f"{SMX_PLAN_NO}_台账导入测试方案_问题清单与整改台账（三门峡样式）_20220608.xlsx"
    assert disposition.startswith("attachment;") and f"filename*=UTF-8''{quote(name)}" in disposition
    assert 'filename="ledger-' in disposition and '-sanmenxia-20220608.xlsx"' in disposition
    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws["A1"].value == f"台账导入测试方案（{SMX_PLAN_NO}）"
    assert ws["A2"].value == "序号" and ws["A2"].font.bold and ws["J2"].value == "进展" and ws["K2"].value == "是否销号"
    assert ws["L2"].value == "签收情况" and ws["L3"].value.count("：待签收") == len(SMX_COUNTIES)
    assert ws["M2"].value == "台账编号" and ws.column_dimensions["M"].hidden and ws["M3"].value == f"P{pid}-1"
    merged = {str(m) for m in ws.merged_cells.ranges}
    assert {"A1:L1", "A3:A4", "B3:B4", "C3:C4", "A5:A7", "B5:B7", "C5:C7"} <= merged
    assert [ws.cell(r, 1).value for r in (3, 5)] == ["一", "二"] and [ws.cell(r, 3).value for r in (3, 5)] == ["2", "3"]
    assert ws["D4"].value is None, "the continuation row's 具体问题 stays blank, as in the annex"
    assert ws["H3"].value == "各县（市、区）住房和城乡建设部门"
    assert ws["J3"].value == f"0/{len(SMX_COUNTIES)} 已销号，{len(SMX_COUNTIES)} 挂账" and ws["K3"].value == "否"
    assert ws["E3"].alignment.wrap_text and ws.column_dimensions["F"].width > 30

    again = new_plan(api, "smx_deputy", "2022-06-07")
    reread = preview(api, again, "smx_deputy", r.data).get_json()
    assert reread["errors_count"] == 0 and reread["layout"] == "sanmenxia"
    assert same_rows(reread["rows"]) == same_rows(rows)


def test_the_yuzhou_ledger_imports_cleanly_and_exports_back_with_the_same_rows(api):
    pid = new_plan(api, "yz_deputy", "2022-05-20", YZ_PLAN_NO)
    body = preview(api, pid, "yz_deputy", fixture("yuzhou.xlsx")).get_json()
    assert body["layout"] == "yuzhou" and body["errors_count"] == 0, body
    rows = body["rows"]
    assert [x["row"] for x in rows] == [4, 5, 6, 7, 8, 9]
    assert [x["seq"] for x in rows] == [1, 2, 3, 4, 5, 6]
    assert all(x["category"] == "农村危房改造" for x in rows), "a blank 问题类型 continues the one above"
    assert [x["nature"] for x in rows] == [
        "individual",
        "individual",
        "common",
        "individual",
        "individual",
        "individual",
    ]
    assert [x["deadline_text"] for x in rows] == ["6月10日", "6月15日", "6月20日", "6月15日", "2022-06-12", "6月18日"]
    assert rows[1]["units"] == [YZ_TOWNS["shundian"]], "顺店镇 is short for 顺店镇人民政府"
    assert sorted(rows[2]["units"]) == sorted(YZ_TOWNS.values()), "各乡镇人民政府 is every township"
    assert rows[5]["units"] == [YZ_TOWNS["fangshan"], YZ_TOWNS["mojie"]]

    assert imported(api, pid, "yz_deputy", body["token"]) == created(6, 5 + len(YZ_TOWNS) + 1)

    data = export(api, pid, "yz_deputy", "yuzhou").data
    ws = load_workbook(io.BytesIO(data)).active
    assert ws["A2"].value == "单位（盖章）：禹州市住房和城乡建设局" and ws["J2"].value == "2022年6月8日"
    assert [c.value for c in ws[3]] == [*YZ_HEADER, "进展", "是否销号", "签收情况", "台账编号"]
    assert [ws.cell(r, 1).value for r in range(4, 10)] == ["1", "2", "3", "4", "5", "6"]
    assert ws["G6"].value == "各乡（镇）人民政府" and ws["G9"].value == "方山镇人民政府、磨街乡人民政府"
    assert ws["A10"].value.startswith("备注：“问题性质”指共性问题、个性问题")
    assert ws["A11"].value.startswith("记录链校验值（SM3）：sm3:"), "the chain head of the tasks exported"
    assert {str(m) for m in ws.merged_cells.ranges} == {"A1:J1", "A10:J10", "A11:J11"}, "title, footnote, chain head"
    again = new_plan(api, "yz_deputy", "2022-05-20")
    reread = preview(api, again, "yz_deputy", data).get_json()
    assert same_rows(reread["rows"]) == same_rows(rows)


def test_the_csv_export_is_utf8_with_a_bom_and_repeats_the_grouped_cells_on_every_row(api):
    pid = demo_plan(api, SMX_PLAN_NO)
    r = export(api, pid, "smx_deputy", "sanmenxia", "csv")
    assert r.mimetype == "text/csv" and r.data.startswith(b"\xef\xbb\xbf")
    assert ".csv" in r.headers["Content-Disposition"] and r.headers["X-Content-Type-Options"] == "nosniff"
    table = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert table[0][-3:] == ["进展", "是否销号", "签收情况"] and len(table) == 1 + 9 + 1
    assert table[-1][0].startswith("记录链校验值（SM3）：sm3:"), "the last line: the chain head of the tasks exported"
    assert [row[:3] for row in table[1:4]] == [["一", "政策落实方面", "3"]] * 3
    assert table[9][7] == SMX_COUNTIES["lushi"], "the individual problem names its unit"


# ---- errors shown in the preview ------------------------------------------------------
def test_unknown_units_bad_deadlines_and_natures_are_shown_per_row_and_the_commit_writes_nothing(api):
    pid = demo_plan(api, YZ_PLAN_NO)
    problems, tasks = problem_count(api, pid), task_total(api, pid)
    data = yuzhou_workbook(
        [
            [1, "农村危房改造", "个性问题", "未挂牌", "补挂", "6月10日", "古城镇"],
            [2, "农村危房改造", "个性问题", "资金台账不完整", "补齐", "6月10日", "花园镇人民政府"],
            [3, "农村危房改造", "个性问题", "面积超标", "核减", "尽快完成", "顺店镇"],
            [4, "农村危房改造", "一般问题", "质量不达标", "返工", "6月31日", "卢氏县住建局、火龙镇"],
        ]
    )
    body = preview(api, pid, "yz_deputy", data).get_json()
    errors = [x["errors"] for x in body["rows"]]
    assert errors[0] == []
    assert len(errors[1]) == 1 and "「花园镇人民政府」" in errors[1][0]
    assert len(errors[2]) == 1 and "「尽快完成」" in errors[2][0]
    assert any("「一般问题」" in e for e in errors[3]) and any("「6月31日」" in e for e in errors[3])
    assert any("「卢氏县住建局」" in e for e in errors[3]), "a unit of another issuer is unknown here"
    assert body["errors_count"] == sum(map(len, errors))
    assert body["rows"][3]["units"] == [YZ_TOWNS["huolong"]] and body["rows"][3]["nature"] is None

    r = commit(api, pid, "yz_deputy", body["token"])
    assert r.status_code == 422
    assert [d["row"] for d in r.get_json()["details"]] == [4, 5, 6]
    assert (problem_count(api, pid), task_total(api, pid)) == (problems, tasks)
    assert status_of(api, pid, "yz_deputy", body["token"])["state"] == "previewed"


def test_a_file_without_a_ledger_header_is_refused_naming_the_headers_it_needs(api):
    wb = Workbook()
    wb.active.append(["姓名", "电话"])
    buf = io.BytesIO()
    wb.save(buf)
    r = preview(api, demo_plan(api, YZ_PLAN_NO), "yz_deputy", buf.getvalue())
    assert r.status_code == 422 and "表头" in r.get_json()["message"] and "问题性质" in r.get_json()["message"]


# ---- who may import, tokens -----------------------------------------------------------
def test_a_township_imports_its_own_findings_but_not_another_townships(api):
    pid = demo_plan(api, YZ_PLAN_NO)
    own = yuzhou_workbook(
        [
            [1, "农村危房改造", "个性问题", "2户未挂牌", "补挂", "6月10日", "古城镇"],
            [2, "农村危房改造", "个性问题", "1户档案不全", "补齐", "6月12日", "古城镇人民政府"],
        ]
    )
    body = preview(api, pid, "gucheng_handler", own).get_json()
    assert body["errors_count"] == 0 and [x["seq"] for x in body["rows"]] == [6, 7], "after the plan's five"
    assert imported(api, pid, "gucheng_handler", body["token"]) == created(2, 2)

    problems, tasks = problem_count(api, pid), task_total(api, pid)
    other = yuzhou_workbook(
        [
            [1, "农村危房改造", "个性问题", "3户未挂牌", "补挂", "6月10日", "古城镇"],
            [2, "农村危房改造", "个性问题", "顺店镇的问题", "补齐", "6月12日", "顺店镇"],
            [3, "农村危房改造", "共性问题", "各乡镇的问题", "补齐", "6月12日", "各乡镇人民政府"],
        ]
    )
    body = preview(api, pid, "gucheng_handler", other).get_json()
    assert [bool(x["errors"]) for x in body["rows"]] == [False, True, True]
    assert all("本单位自查" in x["errors"][0] for x in body["rows"][1:])
    r = commit(api, pid, "gucheng_handler", body["token"])
    assert r.status_code == 422 and [d["row"] for d in r.get_json()["details"]] == [4, 5]
    assert (problem_count(api, pid), task_total(api, pid)) == (problems, tasks), "all or nothing"


@pytest.mark.parametrize("where", ["api", "page"])
def test_a_county_official_cannot_import_the_other_counties_problems_into_the_citys_plan(api, app, where):
    """Regression: a county's ledger naming 各县（市、区） or a sibling county fanned out to
    them. Its rows may name only itself; such a file is shown with errors and never written."""
    pid = demo_plan(api, SMX_PLAN_NO)
    problems, tasks = problem_count(api, pid), task_total(api, pid)
    data = fixture("sanmenxia.xlsx")  # the city's own annex: rows for every county
    if where == "api":
        body = preview(api, pid, "lushi_handler", data).get_json()
        assert body["errors_count"] > 0
        assert any("本单位自查" in e for x in body["rows"] for e in x["errors"])
        r = commit(api, pid, "lushi_handler", body["token"])
        assert r.status_code == 422
    else:
        from tests.integration.test_web_security import Browser

        browser = Browser(app, "lushi_handler")
        r = browser.post(f"/plans/{pid}/import", {"file": (io.BytesIO(data), "台账.xlsx")})
        assert r.status_code == 200 and "本单位自查" in r.get_data(as_text=True)
    assert (problem_count(api, pid), task_total(api, pid)) == (problems, tasks)


@pytest.mark.parametrize("who", ["smx_viewer", "yz_deputy", "admin"])
def test_who_may_not_add_problems_may_not_even_preview_a_ledger(api, who):
    pid = demo_plan(api, SMX_PLAN_NO)
    r = preview(api, pid, who, fixture("sanmenxia.xlsx"))
    assert r.status_code == (404 if who == "yz_deputy" else 403), r.get_json()
    assert problem_count(api, pid) == 9


def test_another_users_token_an_expired_one_or_a_made_up_one_is_not_found(api, clock):
    pid = demo_plan(api, SMX_PLAN_NO)
    token = preview(api, pid, "smx_head", fixture("sanmenxia.xlsx")).get_json()["token"]
    assert commit(api, pid, "smx_deputy", token).status_code == 404
    assert api.get(f"/plans/{pid}/ledger/imports/{token}", "smx_deputy").status_code == 404
    other_plan = new_plan(api, "smx_head", "2022-06-07")
    assert commit(api, other_plan, "smx_head", token).status_code == 404
    for made_up in ("x" * 32, "..%2F..%2Fsecret_key", token[:-1]):
        assert commit(api, pid, "smx_head", made_up).status_code == 404
    clock.advance(minutes=61)
    assert commit(api, pid, "smx_head", token).status_code == 404
    assert problem_count(api, pid) == 9


def test_the_job_reports_real_progress_after_each_chunk_of_rows_it_writes(api, monkeypatch):
    pid = new_plan(api, "yz_deputy", "2022-05-20")
    rows = [[i, "农村危房改造", "个性问题", f"第{i}户未挂牌", "补挂", "6月10日", "古城镇"] for i in range(1, 121)]
    token = preview(api, pid, "yz_deputy", yuzhou_workbook(rows)).get_json()["token"]
    seen = []
    monkeypatch.setattr(plans, "ADD_CHUNK", 50)
    record = imports.FileProgress.set
    monkeypatch.setattr(imports.FileProgress, "set", lambda self, t, done: (seen.append(done), record(self, t, done)))
    assert imported(api, pid, "yz_deputy", token) == created(120, 120)
    assert seen == [0, 50, 100, 120, 120]
    status = status_of(api, pid, "yz_deputy", token)
    assert (status["state"], status["done"], status["total"]) == ("done", 120, 120)


# ---- export: visibility, progress, formulas -------------------------------------------
def export_rows(api, pid: int, as_user: str) -> list[list]:
    ws = load_workbook(io.BytesIO(export(api, pid, as_user, "sanmenxia").data)).active
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    assert rows[-1][0].startswith("记录链校验值"), "the sheet ends with the chain head"
    return rows[:-1]


def test_a_county_official_exporting_sees_only_its_own_tasks_progress(api, rt):
    pid = demo_plan(api, SMX_PLAN_NO)
    me = api.get("/me", "lushi_handler").get_json()
    items = api.get("/tasks", "lushi_handler", query_string={"plan_id": pid, "unit_id": me["unit_id"]}).get_json()
    first = next(t for t in items["items"] if t["problem_title"] == "农村危房改造建新未拆旧问题仍然存在")
    r = api.post(f"/tasks/{first['id']}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1})
    assert r.status_code == 200, r.get_json()
    s = rt.db.session()
    last = s.scalar(select(Problem.id).where(Problem.plan_id == pid, Problem.seq == 9))
    s.execute(update(Task).where(Task.problem_id == last).values(state="closed"))
    s.commit()

    county = export_rows(api, pid, "lushi_handler")
    assert len(county) == 9
    assert county[0][7] == SMX_COUNTIES["lushi"] and county[0][9] == "0/1 已销号，1 整改中"
    assert county[8][9] == "1/1 已销号" and county[8][10] == "是"

    city = export_rows(api, pid, "smx_deputy")
    assert city[0][7] == "各县（市、区）住房和城乡建设部门"
    assert city[0][9] == f"0/{len(SMX_COUNTIES)} 已销号，1 整改中，{len(SMX_COUNTIES) - 1} 挂账"

    other = export_rows(api, pid, "shanzhou_handler")
    assert len(other) == 8, "卢氏县's own problem is not another county's business"
    assert all(row[9] == "0/1 已销号，1 挂账" for row in other)


def me_unit(api, username: str) -> int:
    return api.get("/me", username).get_json()["unit_id"]


def test_a_formula_typed_as_a_title_comes_back_as_text_in_both_exports(api):
    pid = new_plan(api, "smx_deputy", "2022-06-07")
    title = '=HYPERLINK("http://evil.example","点我")'
    body = {"nature": "individual", "title": title, "measures": "@SUM(1+1)", "deadline": "6月20日"}
    r = api.post(f"/plans/{pid}/problems", "smx_deputy", json=body | {"unit_ids": [me_unit(api, "lushi_handler")]})
    assert r.status_code == 201, r.get_json()

    wb = load_workbook(io.BytesIO(export(api, pid, "smx_deputy", "sanmenxia").data))
    ws = wb.active
    assert ws["D3"].value == "'" + title and ws["F3"].value == "'@SUM(1+1)"
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row), "no cell is a formula"
    table = list(csv.reader(io.StringIO(export(api, pid, "smx_deputy", "yuzhou", "csv").data.decode("utf-8-sig"))))
    assert table[1][3] == "'" + title and table[1][4] == "'@SUM(1+1)"


def test_a_plan_out_of_sight_cannot_be_exported_or_imported_into(api):
    pid = demo_plan(api, YZ_PLAN_NO)
    assert api.get(f"/plans/{pid}/ledger.xlsx", "lushi_handler").status_code == 404
    assert preview(api, pid, "lushi_handler", fixture("yuzhou.xlsx")).status_code == 404
    assert api.get(f"/plans/{pid}/ledger.xlsx", "yz_deputy", query_string={"layout": "x"}).status_code == 422


# ---- hostile files --------------------------------------------------------------------
def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def with_member(data: bytes, name: str, content: bytes) -> bytes:
    """A copy of a workbook with one part replaced."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    return zipped(members | {name: content})


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
    )
    + b']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
    b"<si><t>&lol9;</t></si></sst>"
)
SST_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
XXE_SHEET = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row></sheetData></worksheet>'
)


@functools.cache
def hostile(kind: str) -> bytes:
    """Hostile uploads, built once per test session."""
    ledger = fixture("yuzhou.xlsx")
    if kind == "pdf":
        return b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    if kind == "xls":
        return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2048
    if kind == "other_zip":
        return zipped({"readme.txt": b"not a workbook"})
    if kind == "zip_bomb":
        return with_member(ledger, "xl/worksheets/sheet1.xml", b"\x00" * (8 * 1024 * 1024))
    if kind == "many_members":
        return zipped({"[Content_Types].xml": b"<Types/>"} | {f"x/{i}.xml": b"<a/>" for i in range(1001)})
    if kind == "billion_laughs":  # as Excel writes it: a shared-string table, named in the content types
        with zipfile.ZipFile(io.BytesIO(ledger)) as zf:
            types = zf.read("[Content_Types].xml").replace(b"</Types>", SST_TYPE + b"</Types>")
        return with_member(with_member(ledger, "[Content_Types].xml", types), "xl/sharedStrings.xml", LAUGHS)
    if kind == "external_entity":
        return with_member(ledger, "xl/worksheets/sheet1.xml", XXE_SHEET)
    if kind == "too_many_rows":
        rows = [[i, "农村危房改造", "个性问题", "未挂牌", "补挂", "6月10日", "古城镇"] for i in range(1, 10_002)]
        return yuzhou_workbook(rows)
    raise ValueError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("pdf", "不是 .xlsx"),
        ("xls", "另存为"),
        ("other_zip", "其他类型的压缩包"),
        ("zip_bomb", "压缩炸弹"),
        ("many_members", "个部件（上限 1000）"),
        ("billion_laughs", "DTD"),
        ("external_entity", "DTD"),
        ("too_many_rows", "超过 10000 行"),
    ],
)
def test_a_hostile_file_is_refused_with_a_clear_message_and_nothing_is_written(api, rt, kind, message):
    pid = demo_plan(api, YZ_PLAN_NO)
    r = preview(api, pid, "yz_deputy", hostile(kind))
    assert r.status_code == 422, r.get_json()
    assert message in r.get_json()["message"]
    assert problem_count(api, pid) == 5
    assert count_rows(rt, LedgerImport) == 0, "not even a preview is kept"


def test_a_file_over_the_upload_limit_is_refused_with_413(api, rt, monkeypatch):
    monkeypatch.setattr(rt.config, "MAX_UPLOAD_BYTES", 4096)
    r = preview(api, demo_plan(api, YZ_PLAN_NO), "yz_deputy", fixture("yuzhou.xlsx"))
    assert r.status_code == 413 and "上限" in r.get_json()["message"]


def test_a_workbook_unpacking_beyond_the_size_limit_is_refused_as_a_zip_bomb(monkeypatch):
    monkeypatch.setattr(guard, "MAX_UNCOMPRESSED_BYTES", 10_000)
    with pytest.raises(Invalid, match="解压后"):
        guard.check_zip(fixture("sanmenxia.xlsx"))


def test_without_defusedxml_a_dtd_or_a_utf16_part_is_refused_by_scanning_the_xml():
    for data in (hostile("billion_laughs"), hostile("external_entity")):
        with zipfile.ZipFile(io.BytesIO(data)) as zf, pytest.raises(Invalid, match="DTD"):
            guard.refuse_dtds(zf)
    utf16 = with_member(fixture("yuzhou.xlsx"), "xl/sharedStrings.xml", LAUGHS.decode().encode("utf-16"))
    with zipfile.ZipFile(io.BytesIO(utf16)) as zf, pytest.raises(Invalid, match="UTF-8"):
        guard.refuse_dtds(zf)
    with zipfile.ZipFile(io.BytesIO(fixture("sanmenxia.xlsx"))) as zf:
        guard.refuse_dtds(zf)


def test_a_date_typed_into_the_deadline_column_reads_as_that_date():
    rows = reading.parse_workbook(fixture("yuzhou.xlsx")).rows
    assert rows[4].deadline == "2022-06-12", "an Excel date cell, shown as 6月12日"


def test_a_merged_responsible_unit_or_deadline_applies_to_every_row_it_spans():
    wb = Workbook()
    ws = wb.active
    ws.append(YZ_HEADER)
    ws.append([1, "农村危房改造", "个性问题", "未挂牌", "补挂", "6月10日", "古城镇人民政府"])
    ws.append([2, "农村危房改造", "个性问题", "档案不全", "补齐", None, None])
    ws.merge_cells("F2:F3")
    ws.merge_cells("G2:G3")
    buf = io.BytesIO()
    wb.save(buf)
    rows = reading.parse_workbook(buf.getvalue()).rows
    assert [(r.deadline, r.units) for r in rows] == [("6月10日", "古城镇人民政府")] * 2


# ---- re-importing a plan's own ledger: an update, not a second copy ----------------------
def edited(data: bytes, edit) -> bytes:
    """The exported workbook after ``edit(ws)``, saved as a person would save it."""
    wb = load_workbook(io.BytesIO(data))
    edit(wb.active)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def problems_of(api, pid: int) -> list[dict]:
    return api.get(f"/plans/{pid}/problems", "admin").get_json()


def history_of(app, pid: int) -> list[tuple]:
    """The plan's task history, read in an app context of its own (the test holds none:
    a held one would keep the requests' session, and its snapshot, across requests)."""
    with app.app_context():
        s = app.extensions["rectify"].db.session()
        rows = s.execute(
            select(TaskEvent.task_id, TaskEvent.kind, TaskEvent.comment, Task.state)
            .join(Task, Task.id == TaskEvent.task_id)
            .where(Task.plan_id == pid)
            .order_by(TaskEvent.id)
        ).all()
        return [tuple(r) for r in rows]


@pytest.mark.parametrize("layout", ["sanmenxia", "yuzhou"])
def test_exporting_a_plan_and_importing_the_file_again_changes_nothing(api, app, layout):
    pid = demo_plan(api, SMX_PLAN_NO)
    before, history = problems_of(api, pid), history_of(app, pid)
    body = preview(api, pid, "smx_deputy", export(api, pid, "smx_deputy", layout).data).get_json()
    assert body["errors_count"] == 0, [x["errors"] for x in body["rows"] if x["errors"]]
    assert body["counts"] == {"add": 0, "change": 0, "same": 9, "missing": 0}
    assert [x["seq"] for x in body["rows"]] == list(range(1, 10)) and all(x["action"] == "same" for x in body["rows"])
    r = commit(api, pid, "smx_deputy", body["token"])
    assert r.status_code == 422 and "没有新增或修改" in r.get_json()["message"]
    assert problems_of(api, pid) == before and history_of(app, pid) == history


def test_editing_one_rows_measures_and_importing_again_changes_exactly_that_problem(api):
    pid = demo_plan(api, SMX_PLAN_NO)
    before, tasks = problems_of(api, pid), task_total(api, pid)
    data = export(api, pid, "smx_deputy", "sanmenxia").data
    new = "逐户复核建新未拆旧问题，7月底前全部拆除，拆除前后照片存档。"
    body = preview(api, pid, "smx_deputy", edited(data, lambda ws: ws.cell(5, 6, new))).get_json()
    assert body["counts"] == {"add": 0, "change": 1, "same": 8, "missing": 0}, body["counts"]
    changed = [x for x in body["rows"] if x["action"] == "change"]
    assert [(x["seq"], x["changes"]) for x in changed] == [(3, ["整改措施"])]
    assert imported(api, pid, "smx_deputy", body["token"]) == {
        "created_problems": 0,
        "created_tasks": 0,
        "changed_problems": 1,
        "progress_notes": 0,
    }
    after = problems_of(api, pid)
    assert [p for p in after if p["seq"] != 3] == [p for p in before if p["seq"] != 3]
    third = next(p for p in after if p["seq"] == 3)
    assert third["measures"] == new
    assert third["version"] == next(p for p in before if p["seq"] == 3)["version"] + 1, "an edit read before is stale"
    assert task_total(api, pid) == tasks


def test_progress_typed_into_the_file_becomes_a_note_and_no_state_changes(api, app):
    pid = demo_plan(api, SMX_PLAN_NO)
    states = sorted((t[0], t[3]) for t in history_of(app, pid))
    data = export(api, pid, "smx_deputy", "sanmenxia").data
    note = "已完成排查，正在逐户整改"
    body = preview(api, pid, "smx_deputy", edited(data, lambda ws: ws.cell(3, 10, note))).get_json()
    row = body["rows"][0]
    assert (row["action"], row["note"]) == ("same", note) and body["counts"]["change"] == 0
    result = imported(api, pid, "smx_deputy", body["token"])
    assert result["progress_notes"] == len(SMX_COUNTIES) and result["changed_problems"] == 0
    notes = [t for t in history_of(app, pid) if t[1] == "progress_note"]
    assert len(notes) == len(SMX_COUNTIES) and {t[2] for t in notes} == {note}
    assert sorted((t[0], t[3]) for t in history_of(app, pid) if t[1] != "progress_note") == states
    assert {t["state"] for t in api.get("/tasks", "admin", query_string={"plan_id": pid}).get_json()["items"]} <= {
        "identified",
        "in_progress",
        "rectified",
        "verified",
        "closed",
    }


def test_a_row_removed_from_the_file_is_shown_as_missing_and_kept_and_a_new_row_is_added(api):
    pid = demo_plan(api, SMX_PLAN_NO)
    data = export(api, pid, "smx_deputy", "yuzhou").data

    def edit(ws):
        for col in range(1, 14):  # problem 1 (row 2 is 单位（盖章）, row 3 the header) deleted
            ws.cell(4, col).value = None
        ws.unmerge_cells("A13:J13")  # a new problem typed over the footnote
        added = ["10", "新增问题类", "个性问题", "新发现的问题", "立即整改", "6月30日", "卢氏县住建局"]
        for col, value in enumerate(added, start=1):
            ws.cell(13, col, value)

    body = preview(api, pid, "smx_deputy", edited(data, edit)).get_json()
    assert body["errors_count"] == 0, [x["errors"] for x in body["rows"] if x["errors"]]
    assert body["counts"] == {"add": 1, "change": 0, "same": 8, "missing": 1}
    assert body["missing"][0]["seq"] == 1
    added = next(x for x in body["rows"] if x["action"] == "add")
    assert added["seq"] == 10 and added["units"] == [SMX_COUNTIES["lushi"]]
    assert imported(api, pid, "smx_deputy", body["token"])["created_problems"] == 1
    assert problem_count(api, pid) == 10, "the missing problem is not withdrawn by a file"


def test_a_changed_deadline_or_unit_in_a_reimported_row_is_an_error_naming_the_way_to_do_it(api):
    pid = demo_plan(api, SMX_PLAN_NO)
    data = export(api, pid, "smx_deputy", "sanmenxia").data

    def edit(ws):
        ws.cell(3, 7, "8月31日")
        ws.cell(11, 8, SMX_COUNTIES["hubin"])  # problem 9, 卢氏县's own

    rows = preview(api, pid, "smx_deputy", edited(data, edit)).get_json()["rows"]
    assert any("延期申请" in e for e in rows[0]["errors"]), rows[0]
    assert any("责任单位" in e for e in rows[-1]["errors"])


def test_a_county_cannot_change_the_citys_problems_by_reimporting_its_export(api):
    pid = demo_plan(api, SMX_PLAN_NO)
    data = export(api, pid, "lushi_handler", "sanmenxia").data
    rows = preview(api, pid, "lushi_handler", edited(data, lambda ws: ws.cell(3, 6, "改了措施"))).get_json()["rows"]
    assert rows[0]["action"] == "change" and any("只有方案下发单位" in e for e in rows[0]["errors"])


def test_a_scope_phrase_that_does_not_fit_the_plans_units_is_an_error_naming_it(api):
    pid = demo_plan(api, YZ_PLAN_NO)
    body = preview(api, pid, "yz_deputy", fixture("sanmenxia.xlsx")).get_json()
    assert all(
        any("「各县（市、区）住房和城乡建设部门」" in e and "下级单位不符" in e for e in x["errors"])
        for x in body["rows"]
    ), body["rows"][0]["errors"]
    assert all(x["units"] == [] for x in body["rows"]), "nothing is mapped onto the townships"


def test_a_formula_cell_comes_in_as_the_text_it_shows_with_a_warning(api):
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf)
    ws = wb.add_worksheet()
    ws.write_row(0, 0, YZ_HEADER)
    ws.write_row(1, 0, [1, "农村危房改造", "个性问题"])
    ws.write_formula(1, 3, '="2户"&"未挂牌"', None, "2户未挂牌")  # as Excel saves it: the formula and its value
    ws.write_row(1, 4, ["补挂", "6月10日", "古城镇"])
    wb.close()
    body = preview(api, demo_plan(api, YZ_PLAN_NO), "yz_deputy", buf.getvalue()).get_json()
    row = body["rows"][0]
    assert row["errors"] == [] and row["title"] == "2户未挂牌"
    assert row["warnings"] == ["「问题表述」是公式，已按表格中显示的内容导入"]
