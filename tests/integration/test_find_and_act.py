"""Find and act on many: a keyword over problems, measures, rectification accounts and unit
names (Chinese, on both databases, with % and _ taken literally), and verify, close, 催办 or
export a selection from the list, each task through its own guards, with a result for each.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from app.demo import SMX_COUNTIES
from app.models import Task, TaskEvent
from app.services import keyword as keyword_service
from app.services import tasks as tasks_service
from tests.integration.test_my_work import PNG, lushi_tasks, move, rectify
from tests.integration.test_web_security import Browser, World, text

pytestmark = pytest.mark.presigned


@pytest.fixture
def world(app, api, clock) -> World:
    return World(app, api, clock)


def search(world: World, who: str, q: str, **more) -> list[dict]:
    r = world.api.get("/tasks", who, query_string={"q": q, "per_page": 200} | more)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def add_problem(world: World, title: str, measures: str = "", unit: str = "lushi") -> int:
    body = {
        "nature": "individual",
        "title": title,
        "measures": measures,
        "deadline": "6月30日",
        "unit_ids": [world.unit_id(SMX_COUNTIES[unit])],
    }
    r = world.api.post("/plans/1/problems", "smx_deputy", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def task_ids(items: list[dict]) -> set[int]:
    return {t["id"] for t in items}


def test_a_two_character_chinese_keyword_finds_tasks_by_problem_measures_account_and_unit(world):
    p1 = add_problem(world, "村道护栏缺失", measures="增设波形护栏")
    p2 = add_problem(world, "危房改造档案不全", measures="补齐鉴定报告")
    by_title = search(world, "smx_deputy", "护栏")
    assert {t["problem_id"] for t in by_title} >= {p1} and p2 not in {t["problem_id"] for t in by_title}
    assert p2 in {t["problem_id"] for t in search(world, "smx_deputy", "鉴定报告")}, "the measures are searched"

    task = next(t["id"] for t in lushi_tasks(world) if t["problem_id"] == p2)
    rectify(world, task)  # its account: 已更换破损护栏并复查
    assert task in task_ids(search(world, "smx_deputy", "破损护栏")), "the rectification account is searched"

    lushi = search(world, "smx_deputy", "卢氏")
    assert lushi and {t["unit_name"] for t in lushi} == {SMX_COUNTIES["lushi"]}, "the unit's name is searched"
    assert search(world, "hubin_handler", "卢氏") == [], "a keyword never reaches past what one may see"
    both = search(world, "smx_deputy", "护栏", state="rectified")
    assert task_ids(both) == {task}, "the keyword is one more filter, with the others"


def test_a_rare_word_in_one_units_account_finds_that_task_alone_by_either_path(world, monkeypatch):
    """A word few tasks match is looked up by id first; a common one keeps the subqueries.
    Both give the same tasks, for rare and common words, accounts, problems and units."""
    task = lushi_tasks(world)[3]["id"]
    rectify(world, task)  # its account: 已更换破损护栏并复查
    p = add_problem(world, "农村供水设施老化", measures="更换破损护栏管网", unit="hubin")
    words = ("破损护栏并复查", "破损护栏", "护栏", "供水设施", "卢氏", "三门峡", "改造", "不存在的词")
    by_id = {w: task_ids(search(world, "smx_deputy", w)) for w in words}
    assert by_id["破损护栏并复查"] == {task}, "the rare word is in that one account only"
    assert task in by_id["破损护栏"] and {t["problem_id"] for t in search(world, "smx_deputy", "破损护栏")} >= {p}
    assert by_id["不存在的词"] == set() and by_id["改造"], by_id
    monkeypatch.setattr(keyword_service, "KEYWORD_IDS", 0)  # every word takes the subqueries' path
    assert {w: task_ids(search(world, "smx_deputy", w)) for w in words} == by_id
    hubin_sees = task_ids(search(world, "hubin_handler", ""))
    assert task_ids(search(world, "hubin_handler", "破损护栏")) == hubin_sees & by_id["破损护栏"]


def test_percent_and_underscore_in_a_keyword_are_taken_literally(world):
    p = add_problem(world, "完成率不足100%的_整改项")
    assert {t["problem_id"] for t in search(world, "smx_deputy", "100%")} == {p}
    assert {t["problem_id"] for t in search(world, "smx_deputy", "%")} == {p}
    assert {t["problem_id"] for t in search(world, "smx_deputy", "_")} == {p}
    assert search(world, "smx_deputy", "100%的_整") and not search(world, "smx_deputy", "1_0")


def test_a_backslash_and_a_double_quote_in_a_keyword_are_taken_literally(world):
    p = add_problem(world, '档案路径D:\\台账\\2022及"回头看"记录')
    assert {t["problem_id"] for t in search(world, "smx_deputy", "\\")} == {p}
    assert {t["problem_id"] for t in search(world, "smx_deputy", "\\台账\\")} == {p}
    assert {t["problem_id"] for t in search(world, "smx_deputy", '"')} == {p}
    assert {t["problem_id"] for t in search(world, "smx_deputy", '"回头看"')} == {p}
    assert not search(world, "smx_deputy", "D:台账") and not search(world, "smx_deputy", '"回头看""')


def test_latin_letters_match_in_either_case_and_one_chinese_character_is_a_keyword(world):
    p = add_problem(world, "LED路灯损坏未修复", measures="更换PVC管道")
    task = next(t["id"] for t in lushi_tasks(world) if t["problem_id"] == p)
    move(world, "lushi_handler", task, "in_progress")
    rectify_with = "已联系Sanmenxia供电公司复核线路"
    world.api.post(f"/tasks/{task}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "现场.png")})
    move(world, "lushi_handler", task, "rectified", rectify_with)
    for word in ("led", "Led路灯", "pvc管", "PvC", "pV", "e", "sanMENXIA", "SANMENXIA供电"):
        assert task in task_ids(search(world, "smx_deputy", word)), word
    assert not search(world, "smx_deputy", "LED路灯修复"), "a substring, not words in any order"
    one = task_ids(search(world, "smx_deputy", "灯"))  # a single character: 路灯
    assert task in one and one == task_ids(search(world, "smx_deputy", "路灯")), one
    every = task_ids(search(world, "smx_deputy", "县"))  # the counties' names, 卢氏县 …
    assert task in every and {t["unit_name"] for t in search(world, "smx_deputy", "县")} >= {SMX_COUNTIES["lushi"]}


def test_an_edited_problem_is_found_by_its_new_words_and_no_longer_by_the_old(world):
    p = add_problem(world, "排水沟堵塞", measures="清淤疏通")
    assert {t["problem_id"] for t in search(world, "smx_deputy", "排水沟")} == {p}
    body = world.api.get(f"/problems/{p}", "smx_deputy").get_json()
    edit = {k: body[k] for k in ("title", "category", "nature", "description", "source", "remarks")}
    edit |= {"title": "雨水管网破损", "measures": "更换管网并闭水试验", "deadline": body["deadline_text"]}
    edit |= {"unit_ids": [world.unit_id(SMX_COUNTIES["lushi"])], "version": body["version"]}
    r = world.api.call("PUT", f"/problems/{p}", "smx_deputy", json=edit)
    assert r.status_code == 200, r.get_json()
    assert not search(world, "smx_deputy", "排水沟") and not search(world, "smx_deputy", "清淤")
    assert {t["problem_id"] for t in search(world, "smx_deputy", "管网")} == {p}
    assert {t["problem_id"] for t in search(world, "smx_deputy", "闭水试验")} == {p}


def test_the_page_of_a_long_list_and_of_a_short_one_give_the_same_tasks_in_the_same_order(world, monkeypatch):
    """A keyword's page is read by its keys and sorted when the count is within the cap; past
    it, its keys are sorted first (ids and keys alone) when they hold few enough tasks, and
    the order's index is walked checking the keys on each row when not: the same rows, on
    one page and page after page."""
    for t in lushi_tasks(world)[:2]:
        rectify(world, t["id"])
    add_problem(world, "破损护栏未修复", measures="更换护栏", unit="hubin")
    words = ("护栏", "卢氏", "县", "三门峡", "破损护栏并复查", "100%")
    sorts = ("due", "-due", "unit", "state", "updated")
    ordered = {(w, o): [t["id"] for t in search(world, "smx_deputy", w, sort=o)] for w in words for o in sorts}
    assert ordered[("护栏", "due")] and ordered[("县", "unit")], ordered
    paged = {o: pages(world, "县", o) for o in sorts}
    assert paged == {o: ordered[("县", o)] for o in sorts}
    monkeypatch.setattr(tasks_service, "COUNT_CAP", 0)  # every list is "long": its keys sorted narrow first
    narrow = {(w, o): [t["id"] for t in search(world, "smx_deputy", w, sort=o)] for w in words for o in sorts}
    assert narrow == ordered and {o: pages(world, "县", o) for o in sorts} == paged
    monkeypatch.setattr(keyword_service, "SORT_ROWS", -1)  # and too many to sort: the walk
    walked = {(w, o): [t["id"] for t in search(world, "smx_deputy", w, sort=o)] for w in words for o in sorts}
    assert walked == ordered and {o: pages(world, "县", o) for o in sorts} == paged


def pages(world: World, q: str, sort: str) -> list[int]:
    """Every task of the keyword, three a page, following each page's next position."""
    found, query = [], {"q": q, "sort": sort, "per_page": 3}
    while True:
        body = world.api.get("/tasks", "smx_deputy", query_string=query).get_json()
        found += [t["id"] for t in body["items"]]
        if not body["next"]:
            return found
        query["after"] = body["next"]


