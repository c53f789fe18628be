"""Authoring through the pages: a plan, a problem fanned out with the unit picker, a
report owed; the supervisor opening a handed-in report; reports' states in words.

Every form goes through the API's schemas and services, so what the forms write is read
back through the API, and what they refuse leaves nothing behind.
"""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from app.demo import SMX, SMX_COUNTIES, YZ_TOWNS
from app.models import Obligation, Plan, Problem, Submission, Task
from tests.integration.test_web_security import PDF, Browser, text

pytestmark = pytest.mark.presigned


def count(app, model, *where) -> int:
    with app.app_context():
        return app.extensions["rectify"].db.session().scalar(select(func.count()).select_from(model).where(*where))


def unit_id(api, name: str) -> int:
    return next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == name)


def flashes(r) -> list[str]:
    return re.findall(r'<p class="flash [a-z]+"[^>]*>(.*?)</p>', text(r), re.S)


def follow(browser: Browser, r):
    assert r.status_code == 302, (r.status_code, text(r)[:400])
    return browser.get(r.headers["Location"])


def new_plan(browser: Browser, **fields) -> int:
    form = {
        "title": "农村危房改造问题整改方案",
        "doc_number": "三建〔2022〕201号",
        "issued_on": "2022-06-08",
        "evidence_required": "1",
        "workdays_from": "received",
        "phase_name": ["动员部署", "排查整改", ""],
        "phase_deadline": ["6月15日前", "7月底", ""],
    } | fields
    r = browser.post("/plans/new", form)
    assert r.status_code == 302 and "/plans/" in r.headers["Location"], (r.status_code, flashes(browser.get("/")))
    return int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def common_problem(browser: Browser, plan_id: int, target: str, **fields):
    form = {
        "title": "危房改造档案资料不规范",
        "category": "工作落实方面",
        "nature": "common",
        "measures": "逐户核对档案，补齐缺失资料",
        "deadline": "6月30日前",
        "target": target,
    } | fields
    return browser.post(f"/plans/{plan_id}/problems/new", form)


def test_a_supervisor_issues_a_plan_through_the_form_and_the_api_reads_what_was_typed(app, api):
    deputy = Browser(app, "smx_deputy")
    assert 'href="/plans/new"' in text(deputy.get("/plans"))
    page = deputy.get("/plans/new")
    assert page.status_code == 200 and SMX in text(page)
    pid = new_plan(deputy, evidence_required="", workdays_from="issued")
    plan = api.get(f"/plans/{pid}", "smx_deputy").get_json()
    assert plan["title"] == "农村危房改造问题整改方案"
    assert plan["doc_number"] == "三建〔2022〕201号"
    assert plan["issuing_unit_id"] == unit_id(api, SMX)
    assert plan["evidence_required"] is False and plan["workdays_from"] == "issued"
    assert [(p["name"], p["deadline_text"], p["ends_on"]) for p in plan["phases"]] == [
        ("动员部署", "6月15日前", "2022-06-15"),
        ("排查整改", "7月底", "2022-07-31"),
    ]
    shown = deputy.get(f"/plans/{pid}")
    assert "三建〔2022〕201号" in text(shown) and "整改方案已下发" in " ".join(flashes(shown))
    assert f'href="/plans/{pid}/problems/new"' in text(shown) and f'href="/plans/{pid}/obligations/new"' in text(shown)


