"""Input beyond what the database holds or a person types is refused with a message, on
both databases: integers past PostgreSQL's ``integer`` in URLs, query strings, JSON and
forms; NUL and other control characters anywhere a request carries text (before sign-in
too). Never a 500, and nothing is written."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from app.demo import DEMO_PASSWORD, SMX_COUNTIES
from app.models import Plan, Problem, Task, Unit, User
from app.services.auth import start_session

pytestmark = pytest.mark.presigned  # not about signing in: tokens minted up front

HUGE = "99999999999999999999"
TOO_BIG = [2**31, 2**63, 2**70]
CONTROLS = ["\x00", "\x1b", "\x7f", "\u202e"]


def assert_refused(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.data[:300])
    body = r.get_json()
    assert body["error"] and body["message"], body
    return body


def count(app, model) -> int:
    with app.app_context():
        return app.extensions["rectify"].db.session().scalar(select(func.count()).select_from(model))


def lushi(api) -> int:
    return next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == SMX_COUNTIES["lushi"])


# ---- integers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/tasks/{HUGE}",
        f"/tasks/{2**31}",
        f"/tasks/{HUGE}/history",
        f"/plans/{HUGE}",
        f"/problems/{HUGE}",
        f"/units/{HUGE}",
        f"/evidence/{HUGE}/content",
        f"/plans/{HUGE}/ledger/imports/abc",
    ],
)
def test_an_id_in_the_url_beyond_the_database_range_is_a_404(api, path):
    assert_refused(api.get(path, "admin"), 404)


def test_a_write_to_an_id_beyond_the_range_is_a_404_not_a_405(api):
    body = {"nature": "individual", "title": "x", "deadline": "6月20日", "unit_ids": [1]}
    assert_refused(api.post(f"/plans/{HUGE}/problems", "smx_deputy", json=body), 404)
    assert_refused(
        api.post(f"/tasks/{HUGE}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1}), 404
    )


def test_the_largest_id_the_database_holds_is_an_ordinary_404(api):
    assert_refused(api.get(f"/tasks/{2**31 - 1}", "admin"), 404)


@pytest.mark.parametrize("name", ["page", "plan_id", "unit_id"])
@pytest.mark.parametrize("value", [HUGE, str(2**31)])
def test_a_query_number_beyond_the_range_is_a_422_naming_it(api, name, value):
    body = assert_refused(api.get("/tasks", "admin", query_string={name: value}), 422)
    assert name in body["message"]


@pytest.mark.parametrize("big", TOO_BIG)
def test_unit_ids_beyond_the_range_are_a_422_and_no_problem_is_added(api, app, big):
    before = count(app, Problem)
    body = {"nature": "individual", "title": "x", "deadline": "6月20日", "unit_ids": [big]}
    assert "unit_ids.0" in assert_refused(api.post("/plans/1/problems", "smx_deputy", json=body), 422)["message"]
    body = {"nature": "common", "title": "x", "deadline": "6月20日", "all_units_under": big}
    assert_refused(api.post("/plans/1/problems", "smx_deputy", json=body), 422)
    body = {"nature": "individual", "title": "x", "deadline": "6月20日", "unit_ids": [lushi(api)], "seq": big}
    assert_refused(api.post("/plans/1/problems", "smx_deputy", json=body), 422)
    assert count(app, Problem) == before


@pytest.mark.parametrize("big", TOO_BIG)
def test_a_reminder_policy_with_a_number_of_days_beyond_the_range_is_a_422_and_the_policy_stays(api, app, big):
    before = api.get("/plans/1/policy", "smx_deputy").get_json()
    for body in ({"level2_after_workdays": big}, {"nag_every_workdays": -big}, {"remind_days_before": [7, big]}):
        field = next(iter(body))
        assert field in assert_refused(api.call("PUT", "/plans/1/policy", "smx_deputy", json=body), 422)["message"]
    assert api.get("/plans/1/policy", "smx_deputy").get_json() == before


@pytest.mark.parametrize("big", TOO_BIG)
def test_a_version_or_parent_beyond_the_range_is_a_422(api, app, big):
    t = api.task_of("lushi_handler")
    units = count(app, Unit)
    r = api.post(f"/tasks/{t['id']}/transitions", "lushi_handler", json={"to": "in_progress", "version": big})
    assert_refused(r, 422)
    assert_refused(api.post("/units", "admin", json={"name": "新单位", "parent_id": big}), 422)
    r = api.post("/submissions/1/submit", "lushi_handler", data={"note": "x", "version": str(big)})
    assert_refused(r, 422)
    assert count(app, Unit) == units
    assert api.get(f"/tasks/{t['id']}", "admin").get_json()["version"] == t["version"]


def _browser(app, username: str):
    """A browser signed in as ``username``, with its CSRF token."""
    client = app.test_client()
    with app.app_context():
        rt = app.extensions["rectify"]
        user = rt.db.session().scalar(select(User).where(User.username == username))
        sid = start_session(rt.db, user, rt.clock())
    with client.session_transaction() as s:
        s["sid"], s["csrf"] = sid, "t"
    return client


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/admin/units", {"name": "新单位", "parent_id": HUGE}),
        ("/admin/users", {"username": "u1", "password": "longenough", "unit_id": HUGE, "role": "viewer"}),
        ("/plans/1/spot-checks", {"size": HUGE, "seed": HUGE}),
        ("/inbox/read", {"id": HUGE}),
        ("/extensions/1/decision", {"task_id": HUGE, "approve": "1"}),
    ],
)
def test_a_form_number_beyond_the_range_is_refused_without_an_error(app, path, form):
    who = "admin" if path.startswith("/admin") else "smx_deputy"
    r = _browser(app, who).post(path, data=form | {"csrf_token": "t"})
    assert r.status_code in (302, 404, 422), (r.status_code, r.data[:300])


def test_a_page_number_beyond_the_range_on_the_task_list_is_refused(app):
    r = _browser(app, "smx_deputy").get("/tasks", query_string={"page": HUGE})
    assert r.status_code in (200, 422) and b"Traceback" not in r.data
    assert _browser(app, "smx_deputy").get(f"/tasks/{HUGE}").status_code == 404


# ---- control characters ------------------------------------------------------------------------


@pytest.mark.parametrize("char", CONTROLS)
def test_a_control_character_in_the_sign_in_request_is_a_422_before_any_sign_in(api, char):
    for body in ({"username": f"lushi{char}handler", "password": DEMO_PASSWORD}, {"username": "x", "password": char}):
        r = api.client.post("/api/v1/auth/token", json=body)
        assert "控制字符" in assert_refused(r, 422)["message"]


@pytest.mark.parametrize("char", CONTROLS)
def test_a_control_character_in_a_json_field_is_a_422_naming_the_field(api, app, char):
    before = count(app, Plan)
    body = assert_refused(
        api.post("/plans", "smx_deputy", json={"title": f"方案{char}", "issued_on": "2022-06-07"}), 422
    )
    assert "title" in body["message"] and "控制字符" in body["message"]
    r = api.post(
        "/plans",
        "smx_deputy",
        json={"title": "t", "issued_on": "2022-06-07", "phases": [{"name": char * 2, "deadline": "6月底"}]},
    )
    assert "phases.0.name" in assert_refused(r, 422)["message"]
    assert count(app, Plan) == before


def test_a_control_character_in_a_query_string_path_or_file_name_is_a_422(api, app):
    assert "category" in assert_refused(api.get("/tasks", "admin", query_string={"category": "a\x00"}), 422)["message"]
    assert_refused(api.get("/plans/1/ledger/imports/ab%00cd", "smx_deputy"), 422)
    t = api.task_of("lushi_handler")
    before = count(app, Task)
    r = api.post(f"/tasks/{t['id']}/evidence", "lushi_handler", data={"file": (io.BytesIO(b"%PDF-1.4\n"), "a\x00.pdf")})
    assert "file" in assert_refused(r, 422)["message"]
    assert api.get(f"/tasks/{t['id']}/evidence", "lushi_handler").get_json() == []
    assert count(app, Task) == before


def test_ordinary_tabs_and_line_breaks_in_text_are_kept(api):
    t = api.task_of("lushi_handler")
    r = api.post(
        f"/tasks/{t['id']}/transitions",
        "lushi_handler",
        json={"to": "in_progress", "comment": "一\t二\r\n三", "version": 1},
    )
    assert r.status_code == 200, r.get_json()
    assert api.get(f"/tasks/{t['id']}/history", "lushi_handler").get_json()[-1]["comment"] == "一\t二\r\n三"


def test_a_control_character_in_the_login_form_is_refused_with_a_message(app):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    r = client.post("/login", data={"username": "lushi\x00handler", "password": DEMO_PASSWORD, "csrf_token": token})
    assert r.status_code == 422 and "控制字符" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/admin/units", {"name": "新\x00单位"}),
        ("/tasks/1/extensions", {"deadline": "8月31日", "reason": "原因\x00"}),
        ("/submissions/1/submit", {"note": "报告\x1b", "version": "1"}),
    ],
)
def test_a_control_character_in_any_form_is_refused_with_a_message_and_nothing_changes(app, path, form):
    before = (count(app, Unit), count(app, Task))
    who = "admin" if path.startswith("/admin") else "lushi_handler"
    r = _browser(app, who).post(path, data=form | {"csrf_token": "t"})
    assert r.status_code == 422 and "控制字符" in r.get_data(as_text=True)
    assert (count(app, Unit), count(app, Task)) == before