def test_a_keyword_too_long_is_refused_with_a_reason_and_the_page_keeps_what_was_typed(world):
    r = world.api.get("/tasks", "smx_deputy", query_string={"q": "长" * 101})
    assert r.status_code == 422 and "q" in str(r.get_json())
    page = Browser(world.app, "smx_deputy").get("/tasks?q=%E6%8A%A4%E6%A0%8F")  # 护栏
    assert page.status_code == 200 and 'name="q" type="search" value="护栏"' in text(page)


def results(html: str) -> dict[int, str]:
    """Task id -> its line on the result page ("done", or "refused: why")."""
    rows = re.findall(r'<tr data-task="(\d+)" data-done="(yes|no)">(.*?)</tr>', html, re.S)
    out = {}
    for tid, done, cells in rows:
        why = re.sub(r"<[^>]+>|\s+", "", cells.rsplit("<td>", 1)[-1])
        out[int(tid)] = "done" if done == "yes" else why
    return out


def bulk(b: Browser, action: str, picked: dict[int, int | None], **more) -> str:
    form = {"action": action, "task_id": list(picked)}
    form |= {f"version_{t}": str(v) for t, v in picked.items() if v is not None}
    r = b.client.post("/tasks/bulk", data=form | more | {"csrf_token": b.token})
    assert r.status_code == 200, (r.status_code, text(r)[:500])
    return text(r)