def test_the_plan_form_refuses_an_issuing_unit_outside_the_supervisors_own_and_writes_nothing(app, api):
    deputy = Browser(app, "smx_deputy")
    before = count(app, Plan)
    r = deputy.post("/plans/new", {"title": "越权方案", "issued_on": "2022-06-08", "issuing_unit_id": "999999"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/plans/new")
    assert any("不在您的管辖范围内" in m for m in flashes(deputy.get("/plans/new")))
    yuzhou = unit_id(api, "禹州市住房和城乡建设局")
    r = deputy.post("/plans/new", {"title": "越权方案", "issued_on": "2022-06-08", "issuing_unit_id": str(yuzhou)})
    assert r.headers["Location"].endswith("/plans/new")
    r = deputy.post("/plans/new", {"title": "", "issued_on": "6月8日"})  # the schema's own rules
    assert any("title" in m and "issued_on" in m for m in flashes(follow(deputy, r)))
    assert count(app, Plan) == before
    # the issuing unit offered is only ever one the supervisor may issue for
    assert "禹州" not in text(deputy.get("/plans/new"))


def test_a_county_official_may_not_open_the_plan_form(app):
    official = Browser(app, "lushi_handler")
    assert official.get("/plans/new").status_code == 403
    assert 'href="/plans/new"' not in text(official.get("/plans"))
    before = count(app, Plan)
    assert official.post("/plans/new", {"title": "县里的方案", "issued_on": "2022-06-08"}).status_code == 403
    assert count(app, Plan) == before


def test_a_common_problem_for_all_units_under_the_city_fans_out_to_every_county_who_each_see_their_task(app, api):
    deputy = Browser(app, "smx_deputy")
    pid = new_plan(deputy)
    smx = unit_id(api, SMX)
    form = text(deputy.get(f"/plans/{pid}/problems/new"))
    assert f'value="under:{smx}"' in form
    assert all(name in form for name in SMX_COUNTIES.values())
    r = common_problem(deputy, pid, f"under:{smx}")
    assert "分解为 7 项整改任务" in " ".join(flashes(follow(deputy, r)))
    problems = api.get(f"/plans/{pid}/problems", "smx_deputy").get_json()
    assert [(p["title"], p["nature"], p["task_count"], p["deadline_text"]) for p in problems] == [
        ("危房改造档案资料不规范", "common", 7, "6月30日前")
    ]
    for key in SMX_COUNTIES:
        mine = api.get("/tasks", f"{key}_handler", query_string={"plan_id": pid}).get_json()["items"]
        assert [(t["problem_title"], t["unit_name"], t["state"]) for t in mine] == [
            ("危房改造档案资料不规范", SMX_COUNTIES[key], "identified")
        ], key


def test_ticked_units_get_the_problem_and_no_other_unit_does(app, api):
    deputy = Browser(app, "smx_deputy")
    pid = new_plan(deputy)
    lushi, hubin = unit_id(api, SMX_COUNTIES["lushi"]), unit_id(api, SMX_COUNTIES["hubin"])
    r = deputy.post(
        f"/plans/{pid}/problems/new",
        {"title": "个别农户未入住", "nature": "individual", "deadline": "立行立改", "target": "some"}
        | {"unit_ids": [str(lushi), str(hubin)]},
    )
    assert "分解为 2 项整改任务" in " ".join(flashes(follow(deputy, r)))
    tasks = api.get("/tasks", "smx_deputy", query_string={"plan_id": pid}).get_json()["items"]
    assert sorted(t["unit_name"] for t in tasks) == sorted([SMX_COUNTIES["lushi"], SMX_COUNTIES["hubin"]])
    assert {t["deadline_kind"] for t in tasks} == {"immediate"}


def test_a_refused_problem_says_why_on_its_form_and_writes_nothing(app, api):
    deputy = Browser(app, "smx_deputy")
    pid = new_plan(deputy)
    before = (count(app, Problem), count(app, Task))
    smx = unit_id(api, SMX)
    r = common_problem(deputy, pid, f"under:{smx}", deadline="过段时间")  # not a deadline the parser knows
    assert r.headers["Location"].endswith(f"/plans/{pid}/problems/new")
    said = " ".join(flashes(deputy.get(r.headers["Location"])))
    assert "过段时间" in said or "整改时限" in said, said
    r = common_problem(deputy, pid, "some")  # nothing ticked
    assert "请选择责任单位" in " ".join(flashes(follow(deputy, r)))
    town = unit_id(api, YZ_TOWNS["gucheng"])  # another city's township, sent by hand
    r = common_problem(deputy, pid, "some", unit_ids=[str(town)])
    assert any("不在方案下发单位" in m for m in flashes(follow(deputy, r)))
    r = common_problem(deputy, pid, f"under:{smx}", nature="共性")
    assert any("nature" in m for m in flashes(follow(deputy, r)))
    assert (count(app, Problem), count(app, Task)) == before


def test_a_county_reports_its_own_finding_and_its_picker_offers_only_itself(app, api):
    official = Browser(app, "lushi_handler")
    lushi, hubin = unit_id(api, SMX_COUNTIES["lushi"]), unit_id(api, SMX_COUNTIES["hubin"])
    plan = text(official.get("/plans/1"))
    assert 'href="/plans/1/problems/new"' in plan and 'href="/plans/1/obligations/new"' not in plan
    form = text(official.get("/plans/1/problems/new"))
    assert f'value="{lushi}"' in form and f'value="{hubin}"' not in form and "under:" not in form
    r = official.post(
        "/plans/1/problems/new",
        {"title": "自查：两户档案缺照片", "nature": "individual", "deadline": "6月30日前", "target": "some"}
        | {"unit_ids": [str(hubin)]},
    )
    assert any("自查" in m for m in flashes(follow(official, r)))  # not for a sibling county
    r = official.post(
        "/plans/1/problems/new",
        {"title": "自查：两户档案缺照片", "nature": "individual", "deadline": "6月30日前", "target": "some"}
        | {"unit_ids": [str(lushi)]},
    )
    assert "分解为 1 项整改任务" in " ".join(flashes(follow(official, r)))
    assert official.get("/plans/1/obligations/new").status_code == 403
    assert Browser(app, "smx_viewer").get("/plans/1/problems/new").status_code == 403
    assert Browser(app, "yz_deputy").get("/plans/1/problems/new").status_code == 404


def test_a_weekly_report_owed_by_every_county_makes_one_report_per_county_each_friday(app, api):
    deputy = Browser(app, "smx_deputy")
    pid = new_plan(deputy)
    smx = unit_id(api, SMX)
    r = deputy.post(
        f"/plans/{pid}/obligations/new",
        {"title": "整改进展周报", "schedule": "每周五", "ends_on": "2022-07-01", "target": f"under:{smx}"},
    )
    assert "报送要求已设置" in " ".join(flashes(follow(deputy, r)))
    subs = api.get(f"/plans/{pid}/submissions", "smx_deputy").get_json()
    fridays = ["2022-06-10", "2022-06-17", "2022-06-24", "2022-07-01"]
    assert sorted({s["due_on"] for s in subs}) == fridays
    assert len(subs) == 7 * len(fridays)
    mine = api.get(f"/plans/{pid}/submissions", "lushi_handler").get_json()
    assert [s["due_on"] for s in mine] == fridays
    plan = text(deputy.get(f"/plans/{pid}"))
    assert "整改进展周报" in plan
    assert set(re.findall(r'data-state="pending">([^<]*)<', plan)) == {"待报送"}


def test_a_refused_report_owed_says_why_and_writes_nothing(app, api):
    deputy = Browser(app, "smx_deputy")
    smx = unit_id(api, SMX)
    before = count(app, Obligation), count(app, Submission)
    r = deputy.post("/plans/1/obligations/new", {"title": "周报", "schedule": "有空就报", "target": f"under:{smx}"})
    assert r.headers["Location"].endswith("/plans/1/obligations/new")
    assert flashes(deputy.get(r.headers["Location"]))
    r = deputy.post("/plans/1/obligations/new", {"title": "周报", "schedule": "每周五", "target": "some"})
    assert "请选择报送单位" in " ".join(flashes(follow(deputy, r)))
    assert (count(app, Obligation), count(app, Submission)) == before
    lushi = Browser(app, "lushi_handler")
    assert lushi.post("/plans/1/obligations/new", {"title": "周报", "schedule": "每周五"}).status_code == 403
    assert (count(app, Obligation), count(app, Submission)) == before


def _handed_in(api, world_unit: str = "lushi") -> int:
    lushi = unit_id(api, SMX_COUNTIES[world_unit])
    body = {"title": "整改情况报告", "schedule": "6月20日前", "unit_ids": [lushi]}
    ob = api.post("/plans/1/obligations", "smx_deputy", json=body).get_json()["id"]
    sid = next(s["id"] for s in api.get("/plans/1/submissions", "smx_deputy").get_json() if s["obligation_id"] == ob)
    data = {"note": "已完成12户档案核对", "version": "1", "file": (io.BytesIO(PDF), "卢氏县整改情况报告.pdf")}
    assert api.post(f"/submissions/{sid}/submit", f"{world_unit}_handler", data=data).status_code == 200
    return sid


def test_the_supervisor_opens_a_handed_in_report_file_as_a_download_and_other_units_cannot(app, api):
    sid = _handed_in(api)
    deputy = Browser(app, "smx_deputy")
    page = text(deputy.get("/submissions"))
    assert f'href="/submissions/{sid}/file"' in page and "卢氏县整改情况报告.pdf" in page
    r = deputy.get(f"/submissions/{sid}/file")
    assert r.status_code == 200 and r.data == PDF
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert "%E5%8D%A2%E6%B0%8F%E5%8E%BF" in r.headers["Content-Disposition"]  # 卢氏县, as RFC 5987 wants
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert Browser(app, "lushi_head").get(f"/submissions/{sid}/file").data == PDF
    assert Browser(app, "hubin_handler").get(f"/submissions/{sid}/file").status_code == 404
    assert Browser(app, "yz_deputy").get(f"/submissions/{sid}/file").status_code == 404
    body = {"title": "整改方案及台账", "schedule": "6月10日前", "unit_ids": [unit_id(api, SMX_COUNTIES["lushi"])]}
    api.post("/plans/1/obligations", "smx_deputy", json=body)
    unsent = max(s["id"] for s in api.get("/plans/1/submissions", "smx_deputy").get_json())
    assert deputy.get(f"/submissions/{unsent}/file").status_code == 404


def _cell(page: str, sid: int, cls: str) -> str:
    row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*?/submissions/{sid}/(?:(?!</tr>).)*</tr>", page, re.S).group(0)
    return re.sub(r"<[^>]+>", "", re.search(rf'<td class="{cls}"[^>]*>(.*?)</td>', row, re.S).group(1)).strip()


def test_a_returned_report_reads_in_words_with_the_reason_apart_from_the_units_note(app, api):
    sid = _handed_in(api)
    deputy = Browser(app, "smx_deputy")
    assert _cell(text(deputy.get("/submissions")), sid, "report-state").startswith("已报送")
    r = deputy.post(f"/submissions/{sid}/review", {"accept": "0", "comment": "缺少入户照片", "version": "2"})
    assert r.status_code == 302
    lushi = Browser(app, "lushi_handler")
    page = text(lushi.get("/submissions"))
    assert _cell(page, sid, "report-state") == "已退回"
    assert _cell(page, sid, "report-note") == "已完成12户档案核对"
    assert _cell(page, sid, "report-decision") == "退回理由：缺少入户照片"
    with lushi.client.session_transaction() as s:
        s["lang"] = "en"
    page = text(lushi.get("/submissions"))
    assert _cell(page, sid, "report-state") == "Returned"
    assert _cell(page, sid, "report-decision") == "Returned because: 缺少入户照片"


def test_a_supervisor_edits_a_plans_wording_waiver_and_phases_and_a_stale_form_is_refused(app, api):
    deputy = Browser(app, "smx_deputy")
    pid = new_plan(deputy)
    form = text(deputy.get(f"/plans/{pid}/edit"))
    assert 'value="农村危房改造问题整改方案"' in form and 'value="7月底"' in form
    edit = {
        "title": "农村危房改造问题整改实施方案",
        "doc_number": "三建〔2022〕202号",
        "evidence_required": "",
        "phase_name": ["排查整改", "总结验收"],
        "phase_deadline": ["7月15日前", "8月底"],
        "version": "1",
    }
    r = deputy.post(f"/plans/{pid}/edit", edit)
    assert "整改方案已修改" in " ".join(flashes(follow(deputy, r)))
    plan = api.get(f"/plans/{pid}", "smx_deputy").get_json()
    assert (plan["title"], plan["doc_number"], plan["evidence_required"], plan["version"]) == (
        "农村危房改造问题整改实施方案",
        "三建〔2022〕202号",
        False,
        2,
    )
    phases = [(p["name"], p["ends_on"]) for p in plan["phases"]]
    assert phases == [("排查整改", "2022-07-15"), ("总结验收", "2022-08-31")]
    # a second editor still holding version 1 is refused and changes nothing
    r = deputy.post(f"/plans/{pid}/edit", edit | {"title": "别人的改动"})
    assert any("已被他人修改" in m for m in flashes(follow(deputy, r)))
    r = deputy.post(f"/plans/{pid}/edit", edit | {"version": "2", "phase_deadline": ["过段时间", "8月底"]})
    assert r.headers["Location"].endswith(f"/plans/{pid}/edit")
    assert api.get(f"/plans/{pid}", "smx_deputy").get_json() == plan
    put = {"title": "经 API 修改", "version": 2}
    assert api.call("PUT", f"/plans/{pid}", "lushi_handler", json=put).status_code == 404  # no task there yet
    assert api.call("PUT", f"/plans/{pid}", "smx_deputy", json=put).get_json()["version"] == 3
    assert Browser(app, "lushi_handler").get("/plans/1/edit").status_code == 403
