"""Every refusal of the JSON API is a JSON body with ``error`` and ``message``: bad JSON,
wrong shapes, wrong types, bad dates, unknown routes and methods."""

from __future__ import annotations

import json

import pytest

from app.demo import SMX_COUNTIES

pytestmark = pytest.mark.presigned  # not about signing in: tokens minted up front


def assert_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.data[:300])
    assert resp.is_json, resp.data[:300]
    body = resp.get_json()
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), str) and body["error"]
    assert isinstance(body.get("message"), str) and body["message"]
    assert isinstance(body.get("details", []), list)
    if code is not None:
        assert body["error"] == code
    return body


def fields(body: dict) -> set[str]:
    return {d["field"] for d in body["details"]}


def plans_count(api) -> int:
    return len(api.get("/plans", "admin").get_json())


def lushi_task(api) -> dict:
    return api.task_of("lushi_handler")


# ---- not JSON, or not an object ---------------------------------------------------------


def test_a_body_that_is_not_json_is_a_400_json_error(api):
    t = lushi_task(api)
    for raw in ['{"to": "in_progress", "version": ', "{'to': 'in_progress'}", "to=in_progress&version=1", "", "{]"]:
        r = api.post(f"/tasks/{t['id']}/transitions", "lushi_handler", data=raw, content_type="application/json")
        body = assert_error(r, 400, "bad_json")
        assert "JSON" in body["message"], raw
    assert api.get(f"/tasks/{t['id']}", "admin").get_json()["version"] == 1


def test_malformed_json_is_a_400_on_every_kind_of_endpoint(api):
    broken = '{"title": "x",'
    assert_error(api.client.post("/api/v1/auth/token", data=broken, content_type="application/json"), 400)
    assert_error(api.post("/plans", "smx_deputy", data=broken, content_type="application/json"), 400)
    assert_error(api.post("/plans/1/problems", "smx_deputy", data=broken, content_type="application/json"), 400)
    assert_error(api.call("PUT", "/calendar/overrides", "admin", data=broken, content_type="application/json"), 400)


def test_json_that_is_not_an_object_is_a_400(api):
    t = lushi_task(api)
    for payload in ([{"to": "in_progress", "version": 1}], "in_progress", 1, None, True):
        raw = json.dumps(payload)
        r = api.post(f"/tasks/{t['id']}/transitions", "lushi_handler", data=raw, content_type="application/json")
        body = assert_error(r, 400, "bad_json")
        assert "对象" in body["message"], raw
    assert api.get(f"/tasks/{t['id']}", "admin").get_json()["state"] == "identified"


def test_a_json_array_as_a_plan_is_a_400_and_writes_nothing(api):
    before = plans_count(api)
    r = api.post("/plans", "smx_deputy", json=[{"title": "x", "issued_on": "2022-06-07"}])
    assert_error(r, 400, "bad_json")
    assert plans_count(api) == before


# ---- the wrong shape ----------------------------------------------------------------------


def test_an_unknown_field_is_a_422_that_names_the_field(api):
    t = lushi_task(api)
    r = api.post(
        f"/tasks/{t['id']}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1, "force": True}
    )
    body = assert_error(r, 422, "invalid")
    assert fields(body) == {"force"} and "force" in body["message"]
    assert api.get(f"/tasks/{t['id']}", "admin").get_json()["version"] == 1


def test_an_unknown_field_in_a_nested_object_is_named_with_its_path(api):
    before = plans_count(api)
    r = api.post(
        "/plans",
        "smx_deputy",
        json={
            "title": "t",
            "issued_on": "2022-06-07",
            "approved_by": "局长",
            "phases": [{"name": "a", "deadline": "6月底", "owner": "x"}],
        },
    )
    body = assert_error(r, 422, "invalid")
    assert fields(body) == {"approved_by", "phases.0.owner"}
    assert "approved_by" in body["message"]
    assert plans_count(api) == before


def test_a_missing_required_field_is_a_422_naming_it(api):
    t = lushi_task(api)
    body = assert_error(api.post(f"/tasks/{t['id']}/transitions", "lushi_handler", json={"to": "in_progress"}), 422)
    assert fields(body) == {"version"}
    body = assert_error(api.post("/plans", "smx_deputy", json={"issued_on": "2022-06-07"}), 422)
    assert fields(body) == {"title"}


def test_a_problem_must_name_exactly_one_kind_of_target(api):
    pid = api.get("/plans", "smx_deputy").get_json()[0]["id"]
    base = {"nature": "common", "title": "x", "deadline": "6月20日"}
    for extra in ({}, {"unit_ids": [2], "all_units_under": 1}, {"unit_ids": []}):
        assert_error(api.post(f"/plans/{pid}/problems", "smx_deputy", json=base | extra), 422)
    assert_error(api.post(f"/plans/{pid}/problems", "smx_deputy", json=base | {"nature": "both", "unit_ids": [2]}), 422)