def version(world: World, task: int) -> int:
    return world.value(Task.version, Task.id == task)


def test_bulk_verify_does_each_task_it_may_and_says_why_for_every_other(world):
    a, b, c, d = (t["id"] for t in lushi_tasks(world)[:4])
    for t in (a, b, c):
        rectify(world, t)
    stale = version(world, c)
    move(world, "smx_head", c, "in_progress", "先退回补充材料")  # someone acts on c after the list was read
    other_city = world.api.get("/tasks", "yz_deputy").get_json()["items"][0]["id"]
    page = bulk(
        Browser(world.app, "smx_deputy"),
        "verify",
        {a: version(world, a), b: version(world, b), c: stale, d: version(world, d), other_city: 1},
    )
    found = results(page)
    assert found[a] == found[b] == "done"
    assert "已被他人修改" in found[c], found[c]
    assert "挂账" in found[d] and "不能改为" in found[d], "the state table's own refusal"
    assert "不存在或不在您的权限范围内" in found[other_city], "out of sight reads as not found"
    assert "完成 2 项，未办理 3 项" in page
    states = {t: world.value(Task.state, Task.id == t) for t in (a, b, c, d)}
    assert states == {a: "verified", b: "verified", c: "in_progress", d: "identified"}
    assert world.count(TaskEvent, TaskEvent.task_id.in_([a, b]), TaskEvent.to_state == "verified") == 2

    # close both: the head may; an official may not close anything, each refusal says who may
    refused = results(bulk(Browser(world.app, "lushi_head"), "close", {a: version(world, a)}))
    assert "督办人员" in refused[a]
    closed = results(bulk(Browser(world.app, "smx_head"), "close", {a: version(world, a), b: version(world, b)}))
    assert closed == {a: "done", b: "done"}


def test_bulk_urge_urges_the_open_tasks_and_says_why_the_others_were_left(world):
    a, b, c = (t["id"] for t in lushi_tasks(world)[:3])
    rectify(world, c)
    deputy = Browser(world.app, "smx_deputy")
    page = bulk(deputy, "urge", {a: None, b: None, c: None}, comment="请本周内完成")
    found = results(page)
    assert found[a] == found[b] == "done" and "无需催办" in found[c]
    assert "已催办 2 项任务" in page
    again = results(bulk(deputy, "urge", {a: None}))
    assert "每个工作日只能催办一次" in again[a], "the urge's own once-a-day guard"
    assert world.count(TaskEvent, TaskEvent.kind == "urged") == 2


