"""Signing in to the JSON API, bearer tokens, login throttling and the OpenAPI document."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.demo import DEMO_PASSWORD

TOKEN_URL = "/api/v1/auth/token"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def login(client, username: str, password: str = DEMO_PASSWORD):
    return client.post(TOKEN_URL, json={"username": username, "password": password})


def me(client, token: str | None, scheme: str = "Bearer"):
    headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
    return client.get("/api/v1/me", headers=headers)


def assert_401_json(resp) -> None:
    assert resp.status_code == 401
    assert resp.is_json, resp.data[:200]
    body = resp.get_json()
    assert body["error"] == "unauthorized"
    assert "Bearer" in body["message"]


# ---- issuing tokens ---------------------------------------------------------------------


def test_a_demo_user_gets_a_token_that_opens_the_api_as_that_user(api):
    r = login(api.client, "lushi_handler")
    assert r.status_code == 200
    body = r.get_json()
    assert isinstance(body["token"], str) and len(body["token"]) > 20
    assert body["expires_in"] == 12 * 3600
    who = me(api.client, body["token"])
    assert who.status_code == 200
    assert who.get_json()["username"] == "lushi_handler"
    assert who.get_json()["role"] == "official"


def test_a_wrong_password_and_an_unknown_user_are_refused_with_the_same_401_message(api):
    wrong = login(api.client, "lushi_handler", "not-the-password")
    unknown = login(api.client, "nobody_at_all", "not-the-password")
    assert wrong.status_code == 401 and unknown.status_code == 401
    assert wrong.is_json and unknown.is_json
    assert "token" not in wrong.get_json() and "token" not in unknown.get_json()
    assert wrong.get_json()["message"] == unknown.get_json()["message"]
    assert wrong.get_json()["error"] == unknown.get_json()["error"]


def test_a_refused_login_says_unauthorized_like_every_other_401(api):
    r = login(api.client, "lushi_handler", "not-the-password")
    assert r.status_code == 401
    assert r.get_json()["error"] == "unauthorized"


# ---- bearer tokens ----------------------------------------------------------------------


def test_a_request_without_a_token_is_refused_with_401_json(api):
    assert_401_json(me(api.client, None))
    assert_401_json(api.client.get("/api/v1/tasks"))
    assert_401_json(api.client.post("/api/v1/plans", json={"title": "x", "issued_on": "2022-06-07"}))


def test_a_garbage_bearer_token_is_refused_with_401_json(api):
    for scheme, token in [
        ("Bearer", "garbage"),
        ("Bearer", "eyJ1IjoxLCJwIjoiMDAwMCJ9.Zz0000.abcdefabcdefabcdefabcdefabc"),
        ("Bearer", ""),
        ("Bearer", api.token("admin") + "x"),
        ("Basic", "YWRtaW46cmVjdGlmeS1kZW1v"),
        ("", api.token("admin")),
    ]:
        assert_401_json(me(api.client, token, scheme))
    assert me(api.client, api.token("admin")).status_code == 200


def test_a_token_signed_with_another_secret_is_refused(api, rt):
    good = api.token("admin")
    payload = URLSafeTimedSerializer(rt.config.SECRET_KEY, salt="api-token").loads(good)
    forged = URLSafeTimedSerializer("some-other-secret", salt="api-token").dumps(payload)
    assert me(api.client, good).status_code == 200
    assert_401_json(me(api.client, forged))


def _token_issued_seconds_ago(api, monkeypatch, username: str, age: int) -> str:
    """A token the app itself issued, but stamped ``age`` seconds in the past."""

    class BackdatedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    class Backdated(URLSafeTimedSerializer):
        default_signer = BackdatedSigner

    monkeypatch.setattr("app.services.auth.URLSafeTimedSerializer", Backdated)
    try:
        r = login(api.client, username)
        assert r.status_code == 200
        return r.get_json()["token"]
    finally:
        monkeypatch.undo()


def test_an_expired_token_is_refused_with_401_json_while_a_younger_one_still_works(api, rt, monkeypatch):
    ttl = rt.config.TOKEN_TTL_SECONDS
    nearly_expired = _token_issued_seconds_ago(api, monkeypatch, "hubin_handler", ttl - 120)
    expired = _token_issued_seconds_ago(api, monkeypatch, "hubin_handler", ttl + 120)
    assert me(api.client, nearly_expired).status_code == 200
    assert_401_json(me(api.client, expired))


# ---- throttling -------------------------------------------------------------------------


def test_after_five_wrong_passwords_even_the_right_one_is_refused_until_the_window_passes(api, clock):
    for _ in range(5):
        assert login(api.client, "lushi_head", "wrong-password").status_code == 401
    blocked = login(api.client, "lushi_head")
    assert blocked.status_code != 200
    assert blocked.is_json and "token" not in blocked.get_json()
    assert "过多" in blocked.get_json()["message"]
    # another user is not affected
    assert login(api.client, "hubin_head").status_code == 200
    # still blocked a little later, free again once the 15-minute window has passed
    clock.advance(minutes=10)
    assert login(api.client, "lushi_head").status_code != 200
    clock.advance(minutes=6)
    assert login(api.client, "lushi_head").status_code == 200


def test_four_wrong_passwords_do_not_lock_the_user_out(api):
    for _ in range(4):
        assert login(api.client, "lushi_deputy", "wrong-password").status_code == 401
    assert login(api.client, "lushi_deputy").status_code == 200


def test_failures_for_an_unknown_username_are_throttled_too(api, clock):
    for _ in range(5):
        assert login(api.client, "ghost", "guess").status_code == 401
    sixth = login(api.client, "ghost", "guess")
    assert sixth.status_code != 401 and "过多" in sixth.get_json()["message"]
    clock.advance(minutes=16)
    assert login(api.client, "ghost", "guess").status_code == 401


def test_a_throttled_login_answers_429_too_many_requests(api):
    for _ in range(5):
        login(api.client, "lushi_head", "wrong-password")
    r = login(api.client, "lushi_head")
    assert r.status_code == 429
    assert r.is_json and r.get_json()["error"] in ("too_many_requests", "throttled", "rate_limited")


# ---- the OpenAPI document ---------------------------------------------------------------


# The document does not depend on the database: these run on one backend only.
one_backend = pytest.mark.parametrize("backend", ["sqlite"])


def _openapi(app) -> dict:
    r = app.test_client().get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.is_json
    return r.get_json()


def _resolve(doc: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/components/schemas/"), ref
    name = ref.rsplit("/", 1)[1]
    assert name in doc["components"]["schemas"], f"dangling $ref {ref}"
    return doc["components"]["schemas"][name]


def _api_routes(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every rule the API blueprint registered, except the
    OpenAPI document itself (a document does not describe where it is served)."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - IGNORED_METHODS:
            routes.add((path, method.lower()))
    return routes


@one_backend
def test_the_openapi_document_is_openapi_3_1_and_needs_no_token(app):
    doc = _openapi(app)
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert doc["paths"], "no paths documented"


@one_backend
def test_the_openapi_document_lists_exactly_the_routes_registered_under_api_v1(app):
    doc = _openapi(app)
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    registered = _api_routes(app)
    assert len(registered) >= 20
    assert registered - documented == set(), "registered but not documented"
    assert documented - registered == set(), "documented but not registered"


@one_backend
def test_every_documented_operation_declares_its_path_parameters_responses_and_security(app):
    doc = _openapi(app)
    public = {("/api/v1/auth/token", "post")}
    created = {("/api/v1/plans", "post"), ("/api/v1/plans/{plan_id}/problems", "post")}
    created.add(("/api/v1/tasks/{task_id}/evidence", "post"))
    for path, method in created:
        assert "201" in doc["paths"][path][method]["responses"], path
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, where
            assert op["responses"], where
            assert any(code.startswith("2") for code in op["responses"]), where
            if (path, method) in public:
                assert "security" not in op, where
            else:
                assert op["security"] == [{"bearer": []}], where
                assert "401" in op["responses"], where
            for resp in op["responses"].values():
                for media in resp.get("content", {}).values():
                    if "schema" in media:
                        schema = media["schema"]
                        _resolve(doc, schema.get("items", schema))


@one_backend
def test_every_json_request_body_in_the_openapi_document_forbids_unknown_fields(app):
    doc = _openapi(app)
    bodies = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                bodies.append((f"{method.upper()} {path}", _resolve(doc, content["application/json"]["schema"])))
    names = {schema["title"] for _, schema in bodies}
    assert {"TokenRequest", "PlanIn", "ProblemIn", "TransitionIn", "UnitIn", "UserIn", "HolidayIn"} <= names
    seen: set[str] = set()

    def check(where: str, schema: dict) -> None:
        schema = _resolve(doc, schema)
        if schema.get("type") == "object" and "properties" in schema:
            if schema["title"] in seen:
                return
            seen.add(schema["title"])
            assert schema.get("additionalProperties") is False, f"{where}: {schema['title']} accepts unknown fields"
            for prop in schema["properties"].values():
                check(where, prop)
        for key in ("items",):
            if key in schema:
                check(where, schema[key])
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                check(where, sub)

    for where, schema in bodies:
        check(where, schema)
    # nested request shapes are checked as well, not only the top level
    assert {"PhaseIn", "MilestoneIn"} <= seen


@one_backend
def test_the_task_query_parameters_are_documented_with_their_types(app):
    doc = _openapi(app)
    params = {p["name"]: p for p in doc["paths"]["/api/v1/tasks"]["get"]["parameters"]}
    assert {"plan_id", "unit_id", "state", "overdue", "page", "per_page"} <= set(params)
    assert all(p["in"] == "query" and not p["required"] for p in params.values())
    assert params["per_page"]["schema"]["maximum"] == 200
