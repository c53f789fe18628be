"""The Sanmenxia plan run through the tree (city → county → township), over the API: the city
issues it and asks for 「整改方案及台账 6月10日前」; 卢氏县 answers with its own plan (its own
文号) carrying two received problems (举一反三) and one it found itself, for two townships;
the townships rectify and the county checks them; the county's received task is refused
while its townships' problems are open (the refusal names them) and goes through once they
are checked; the city reads the county's plan and the township progress but does not act on
it; the county's report is met by handing in the answering plan. Right after the plan is issued every
county acknowledges (签收) its tasks, except that 卢氏县 first declines (拒收) one with a
reason and the city reassigns (转办) it to 灵宝市, which acknowledges it. Then the look-back
(回头看): closed tasks fall due for a re-check N days later, which the supervisor's queue
shows and the sweep reminds and escalates; one is confirmed, one reopens as a rebound, and
the figures count it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app import jobs
from app.demo import DEMO_PASSWORD, SMX_COUNTIES
from app.models import Notification, Unit, User
from app.schemas import UnitIn, UserIn
from app.services import org, queue

pytestmark = pytest.mark.presigned

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TOWNS = {"gdk": "官道口镇人民政府", "dg": "杜关镇人民政府"}


def add_tree(api, app) -> dict[str, int]:
    """卢氏县 gets a supervisor (lushi_sup) to issue its answering plan, and two townships
    under it, each with a handler: the demo has no townships under its counties."""
    rt = app.extensions["rectify"]
    with app.app_context():
        lushi = rt.db.session().scalar(select(Unit).where(Unit.name == SMX_COUNTIES["lushi"]))
        ids = {"lushi": lushi.id}
        person = {"password": DEMO_PASSWORD, "position": "head", "role": "supervisor", "unit_id": lushi.id}
        org.create_user(rt.db, None, UserIn(username="lushi_sup", full_name="卢氏县住建局督办", **person))
        for key, name in TOWNS.items():
            town = org.create_unit(rt.db, None, UnitIn(name=name, kind="乡镇", parent_id=lushi.id))
            ids[key] = town.id
            person = {"password": DEMO_PASSWORD, "position": "handler", "role": "official", "unit_id": town.id}
            org.create_user(rt.db, None, UserIn(username=f"{key}_handler", full_name=f"{name}经办人", **person))
    from tests.conftest import presign

    presign(api, app)
    return ids


def tasks_of(api, user: str, plan_id: int, unit_id: int) -> list[dict]:
    q = {"plan_id": plan_id, "unit_id": unit_id, "per_page": 200, "sort": "due"}
    return api.get("/tasks", user, query_string=q).get_json()["items"]


def move(api, user: str, tid: int, to: str, comment: str = ""):
    version = api.get(f"/tasks/{tid}", user).get_json()["version"]
    return api.post(f"/tasks/{tid}/transitions", user, json={"to": to, "comment": comment, "version": version})


def rectify(api, user: str, tid: int) -> None:
    assert move(api, user, tid, "in_progress").status_code == 200
    up = api.post(f"/tasks/{tid}/evidence", user, data={"file": (io.BytesIO(PNG), "photo.png")})
    assert up.status_code == 201
    r = move(api, user, tid, "rectified", "已逐户核查整改")
    assert r.status_code == 200, r.get_json()


def check(api, verifier: str, closer: str, tid: int) -> None:
    assert move(api, verifier, tid, "verified").status_code == 200
    assert move(api, closer, tid, "closed").status_code == 200


def inbox_subjects(api, who: str) -> list[str]:
    return [m["subject"] for m in api.get("/inbox", who).get_json()["items"]]


def every_county_acknowledges(api, clock) -> None:
    """签收: 卢氏县 declines its own individual problem's task with a reason and the city
    reassigns it to 灵宝市; then each county acknowledges all of its tasks at once."""
    clock.advance(hours=1)
    units = {key: api.get("/me", f"{key}_handler").get_json()["unit_id"] for key in SMX_COUNTIES}
    all_tasks = api.get("/tasks", "smx_deputy", query_string={"plan_id": 1, "per_page": 200}).get_json()["items"]
    [task] = [
        t
        for t in all_tasks
        if t["unit_id"] == units["lushi"] and [u["problem_id"] for u in all_tasks].count(t["problem_id"]) == 1
    ]
    target = "lingbao"
    reason = "该问题所涉片区已划归其他县区管理"
    body = {"reason": reason, "version": task["version"]}
    declined = api.post(f"/tasks/{task['id']}/decline", "lushi_handler", json=body)
    assert declined.status_code == 200, declined.get_json()
    assert declined.get_json()["receipt"] == "declined"
    # the issuing side is told, in its people's inboxes
    for who in ("smx_deputy", "smx_head"):
        assert any(s.startswith("【拒收待处理】") for s in inbox_subjects(api, who)), who
    body = {"unit_id": units[target], "reason": "经核实属该县区", "version": declined.get_json()["version"]}
    moved = api.post(f"/tasks/{task['id']}/reassign", "smx_deputy", json=body)
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["unit_id"], moved.get_json()["receipt"]) == (units[target], "pending")
    assert any(s.startswith("【转办】") for s in inbox_subjects(api, f"{target}_handler"))

    at = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for key in SMX_COUNTIES:
        r = api.post("/plans/1/acknowledge", f"{key}_handler")
        assert r.status_code == 200, (key, r.get_json())
        name = api.get("/me", f"{key}_handler").get_json()["full_name"]
        mine = tasks_of(api, "smx_deputy", 1, units[key])
        assert set(r.get_json()["acknowledged"]) == {t["id"] for t in mine}, key
        for t in mine:
            assert (t["receipt"], t["acknowledged_at"]) == ("acknowledged", at), (key, t["id"])
            assert t["acknowledged_by"] == f"{name}（{SMX_COUNTIES[key]}）"
    assert task["id"] in {t["id"] for t in tasks_of(api, "smx_deputy", 1, units[target])}
    kinds = [(e["kind"], e["comment"]) for e in api.get(f"/tasks/{task['id']}/history", "smx_deputy").get_json()]
    assert [k for k, _ in kinds] == ["created", "declined", "reassigned", "acknowledged"]
    assert kinds[1] == ("declined", reason)
    assert kinds[2][1] == f"转办：由{SMX_COUNTIES['lushi']}转至{SMX_COUNTIES[target]}。经核实属该县区"


def test_the_sanmenxia_plan_runs_through_city_county_and_townships(api, app, clock):
    ids = add_tree(api, app)
    report = {"title": "整改方案及台账", "schedule": "6月10日前", "all_units_under": 1}
    assert api.post("/plans/1/obligations", "smx_deputy", json=report).status_code == 201
    every_county_acknowledges(api, clock)
    received = tasks_of(api, "lushi_handler", 1, ids["lushi"])
    first, second = received[0], received[1]

    # a county official may not issue; the county's supervisor answers with its own plan
    body = {
        "title": "卢氏县住建局关于考核评估反馈问题的整改方案",
        "doc_number": "卢建〔2022〕45号",
        "issued_on": "2022-06-08",
        "carry": [
            {"task_id": first["id"], "unit_ids": [ids["gdk"], ids["dg"]], "deadline": "6月18日前"},
            {"task_id": second["id"], "unit_ids": [ids["gdk"]]},
        ],
    }
    assert api.post("/plans/1/answer", "lushi_handler", json=body).status_code == 403
    r = api.post("/plans/1/answer", "lushi_sup", json=body)
    assert r.status_code == 201, r.get_json()
    answer = r.get_json()
    assert (answer["answers_plan_id"], answer["doc_number"], answer["supervised_above"]) == (
        1,
        "卢建〔2022〕45号",
        False,
    )
    aid = answer["id"]
    own = {"nature": "individual", "title": "乡镇危房台账底数不清", "deadline": "6月18日前", "unit_ids": [ids["dg"]]}
    assert api.post(f"/plans/{aid}/problems", "lushi_sup", json=own).status_code == 201
    # a task of another county cannot be answered here
    other = tasks_of(api, "hubin_handler", 1, api.get("/me", "hubin_handler").get_json()["unit_id"])[0]
    bad = own | {"answers_task_id": other["id"]}
    assert api.post(f"/plans/{aid}/problems", "lushi_sup", json=bad).status_code == 422

    gdk = tasks_of(api, "gdk_handler", aid, ids["gdk"])
    dg = tasks_of(api, "dg_handler", aid, ids["dg"])
    assert len(gdk) == 2 and len(dg) == 2
    answering_first = [t for t in gdk + dg if t["problem_title"] == first["problem_title"]]
    assert len(answering_first) == 2

    # the received task waits for the townships: the refusal names what is open
    assert move(api, "lushi_handler", first["id"], "in_progress").status_code == 200
    api.post(f"/tasks/{first['id']}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "a.png")})
    refused = move(api, "lushi_handler", first["id"], "rectified", "已部署乡镇整改")
    assert refused.status_code == 409
    message = refused.get_json()["message"]
    assert "卢建〔2022〕45号 第1项" in message and TOWNS["gdk"] in message and TOWNS["dg"] in message

    # the city reads the county's plan and its townships' tasks, and acts on none of them
    assert api.get(f"/plans/{aid}", "smx_deputy").status_code == 200
    for t in answering_first:
        rectify(api, "gdk_handler" if t["unit_id"] == ids["gdk"] else "dg_handler", t["id"])
        assert move(api, "smx_deputy", t["id"], "verified").status_code == 403
    # rectified below is not yet checked: still refused, naming only what is left
    assert move(api, "lushi_handler", first["id"], "rectified", "已部署乡镇整改").status_code == 409
    check(api, "lushi_sup", "lushi_sup", answering_first[0]["id"])
    still = move(api, "lushi_handler", first["id"], "rectified", "已部署乡镇整改").get_json()["message"]
    town_left = TOWNS["dg"] if answering_first[1]["unit_id"] == ids["dg"] else TOWNS["gdk"]
    assert town_left in still and "已整改" in still
    assert move(api, "lushi_sup", answering_first[1]["id"], "verified").status_code == 200
    done = move(api, "lushi_handler", first["id"], "rectified", "乡镇整改均已核实")
    assert done.status_code == 200, done.get_json()
    assert api.get(f"/tasks/{first['id']}/answers", "smx_deputy").get_json()[0]["done"] is True

    # the city sees township-level progress below its plan
    below = api.get("/plans/1/below", "smx_deputy").get_json()
    assert [b["unit_name"] for b in below] == [SMX_COUNTIES["lushi"]] and below[0]["depth"] == 1
    fig = below[0]["figures"]
    assert fig["total"] == 4 and fig["by_state"]["closed"] == 1 and fig["by_state"]["verified"] == 1
    rows = {p["title"]: p for p in below[0]["problems"]}
    assert {t["unit_name"] for t in rows[first["problem_title"]]["tasks"]} == set(TOWNS.values())
    assert rows[first["problem_title"]]["answers_task_id"] == first["id"]
    # …and in the ledger export of its own plan: the sub-level column
    ledger = api.get("/plans/1/ledger.xlsx", "smx_deputy")
    assert ledger.status_code == 200
    sheet = load_workbook(io.BytesIO(ledger.data)).active
    cells = [str(c.value or "") for row in sheet.iter_rows() for c in row]
    assert any("卢建〔2022〕45号" in c and TOWNS["gdk"] in c for c in cells)

    # the 6月10日 report is met by the answering plan itself, opened by the city as a plan
    subs = api.get("/plans/1/submissions", "lushi_handler").get_json()
    mine = next(x for x in subs if x["unit_id"] == ids["lushi"])
    form = {"version": str(mine["version"]), "answer_plan_id": str(aid)}
    wrong = api.post(f"/submissions/{mine['id']}/submit", "lushi_handler", data=form | {"answer_plan_id": "1"})
    assert wrong.status_code == 422
    r = api.post(f"/submissions/{mine['id']}/submit", "lushi_handler", data=form)
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["state"], r.get_json()["answer_plan_id"]) == ("submitted", aid)
    assert api.get(f"/plans/{aid}/ledger.xlsx", "smx_deputy").status_code == 200


T0 = datetime(2022, 6, 8, 1, 0, tzinfo=UTC)
A_WEEK_BEFORE = datetime(2022, 6, 13, 1, 0, tzinfo=UTC)  # the look-backs are due by the end of 6月18日


def sweep(app, clock, at: datetime) -> None:
    clock.now = at
    with app.app_context():
        jobs.tick(app.extensions["rectify"], at)


def test_a_closed_task_is_looked_back_at_confirmed_once_and_reopened_once_as_a_rebound(api, app, clock):
    r = api.call("PUT", "/plans/1/policy", "smx_deputy", json={"lookback_days": 10})
    assert r.status_code == 200, r.get_json()
    closed = {}
    for county in ("lushi", "hubin"):
        tid = api.task_of(f"{county}_handler")["id"]
        rectify(api, f"{county}_handler", tid)
        check(api, "smx_deputy", "smx_head", tid)
        closed[county] = tid
    looks = {lb["task_id"]: lb for lb in api.get("/plans/1/lookbacks", "smx_deputy").get_json()}
    assert set(looks) == set(closed.values()) and {lb["state"] for lb in looks.values()} == {"pending"}
    assert looks[closed["lushi"]]["due_at"].startswith("2022-06-18")
    assert api.get("/plans/1/lookbacks", "lushi_handler").get_json()[0]["task_id"] == closed["lushi"]

    # a week ahead it is in the supervisor's queue (not the unit's), and the sweep reminds it
    rt = app.extensions["rectify"]
    with app.app_context():
        deputy = rt.db.session().scalar(select(User).where(User.username == "smx_deputy"))
        lushi = rt.db.session().scalar(select(User).where(User.username == "lushi_handler"))
        assert queue.counts(rt.db, deputy, T0)["lookbacks"] == 0  # ten days ahead: not yet
        assert queue.counts(rt.db, deputy, A_WEEK_BEFORE)["lookbacks"] == 2
        assert "lookbacks" not in queue.counts(rt.db, lushi, A_WEEK_BEFORE)
    sweep(app, clock, datetime(2022, 6, 17, 1, 5, tzinfo=UTC))  # Friday 09:05, the day before
    with app.app_context():
        rows = rt.db.session().scalars(select(Notification).where(Notification.item_type == "lookback")).all()
        assert rows and {r.recipient.unit_id for r in rows if r.recipient} == {deputy.unit_id}
    # nobody looked back in time: it climbs the ladder, once
    late = datetime(2022, 6, 24, 1, 5, tzinfo=UTC)
    sweep(app, clock, late)
    sweep(app, clock, late + timedelta(minutes=5))
    levels = {lb["task_id"]: lb["escalation_level"] for lb in api.get("/plans/1/lookbacks", "smx_deputy").get_json()}
    assert levels[closed["lushi"]] >= 1
    with app.app_context():
        steps = rt.db.session().scalars(
            select(Notification.key).where(Notification.item_type == "lookback", Notification.kind == "escalate")
        )
        keys = list(steps)
        assert keys and len(keys) == len(set(keys))

    ok = looks[closed["lushi"]]
    body = {"confirmed": True, "comment": "现场复核，整改到位", "version": ok["version"]}
    assert api.post(f"/lookbacks/{ok['id']}/result", "lushi_handler", json=body).status_code == 403
    r = api.post(f"/lookbacks/{ok['id']}/result", "smx_deputy", json=body)
    assert r.status_code == 200 and r.get_json()["state"] == "passed"
    assert api.post(f"/lookbacks/{ok['id']}/result", "smx_deputy", json=body).status_code == 409
    assert api.get(f"/tasks/{closed['lushi']}", "smx_deputy").get_json()["state"] == "closed"

    back = looks[closed["hubin"]]
    body = {"confirmed": False, "comment": "", "version": back["version"]}
    assert api.post(f"/lookbacks/{back['id']}/result", "smx_deputy", json=body).status_code == 422
    body["comment"] = "回访发现农户又搬回危房居住"
    r = api.post(f"/lookbacks/{back['id']}/result", "smx_deputy", json=body)
    assert r.status_code == 200 and r.get_json()["state"] == "failed"
    task = api.get(f"/tasks/{closed['hubin']}", "hubin_handler").get_json()
    assert task["state"] == "in_progress"
    last = api.get(f"/tasks/{closed['hubin']}/history", "hubin_handler").get_json()[-1]
    assert "问题反弹" in last["comment"] and last["data"]["rebound"] is True

    figures = api.get("/plans/1", "smx_deputy").get_json()["figures"]
    assert figures["rebounds"] == 1 and figures["by_state"]["closed"] == 1
    assert api.get("/plans/1", "lushi_handler").get_json()["figures"]["rebounds"] == 0
    with app.app_context():
        assert queue.counts(rt.db, deputy, clock.now)["lookbacks"] == 0
        told = rt.db.session().scalars(
            select(Notification.step).where(Notification.channel == "inbox", Notification.kind == "event")
        )
        steps = set(told)
    assert any(":lookback_confirmed" in s or s.endswith("lookback_confirmed") for s in steps)
    assert any("rebound" in s for s in steps)


def test_a_task_reopened_before_its_look_back_silences_it_and_its_next_closure_schedules_a_new_one(api, app, clock):
    assert api.call("PUT", "/plans/1/policy", "smx_deputy", json={"lookback_days": 10}).status_code == 200
    tid = api.task_of("lushi_handler")["id"]
    rectify(api, "lushi_handler", tid)
    check(api, "smx_deputy", "smx_head", tid)
    [first] = api.get("/plans/1/lookbacks", "smx_deputy").get_json()
    assert move(api, "smx_deputy", tid, "in_progress", "群众反映问题未解决，重新整改").status_code == 200
    rt = app.extensions["rectify"]
    with app.app_context():
        deputy = rt.db.session().scalar(select(User).where(User.username == "smx_deputy"))
        assert queue.counts(rt.db, deputy, A_WEEK_BEFORE)["lookbacks"] == 0
    body = {"confirmed": True, "comment": "", "version": first["version"]}
    refused = api.post(f"/lookbacks/{first['id']}/result", "smx_deputy", json=body)
    assert refused.status_code == 409 and "重新打开" in refused.get_json()["message"]
    sweep(app, clock, datetime(2022, 6, 17, 1, 5, tzinfo=UTC))  # the day before it was due: nothing asks for it
    with app.app_context():
        rows = rt.db.session().scalars(select(Notification).where(Notification.item_type == "lookback")).all()
        assert all(r.status == "cancelled" for r in rows if r.item_id == first["id"] and r.kind != "event")
        assert not [r for r in rows if r.item_id == first["id"] and r.status == "sent"]
    again = api.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "again.png")})
    assert again.status_code == 201
    assert move(api, "lushi_handler", tid, "rectified", "重新整改完成").status_code == 200
    check(api, "smx_deputy", "smx_head", tid)
    states = sorted(lb["state"] for lb in api.get("/plans/1/lookbacks", "smx_deputy").get_json())
    assert states == ["pending", "pending"]
    with app.app_context():
        assert queue.counts(rt.db, deputy, clock.now + timedelta(days=4))["lookbacks"] == 1