def test_export_of_a_selection_lists_the_picked_tasks_in_order_and_neutralises_formulas(world):
    p = add_problem(world, '=HYPERLINK("http://evil")护栏')
    formula = next(t["id"] for t in lushi_tasks(world) if t["problem_id"] == p)
    first = lushi_tasks(world)[0]["id"]
    other_city = world.api.get("/tasks", "yz_deputy").get_json()["items"][0]["id"]
    b = Browser(world.app, "smx_deputy")
    r = b.client.post(
        "/tasks/bulk",
        data={"action": "export", "task_id": [formula, other_city, first], "csrf_token": b.token},
    )
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    assert rows[0][:4] == ["任务编号", "整改方案", "文号", "问题"]
    assert [row[0] for row in rows[1:-1]] == [str(formula), str(other_city), str(first)]
    assert rows[-1][0].startswith("记录链校验值（SM3）：sm3:") and "2 项任务" in rows[-1][0], "chain head of those seen"
    assert f"--task {min(formula, first)} --task {max(formula, first)}" in rows[-1][0]
    assert rows[1][3].startswith("'="), "a title a spreadsheet would run is neutralised"
    assert rows[2][-1].startswith("未导出") and not any(rows[2][1:-1]), "nothing of an unseen task"
    assert rows[3][5] == SMX_COUNTIES["lushi"]


def test_a_bulk_form_without_a_selection_or_an_action_says_so(world):
    b = Browser(world.app, "smx_deputy")
    r = b.post("/tasks/bulk", {"action": "verify", "next": "/tasks?state=rectified"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/tasks?state=rectified")
    r = b.post("/tasks/bulk", {"action": "delete", "task_id": "1"})
    assert r.status_code == 302
    with b.client.session_transaction() as s:
        said = [m for _, m in s.get("_flashes", [])]
    assert "请先勾选任务。" in said and "请选择要执行的操作。" in said


def test_the_task_list_offers_verify_only_to_whom_it_may_and_export_to_everyone(world):
    task = lushi_tasks(world)[0]["id"]
    rectify(world, task)
    deputy = text(Browser(world.app, "smx_deputy").get("/tasks?state=rectified"))
    assert 'value="verify"' in deputy and f'name="version_{task}"' in deputy
    official = text(Browser(world.app, "lushi_handler").get("/tasks?state=rectified"))
    assert 'value="verify"' not in official and 'value="urge"' not in official
    assert 'value="export"' in official


def test_a_long_unit_filter_comes_with_its_chosen_unit_and_the_rest_from_units_choices(world, monkeypatch):
    """A city's thousand units are not printed into every page of the list: past
    INLINE_UNITS the page carries 全部 and the chosen unit, app.js fills in the rest from
    /units/choices (kept five minutes by the browser), which lists what the reader sees."""
    from app.web import plans as plan_pages

    browser = Browser(world.app, "smx_deputy")
    lushi = world.unit_id(SMX_COUNTIES["lushi"])
    short = text(browser.get("/tasks"))
    assert "data-options" not in short and f'<option value="{lushi}">' in short, "a short list is printed whole"

    monkeypatch.setattr(plan_pages, "INLINE_UNITS", 2)
    page = text(browser.get(f"/tasks?unit_id={lushi}"))
    select = re.search(r'<select name="unit_id" data-options="/units/choices">(.*?)</select>', page, re.S)[1]
    assert re.findall(r'<option value="(\d*)"', select) == ["", str(lushi)], "全部 and the chosen unit only"
    assert f'<option value="{lushi}" selected>{SMX_COUNTIES["lushi"]}</option>' in select
    assert not re.findall(
        r'<option value="\d+"', text(browser.get("/tasks")).split('name="unit_id"')[1].split("</select>")[0]
    )

    r = browser.get("/units/choices")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, max-age=300"
    assert r.headers["Vary"] == "Cookie", "kept per signed-in session, not for the next person at the desk"
    seen = {name for _, name in r.get_json()}
    assert SMX_COUNTIES["lushi"] in seen and len(seen) > 2
    county = {name for _, name in Browser(world.app, "lushi_handler").get("/units/choices").get_json()}
    assert SMX_COUNTIES["lushi"] in county and county < seen, "a county sees its own units, not the city's"
