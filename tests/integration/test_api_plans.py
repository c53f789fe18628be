"""Issuing plans, adding problems (fan-out to tasks) and the roll-up figures."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from app.demo import SMX, SMX_COUNTIES, YZ, YZ_TOWNS
from app.domain.deadlines import ACCEPTED_FORMS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SMX_PLAN_NO = "三建〔2022〕187号"
YZ_PLAN_NO = "禹建〔2022〕39号"

pytestmark = pytest.mark.presigned  # not about signing in: tokens minted up front


def units(api) -> dict[str, int]:
    return {u["name"]: u["id"] for u in api.get("/units", "admin").get_json()}


def plan_id(api, doc_number: str) -> int:
    return next(p["id"] for p in api.get("/plans", "admin").get_json() if p["doc_number"] == doc_number)


def plan_tasks(api, pid: int, as_user: str = "admin") -> list[dict]:
    r = api.get("/tasks", as_user, query_string={"plan_id": pid, "per_page": 200})
    assert r.status_code == 200
    return r.get_json()["items"]


def counts(api, pid: int) -> tuple[int, int]:
    """(problems, tasks) of a plan, as the admin sees them."""
    problems = api.get(f"/plans/{pid}/problems", "admin").get_json()
    total = api.get("/tasks", "admin", query_string={"plan_id": pid}).get_json()["total"]
    return len(problems), total


def new_plan(api, as_user: str = "smx_deputy", **fields) -> dict:
    body = {"title": "关于农房安全隐患排查整治的整改方案", "doc_number": "三建〔2022〕200号", "issued_on": "2022-06-07"}
    r = api.post("/plans", as_user, json=body | fields)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def new_problem(api, pid: int, as_user: str = "smx_deputy", **fields) -> dict:
    body = {"nature": "common", "title": "危房改造档案不规范", "measures": "补齐档案", "deadline": "6月20日"}
    r = api.post(f"/plans/{pid}/problems", as_user, json=body | fields)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def move(api, tid: int, as_user: str, to: str, comment: str = "") -> dict:
    version = api.get(f"/tasks/{tid}", as_user).get_json()["version"]
    r = api.post(f"/tasks/{tid}/transitions", as_user, json={"to": to, "version": version, "comment": comment})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def rectify(api, tid: int, handler: str) -> None:
    move(api, tid, handler, "in_progress")
    up = api.post(f"/tasks/{tid}/evidence", handler, data={"file": (io.BytesIO(PNG), "照片.png")})
    assert up.status_code == 201, up.get_json()
    move(api, tid, handler, "rectified", "已整改到位")


# ---- plans ------------------------------------------------------------------------------


def test_a_supervisor_issues_a_plan_whose_phase_deadlines_are_parsed_into_end_dates(api):
    r = api.post(
        "/plans",
        "yz_deputy",
        json={
            "title": "禹州市2022年度第二轮“回头看”实施方案",
            "doc_number": "禹建〔2022〕52号",
            "issued_on": "2022-05-20",
            "evidence_required": False,
            "phases": [
                {"name": "动员部署阶段", "deadline": "5月底前"},
                {"name": "排查整改阶段", "deadline": "6月中旬前"},
                {"name": "总结验收阶段", "deadline": "6月25日前"},
                {"name": "巩固提升阶段", "deadline": "长期整改"},
            ],
        },
    )
    assert r.status_code == 201, r.get_json()
    plan = r.get_json()
    assert plan["issuing_unit_id"] == units(api)[YZ]  # defaults to the issuer's own unit
    assert plan["doc_number"] == "禹建〔2022〕52号"
    assert plan["evidence_required"] is False
    assert [(p["seq"], p["name"], p["deadline_text"], p["ends_on"]) for p in plan["phases"]] == [
        (1, "动员部署阶段", "5月底前", "2022-05-31"),
        (2, "排查整改阶段", "6月中旬前", "2022-06-20"),
        (3, "总结验收阶段", "6月25日前", "2022-06-25"),
        (4, "巩固提升阶段", "长期整改", None),
    ]
    assert plan["figures"]["total"] == 0
    again = api.get(f"/plans/{plan['id']}", "yz_head").get_json()
    assert again["phases"] == plan["phases"]


def test_a_supervisor_may_issue_a_plan_in_the_name_of_a_unit_under_them(api):
    lushi = units(api)[SMX_COUNTIES["lushi"]]
    plan = new_plan(api, issuing_unit_id=lushi)
    assert plan["issuing_unit_id"] == lushi
    assert plan["id"] in [p["id"] for p in api.get("/plans", "lushi_handler").get_json()]


def test_officials_and_viewers_cannot_issue_a_plan(api):
    before = len(api.get("/plans", "admin").get_json())
    for user in ("lushi_handler", "lushi_head", "gucheng_head", "smx_viewer"):
        r = api.post("/plans", user, json={"title": "自定方案", "issued_on": "2022-06-07"})
        assert r.status_code == 403, user
        assert r.get_json()["error"] == "forbidden"
    assert len(api.get("/plans", "admin").get_json()) == before


def test_a_plan_cannot_be_issued_for_a_unit_outside_the_supervisors_tree(api):
    before = len(api.get("/plans", "admin").get_json())
    for outside in (units(api)[YZ], units(api)[YZ_TOWNS["gucheng"]], 999_999):
        r = api.post(
            "/plans", "smx_deputy", json={"title": "越权方案", "issued_on": "2022-06-07", "issuing_unit_id": outside}
        )
        assert r.status_code == 422, outside
        assert r.get_json()["error"] == "invalid"
    assert len(api.get("/plans", "admin").get_json()) == before


def test_a_plan_with_an_unreadable_phase_deadline_is_refused_and_not_written(api):
    before = len(api.get("/plans", "admin").get_json())
    r = api.post(
        "/plans",
        "smx_deputy",
        json={"title": "t", "issued_on": "2022-06-07", "phases": [{"name": "a", "deadline": "尽快"}]},
    )
    assert r.status_code == 422
    assert "尽快" in r.get_json()["message"]
    assert len(api.get("/plans", "admin").get_json()) == before


def test_the_plan_list_shows_each_user_the_plans_they_may_see_with_figures(api):
    smx = api.get("/plans", "smx_head").get_json()
    assert [p["doc_number"] for p in smx] == [SMX_PLAN_NO]
    figures = smx[0]["figures"]
    # 8 common problems for 7 counties + 1 individual problem for 卢氏县
    assert figures["total"] == 57
    assert figures["by_state"] == {
        "identified": 57,
        "in_progress": 0,
        "rectified": 0,
        "verified": 0,
        "closed": 0,
        "withdrawn": 0,
    }
    assert figures["overdue"] == 0 and figures["completion_rate"] == 0.0
    yz = api.get("/plans", "yz_deputy").get_json()
    assert [p["doc_number"] for p in yz] == [YZ_PLAN_NO]
    assert yz[0]["figures"]["total"] == 6 + 4  # one task per township + 4 self-reported
    assert [p["doc_number"] for p in api.get("/plans", "lushi_handler").get_json()] == [SMX_PLAN_NO]
    assert [p["doc_number"] for p in api.get("/plans", "gucheng_handler").get_json()] == [YZ_PLAN_NO]
    assert {p["doc_number"] for p in api.get("/plans", "admin").get_json()} == {SMX_PLAN_NO, YZ_PLAN_NO}


def test_a_plan_of_another_organisation_is_not_found(api):
    smx_plan = plan_id(api, SMX_PLAN_NO)
    for user in ("yz_deputy", "gucheng_handler"):
        assert api.get(f"/plans/{smx_plan}", user).status_code == 404
        assert api.get(f"/plans/{smx_plan}/problems", user).status_code == 404
    r = api.post(
        f"/plans/{smx_plan}/problems",
        "yz_deputy",
        json={"nature": "common", "title": "x", "deadline": "6月20日", "all_units_under": units(api)[SMX]},
    )
    assert r.status_code == 404


# ---- problems and fan-out ---------------------------------------------------------------


def test_a_common_problem_for_all_units_under_the_city_fans_out_to_one_task_per_county(api):
    u = units(api)
    plan = new_plan(api)
    problem = new_problem(api, plan["id"], all_units_under=u[SMX], deadline="7月底前", category="工作落实方面")
    assert problem["task_count"] == 7
    assert problem["state"] == "identified"
    assert problem["deadline_text"] == "7月底前"
    assert problem["deadline_kind"] == "date"
    # the end of 31 July in China time
    assert datetime.fromisoformat(problem["due_at"]) == datetime(2022, 7, 31, 15, 59, 59, tzinfo=UTC)
    tasks = plan_tasks(api, plan["id"])
    assert sorted(t["unit_id"] for t in tasks) == sorted(u[name] for name in SMX_COUNTIES.values())
    assert {t["problem_id"] for t in tasks} == {problem["id"]}
    assert {t["state"] for t in tasks} == {"identified"} and {t["version"] for t in tasks} == {1}
    for t in tasks:
        history = api.get(f"/tasks/{t['id']}/history", "smx_head").get_json()
        assert [(h["seq"], h["kind"], h["from_state"], h["to_state"]) for h in history] == [
            (1, "created", None, "identified")
        ]
        assert history[0]["actor_name"]


def test_a_problem_for_named_units_makes_one_task_for_each_of_them(api):
    u = units(api)
    plan = new_plan(api)
    ids = [u[SMX_COUNTIES["lushi"]], u[SMX_COUNTIES["hubin"]], u[SMX_COUNTIES["lushi"]]]
    problem = new_problem(api, plan["id"], nature="individual", unit_ids=ids)
    assert problem["task_count"] == 2
    assert sorted(t["unit_id"] for t in plan_tasks(api, plan["id"])) == sorted(set(ids))
    # the responsible county sees its own task, the others do not
    assert [t["problem_id"] for t in plan_tasks(api, plan["id"], "lushi_handler")] == [problem["id"]]
    assert plan_tasks(api, plan["id"], "mianchi_handler") == []


def test_a_problem_for_a_unit_outside_the_plan_is_refused_and_nothing_is_written(api):
    u = units(api)
    plan = new_plan(api)
    for body in (
        {"unit_ids": [u[SMX_COUNTIES["lushi"]], u[YZ_TOWNS["gucheng"]]]},
        {"unit_ids": [999_999]},
        {"all_units_under": u[YZ]},
    ):
        r = api.post(
            f"/plans/{plan['id']}/problems",
            "smx_deputy",
            json={"nature": "common", "title": "x", "deadline": "6月20日"} | body,
        )
        assert r.status_code == 422, body
    assert counts(api, plan["id"]) == (0, 0)


def test_a_township_official_may_report_a_problem_found_in_their_own_township(api):
    u = units(api)
    yz_plan = plan_id(api, YZ_PLAN_NO)
    problems_before, tasks_before = counts(api, yz_plan)
    problem = new_problem(
        api,
        yz_plan,
        "gucheng_handler",
        nature="individual",
        title="2户危房改造竣工验收表时间与实际不符",
        source="乡镇自查",
        deadline="6月15日前",
        unit_ids=[u[YZ_TOWNS["gucheng"]]],
    )
    assert problem["task_count"] == 1 and problem["seq"] == problems_before + 1
    assert counts(api, yz_plan) == (problems_before + 1, tasks_before + 1)
    mine = [t for t in plan_tasks(api, yz_plan, "gucheng_handler") if t["problem_id"] == problem["id"]]
    assert [t["unit_id"] for t in mine] == [u[YZ_TOWNS["gucheng"]]]
    # the city sees the self-reported problem in its list
    assert problem["id"] in [p["id"] for p in api.get(f"/plans/{yz_plan}/problems", "yz_head").get_json()]


@pytest.mark.parametrize(
    "targets",
    [["shundian"], ["gucheng", "shundian"]],
    ids=["another-township", "own-and-another"],
)
def test_a_township_official_cannot_report_a_problem_for_another_township(api, targets):
    u = units(api)
    yz_plan = plan_id(api, YZ_PLAN_NO)
    before = counts(api, yz_plan)
    r = api.post(
        f"/plans/{yz_plan}/problems",
        "gucheng_handler",
        json={
            "nature": "individual",
            "title": "顺店镇的问题",
            "deadline": "6月15日",
            "unit_ids": [u[YZ_TOWNS[t]] for t in targets],
        },
    )
    assert r.status_code == 403
    assert r.get_json()["error"] == "forbidden"
    assert counts(api, yz_plan) == before


def test_a_viewer_cannot_add_a_problem(api):
    u = units(api)
    smx_plan = plan_id(api, SMX_PLAN_NO)
    before = counts(api, smx_plan)
    r = api.post(
        f"/plans/{smx_plan}/problems",
        "smx_viewer",
        json={"nature": "common", "title": "x", "deadline": "6月20日", "all_units_under": u[SMX]},
    )
    assert r.status_code == 403
    assert counts(api, smx_plan) == before


@pytest.mark.parametrize("field", ["deadline", "milestone"])
def test_an_unreadable_deadline_is_refused_with_the_accepted_forms_and_nothing_is_written(api, field):
    u = units(api)
    smx_plan = plan_id(api, SMX_PLAN_NO)
    before = counts(api, smx_plan)
    body = {"nature": "common", "title": "新问题", "deadline": "6月20日", "all_units_under": u[SMX]}
    if field == "deadline":
        body["deadline"] = "下个月吧"
    else:
        body["deadline"] = "长期整改"
        body["milestones"] = [
            {"title": "完成排查", "deadline": "6月20日"},
            {"title": "全部整改", "deadline": "13月1日"},
        ]
    r = api.post(f"/plans/{smx_plan}/problems", "smx_deputy", json=body)
    assert r.status_code == 422
    message = r.get_json()["message"]
    assert ("下个月吧" if field == "deadline" else "13月1日") in message
    for form in ("6月20日前", "7月底", "立行立改", "5个工作日内"):
        assert form in message
    assert all(form in message for form in ACCEPTED_FORMS)
    assert counts(api, smx_plan) == before


def test_a_problem_with_dated_stage_goals_keeps_each_goal_and_its_date(api):
    u = units(api)
    plan = new_plan(api)
    problem = new_problem(
        api,
        plan["id"],
        deadline="长期整改",
        unit_ids=[u[SMX_COUNTIES["lingbao"]]],
        milestones=[{"title": "完成排查", "deadline": "6月20日"}, {"title": "整改过半", "deadline": "8月底"}],
    )
    assert problem["deadline_kind"] == "long_term" and problem["due_at"] is None
    assert [(m["seq"], m["deadline_text"], m["due_at"]) for m in problem["milestones"]] == [
        (1, "6月20日", "2022-06-20T15:59:59Z"),
        (2, "8月底", "2022-08-31T15:59:59Z"),
    ]


# ---- roll-up ----------------------------------------------------------------------------


def test_the_plan_figures_and_problem_states_roll_up_from_the_tasks(api, clock):
    u = units(api)
    lushi, hubin = u[SMX_COUNTIES["lushi"]], u[SMX_COUNTIES["hubin"]]
    plan = new_plan(api)
    pid = plan["id"]
    p1 = new_problem(api, pid, title="两县共有问题", nature="individual", unit_ids=[lushi, hubin], deadline="6月15日")
    p2 = new_problem(api, pid, title="卢氏县问题", nature="individual", unit_ids=[lushi], deadline="7月底")
    p3 = new_problem(api, pid, title="各县共性问题", all_units_under=u[SMX], deadline="6月15日")
    tasks = {(t["problem_id"], t["unit_id"]): t["id"] for t in plan_tasks(api, pid)}

    # p1: 卢氏 closed, 湖滨 rectified; p2: 卢氏 in progress; p3: all seven identified
    rectify(api, tasks[p1["id"], lushi], "lushi_handler")
    move(api, tasks[p1["id"], lushi], "smx_deputy", "verified")
    move(api, tasks[p1["id"], lushi], "smx_head", "closed")
    rectify(api, tasks[p1["id"], hubin], "hubin_handler")
    move(api, tasks[p2["id"], lushi], "lushi_handler", "in_progress")

    figures = api.get(f"/plans/{pid}", "smx_head").get_json()["figures"]
    assert figures["total"] == 10
    assert figures["by_state"] == {
        "identified": 7,
        "in_progress": 1,
        "rectified": 1,
        "verified": 0,
        "closed": 1,
        "withdrawn": 0,
    }
    assert figures["overdue"] == 0
    assert figures["completion_rate"] == pytest.approx(0.1)
    assert figures["rectified_rate"] == pytest.approx(0.2)

    # one second after the end of 15 June, China time: p3's seven open tasks are overdue;
    # 湖滨's rectified task is no longer the unit's to do, p2 is due only in July
    clock.now = datetime(2022, 6, 15, 16, 0, 0, tzinfo=UTC)
    figures = api.get(f"/plans/{pid}", "smx_head").get_json()["figures"]
    assert figures["overdue"] == 7
    listed = next(p for p in api.get("/plans", "smx_head").get_json() if p["id"] == pid)
    assert listed["figures"] == figures
    # at the very last second of the day nothing is overdue yet
    clock.now = datetime(2022, 6, 15, 15, 59, 59, tzinfo=UTC)
    assert api.get(f"/plans/{pid}", "smx_head").get_json()["figures"]["overdue"] == 0

    states = {p["id"]: (p["state"], p["task_count"]) for p in api.get(f"/plans/{pid}/problems", "smx_head").get_json()}
    assert states == {p1["id"]: ("rectified", 2), p2["id"]: ("in_progress", 1), p3["id"]: ("identified", 7)}
    assert api.get(f"/problems/{p1['id']}", "smx_head").get_json()["state"] == "rectified"

    # closing the last open task of p1 makes the problem closed
    move(api, tasks[p1["id"], hubin], "smx_deputy", "verified")
    move(api, tasks[p1["id"], hubin], "smx_head", "closed")
    assert api.get(f"/problems/{p1['id']}", "smx_head").get_json()["state"] == "closed"
    figures = api.get(f"/plans/{pid}", "smx_head").get_json()["figures"]
    assert figures["by_state"]["closed"] == 2 and figures["completion_rate"] == pytest.approx(0.2)
