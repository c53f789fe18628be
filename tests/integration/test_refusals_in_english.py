"""A refusal reads in the language of the page: switched to English, a refused form, the
error page and the sign-in say why in English, with the values (a deadline as typed, a
state's name) filled in; in Chinese they read as before. The API answers in English when
the request's Accept-Language prefers it, in Chinese otherwise."""

from __future__ import annotations

import html
import re

import pytest

from app.demo import SMX_COUNTIES
from tests.integration.test_authoring_pages import flashes, follow, unit_id
from tests.integration.test_web_security import Browser, text

pytestmark = pytest.mark.presigned
CJK = re.compile(r"[\u3400-\u9fff]")


def english(app, username: str) -> Browser:
    b = Browser(app, username)
    b.get("/lang/en")
    return b


def test_a_refused_form_says_why_in_english_with_the_typed_deadline_in_it(app, api):
    city = english(app, "smx_deputy")
    lushi = unit_id(api, SMX_COUNTIES["lushi"])
    form = {
        "title": "档案不全",
        "nature": "individual",
        "deadline": "下个月吧",
        "target": "some",
        "unit_ids": str(lushi),
    }
    shown = follow(city, city.post("/plans/1/problems/new", form))
    said = flashes(shown)
    assert any(s.startswith("The deadline “下个月吧” cannot be read. Forms understood:") for s in said), said
    assert not re.search(r'<p class="flash[^>]*lang=', text(shown)), "no longer marked as Chinese"

    chinese = Browser(app, "smx_deputy")
    said = flashes(follow(chinese, chinese.post("/plans/1/problems/new", form)))
    assert any(s.startswith("无法识别的整改时限「下个月吧」。可接受的写法：") for s in said), said


def test_a_state_tables_refusal_names_the_step_and_the_state_in_english(app, api):
    task = api.get("/tasks", "lushi_handler", query_string={"plan_id": 1}).get_json()["items"][0]
    official = english(app, "lushi_handler")
    body = {"to": "rectified", "comment": "", "version": str(task["version"])}
    said = " ".join(flashes(follow(official, official.post(f"/tasks/{task['id']}/transition", body))))
    assert "“Identified” and cannot move to rectified" in said or "cannot move to rectified" in said, said
    assert not CJK.search(said.split("It can move to:")[0]), said


def test_the_error_page_and_the_sign_in_say_why_in_english(app):
    official = english(app, "lushi_handler")
    page = official.get("/plans/1/edit")
    assert page.status_code == 403
    assert "Only the supervisors of the plan's issuing unit may edit the plan." in html.unescape(text(page))
    visitor = Browser(app)
    visitor.get("/lang/en")
    r = visitor.post("/login", {"username": "lushi_handler", "password": "not-the-password"})
    assert r.status_code == 401 and "Wrong username or password." in text(r)


def test_the_api_answers_in_english_when_the_request_prefers_it_and_in_chinese_otherwise(api):
    body = {"nature": "individual", "title": "档案不全", "deadline": "下个月吧", "unit_ids": [1]}
    en = api.post("/plans/1/problems", "smx_deputy", json=body, headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    zh = api.post("/plans/1/problems", "smx_deputy", json=body)
    assert en.status_code == zh.status_code == 422
    assert en.get_json()["message"].startswith("The deadline “下个月吧” cannot be read.")
    assert zh.get_json()["message"].startswith("无法识别的整改时限「下个月吧」")
