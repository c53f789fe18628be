"""Editing a problem (编辑问题) from its page and over the API, with the rules of adding one:
its words, category, nature, measures, deadline and responsible units. Its tasks follow:
a unit added gets a task (and hears of it), a unit left out has its task withdrawn with the
reason (and hears of that), a new deadline is counted again into each open task's history,
except a task an approved extension moved and a closed one. Two editors: the second, who
read an older version, is refused with 409 and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.demo import SMX_COUNTIES, YZ_TOWNS
from app.models import Notification, Task, TaskEvent, User
from tests.integration.test_authoring_pages import flashes, follow, unit_id
from tests.integration.test_web_security import Browser, text
from tests.integration.test_withdraw_problem import close, count, problem_for

pytestmark = pytest.mark.presigned

REASON = "该区已纳入市本级统一整改"


def form_of(api, pid: int, units: list[str], **fields) -> dict:
    """The edit form as a person would leave it: the problem as read, the units ticked."""
    p = api.get(f"/problems/{pid}", "smx_deputy").get_json()
    ticked = [str(unit_id(api, SMX_COUNTIES[k])) for k in units]
    form = {k: p[k] for k in ("title", "category", "nature", "description", "source", "measures", "remarks")}
    return (
        form
        | {"deadline": p["deadline_text"], "target": "some", "unit_ids": ticked, "version": str(p["version"])}
        | fields
    )


def as_json(form: dict) -> dict:
    """The same edit as the API takes it."""
    body = {k: v for k, v in form.items() if k not in ("target", "unit_ids", "version")}
    return body | {"unit_ids": [int(u) for u in form["unit_ids"]], "version": int(form["version"])}


def task_of(app, pid: int, unit: str) -> Task:
    with app.app_context():
        s = app.extensions["rectify"].db.session()
        found = s.scalar(
            select(Task).join(Task.unit).where(Task.problem_id == pid, Task.unit.has(name=SMX_COUNTIES[unit]))
        )
        s.expunge_all()
        return found


def history(api, tid: int) -> list[dict]:
    return api.get(f"/tasks/{tid}/history", "smx_deputy").get_json()


def inbox_kinds(app, username: str) -> list[str]:
    with app.app_context():
        s = app.extensions["rectify"].db.session()
        uid = s.scalar(select(User.id).where(User.username == username))
        q = select(Notification.step).where(Notification.recipient_id == uid, Notification.channel == "inbox")
        return [step.removeprefix("event:") for step in s.scalars(q)]


def test_a_supervisor_edits_a_problem_and_its_tasks_follow_added_withdrawn_and_redated(app, api):
    pid, tasks = problem_for(api, ["lushi", "lingbao", "hubin", "mianchi"], deadline="6月30日前")
    close(api, tasks["mianchi"], "mianchi_handler")
    asked = api.post(
        f"/tasks/{tasks['lushi']}/extensions", "lushi_deputy", json={"deadline": "8月31日", "reason": "雨季"}
    )
    decided = api.post(f"/extensions/{asked.get_json()['id']}/decision", "smx_head", json={"approve": True})
    assert decided.status_code == 200, decided.get_json()
    deputy = Browser(app, "smx_deputy")
    page = text(deputy.get(f"/problems/{pid}"))
    assert f'href="/problems/{pid}/edit"' in page
    form = text(deputy.get(f"/problems/{pid}/edit"))
    assert 'value="档案资料不规范"' in form and 'name="version" value="1"' in form
    for k in ("lushi", "lingbao", "hubin", "mianchi"):  # the present units come ticked
        assert f'value="{unit_id(api, SMX_COUNTIES[k])}" checked' in form

    edited = form_of(
        api,
        pid,
        ["lushi", "lingbao", "mianchi", "shanzhou"],  # 湖滨区 left out, 陕州区 added
        title="危房改造档案资料不规范、不完整",
        category="工作落实方面",
        nature="individual",
        measures="逐户核对档案，7月10日前补齐缺失资料",
        deadline="7月15日前",
        reason=REASON,
    )
    done = follow(deputy, deputy.post(f"/problems/{pid}/edit", edited))
    assert "新增 1 项任务，撤销 1 项，1 项任务的整改时限随之调整" in " ".join(flashes(done))

    p = api.get(f"/problems/{pid}", "smx_deputy").get_json()
    assert (p["title"], p["nature"], p["measures"], p["deadline_text"], p["version"]) == (
        "危房改造档案资料不规范、不完整",
        "individual",
        "逐户核对档案，7月10日前补齐缺失资料",
        "7月15日前",
        2,
    )
    hubin = task_of(app, pid, "hubin")
    assert hubin.state == "withdrawn" and history(api, hubin.id)[-1]["comment"] == REASON
    added = task_of(app, pid, "shanzhou")
    assert added.state == "identified" and added.deadline_text == "7月15日前"
    lingbao = history(api, tasks["lingbao"])[-1]
    assert lingbao["kind"] == "deadline_changed" and "由「6月30日前」改为「7月15日前」" in lingbao["comment"]
    assert api.get(f"/tasks/{tasks['lingbao']}", "smx_deputy").get_json()["due_at"].startswith("2022-07-15")
    lushi = api.get(f"/tasks/{tasks['lushi']}", "smx_deputy").get_json()
    assert lushi["deadline_text"] == "8月31日", "an approved extension keeps its deadline"
    assert task_of(app, pid, "mianchi").state == "closed", "a closed task stays as it was"
    assert "assigned" in inbox_kinds(app, "shanzhou_handler") and "withdrawn" in inbox_kinds(app, "hubin_handler")
    shown = text(deputy.get(f"/tasks/{tasks['lingbao']}"))
    assert "整改时限修改" in shown and "7月15日前" in shown


def test_an_edit_is_held_to_the_rules_of_adding_a_problem_and_a_refused_one_writes_nothing(app, api):
    pid, tasks = problem_for(api, ["lushi", "mianchi"], deadline="6月30日前")
    close(api, tasks["mianchi"], "mianchi_handler")
    deputy = Browser(app, "smx_deputy")
    before = count(app, TaskEvent), count(app, Task)

    def refused(**fields) -> str:
        r = deputy.post(f"/problems/{pid}/edit", form_of(api, pid, ["lushi", "mianchi"]) | fields)
        assert r.status_code == 302 and r.headers["Location"].endswith(f"/problems/{pid}/edit")
        return " ".join(flashes(deputy.get(r.headers["Location"])))

    assert "无法识别的整改时限「下个月吧」。可接受的写法" in refused(deadline="下个月吧")
    assert "已销号，不能移出责任单位" in refused(unit_ids=[str(unit_id(api, SMX_COUNTIES["lushi"]))], reason=REASON)
    town = str(unit_id(api, YZ_TOWNS["gucheng"]))
    assert "不在方案下发单位" in refused(unit_ids=[town])
    ticked = [str(unit_id(api, SMX_COUNTIES[k])) for k in ("mianchi",)]
    assert api.get(f"/problems/{pid}", "smx_deputy").get_json()["version"] == 1
    assert "请填写撤销理由" in refused(unit_ids=[*ticked, str(unit_id(api, SMX_COUNTIES["hubin"]))], reason="")
    assert (count(app, TaskEvent), count(app, Task)) == before
    assert api.get(f"/problems/{pid}", "smx_deputy").get_json()["version"] == 1

    # the unit itself and another city may not edit
    assert (
        api.call(
            "PUT", f"/problems/{pid}", "lushi_head", json=as_json(form_of(api, pid, ["lushi", "mianchi"]))
        ).status_code
        == 403
    )
    assert Browser(app, "yz_deputy").get(f"/problems/{pid}/edit").status_code == 404


def test_of_two_editors_who_read_the_same_version_the_second_gets_409_and_changes_nothing(app, api):
    pid, _tasks = problem_for(api, ["lushi"], deadline="6月30日前")
    first = form_of(api, pid, ["lushi"], measures="第一位修改的措施")
    second = form_of(api, pid, ["lushi"], measures="第二位修改的措施")
    body = as_json(first)
    r = api.call("PUT", f"/problems/{pid}", "smx_deputy", json=body)
    assert r.status_code == 200 and r.get_json()["version"] == 2, r.get_json()

    stale = body | {"measures": "第二位修改的措施"}
    r = api.call("PUT", f"/problems/{pid}", "smx_head", json=stale)
    assert r.status_code == 409 and "已被他人修改" in r.get_json()["message"]
    page = Browser(app, "smx_head")
    done = page.get(page.post(f"/problems/{pid}/edit", second).headers["Location"])
    assert "问题已被他人修改，请刷新后查看最新内容再修改" in " ".join(flashes(done))
    assert 'name="version" value="2"' in text(done), "the form now names the version to edit"
    assert api.get(f"/problems/{pid}", "smx_deputy").get_json()["measures"] == "第一位修改的措施"


def test_the_task_page_leaves_out_the_headings_of_a_problems_empty_columns(app, api):
    pid, tasks = problem_for(api, ["lushi"])  # a title alone, as many ledgers give it
    official = Browser(app, "lushi_handler")
    page = text(official.get(f"/tasks/{tasks['lushi']}"))
    assert "档案资料不规范" in page and "问题描述" not in page and "整改措施" not in page
    deputy = Browser(app, "smx_deputy")
    edited = form_of(api, pid, ["lushi"], measures="逐户核对档案，补齐缺失资料")
    follow(deputy, deputy.post(f"/problems/{pid}/edit", edited))
    page = text(official.get(f"/tasks/{tasks['lushi']}"))
    assert "<dt>整改措施</dt>" in page and "逐户核对档案，补齐缺失资料" in page and "问题描述" not in page