# ---- wrong types are refused, not coerced -------------------------------------------------


def test_a_string_where_a_number_belongs_is_a_422(api):
    t = lushi_task(api)
    for version in ("1", 1.5, None, [1]):
        r = api.post(f"/tasks/{t['id']}/transitions", "lushi_handler", json={"to": "in_progress", "version": version})
        body = assert_error(r, 422, "invalid")
        assert fields(body) == {"version"}, version
    assert api.get(f"/tasks/{t['id']}", "admin").get_json()["version"] == 1


def test_a_number_where_a_string_belongs_is_a_422(api):
    before = plans_count(api)
    body = assert_error(api.post("/plans", "smx_deputy", json={"title": 123, "issued_on": "2022-06-07"}), 422)
    assert fields(body) == {"title"}
    body = assert_error(api.client.post("/api/v1/auth/token", json={"username": 42, "password": "rectify-demo"}), 422)
    assert fields(body) == {"username"}
    assert plans_count(api) == before


def test_the_string_true_where_a_boolean_belongs_is_a_422(api):
    before = plans_count(api)
    for flag in ("true", "false", 1, 0):
        r = api.post("/plans", "smx_deputy", json={"title": "t", "issued_on": "2022-06-07", "evidence_required": flag})
        assert fields(assert_error(r, 422, "invalid")) == {"evidence_required"}, flag
    assert plans_count(api) == before
    r = api.call("PUT", "/calendar/overrides", "admin", json={"day": "2035-01-02", "is_workday": "true"})
    assert fields(assert_error(r, 422)) == {"is_workday"}
    assert api.get("/calendar/overrides", "admin").get_json() == []


def test_a_string_where_a_list_of_ids_belongs_is_a_422(api):
    pid = api.get("/plans", "smx_deputy").get_json()[0]["id"]
    lushi = next(u["id"] for u in api.get("/units", "admin").get_json() if u["name"] == SMX_COUNTIES["lushi"])
    r = api.post(
        f"/plans/{pid}/problems",
        "smx_deputy",
        json={"nature": "individual", "title": "x", "deadline": "6月20日", "unit_ids": [str(lushi)]},
    )
    assert fields(assert_error(r, 422)) == {"unit_ids.0"}


# ---- dates ----------------------------------------------------------------------------------


def test_an_impossible_or_badly_written_date_is_a_422(api):
    before = plans_count(api)
    for day in ("2022-13-01", "2022-02-30", "2022-00-10", "20220607", "6/7/2022", "明天", ""):
        body = assert_error(api.post("/plans", "smx_deputy", json={"title": "t", "issued_on": day}), 422, "invalid")
        assert fields(body) == {"issued_on"}, day
    assert plans_count(api) == before


def test_a_bad_holiday_date_is_a_422_and_nothing_is_stored(api):
    for day in ("2035-13-01", "2035-02-29"):
        r = api.call("PUT", "/calendar/overrides", "admin", json={"day": day, "is_workday": False})
        assert fields(assert_error(r, 422)) == {"day"}
    assert api.get("/calendar/overrides", "admin").get_json() == []
    ok = api.call("PUT", "/calendar/overrides", "admin", json={"day": "2035-01-02", "is_workday": False})
    assert ok.status_code == 200


# ---- routes and methods ---------------------------------------------------------------------


def test_an_unknown_route_under_the_api_is_a_404_json_error_with_or_without_a_token(api):
    auth = {"Authorization": f"Bearer {api.token('admin')}"}
    for path in ("/api/v1/nope", "/api/v1/tasks/abc", "/api/v1/plans/1/nothing", "/api/v1/", "/api/v2/tasks"):
        assert_error(api.client.get(path), 404, "not_found")
        assert_error(api.client.get(path, headers=auth), 404, "not_found")
        assert_error(api.client.post(path, json={}, headers=auth), 404, "not_found")


def test_an_id_that_does_not_exist_is_a_404_json_error(api):
    for path in ("/tasks/999999", "/plans/999999", "/problems/999999", "/units/999999", "/evidence/999999/content"):
        assert_error(api.get(path, "admin"), 404, "not_found")


def test_a_wrong_method_is_a_405_json_error(api):
    auth = {"Authorization": f"Bearer {api.token('admin')}"}
    for method, path in (
        ("DELETE", "/api/v1/plans"),
        ("PUT", "/api/v1/tasks/1"),
        ("GET", "/api/v1/auth/token"),
        ("PATCH", "/api/v1/me"),
    ):
        r = api.client.open(path, method=method, headers=auth)
        assert_error(r, 405, "method_not_allowed")
        assert "Allow" in r.headers, (method, path)


def test_a_wrong_method_is_a_405_that_names_the_allowed_methods(api):
    r = api.client.delete("/api/v1/plans", headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
