"""The `flask --app app …` commands an operator uses: create-user, demo, holiday, sweep."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

import config as rectify_config
from app import create_app
from app.demo import SMX_COUNTIES
from app.migrate import upgrade
from app.models import Notification, Plan, Task, Unit, User

LUSHI = SMX_COUNTIES["lushi"]


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def login(app, username: str, password: str):
    return app.test_client().post("/api/v1/auth/token", json={"username": username, "password": password})


def user_count(app) -> int:
    with app.app_context():
        return app.extensions["rectify"].db.session().scalar(select(func.count()).select_from(User))


def create_user(app, *extra: str, username: str = "lushi_new", password: str = "a-long-password", unit: str = LUSHI):
    return run(
        app, "create-user", "--username", username, "--password", password, "--unit", unit, "--role", "official", *extra
    )


def test_create_user_adds_a_user_who_can_then_sign_in(app):
    result = create_user(app, "--position", "handler", "--full-name", "卢氏县新经办人", "--email", "new@example.gov.cn")
    assert result.exit_code == 0, result.output
    assert "lushi_new" in result.output and LUSHI in result.output
    r = login(app, "lushi_new", "a-long-password")
    assert r.status_code == 200
    token = r.get_json()["token"]
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert (me["username"], me["role"], me["position"], me["full_name"]) == (
        "lushi_new",
        "official",
        "handler",
        "卢氏县新经办人",
    )
    units = app.test_client().get("/api/v1/units", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [u["name"] for u in units] == [LUSHI]
    assert me["unit_id"] == units[0]["id"]
    # the new user sees the county's tasks, like the other users of the unit
    tasks = app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert tasks["total"] == 9


def test_create_user_for_an_unknown_unit_fails_with_a_message(app):
    before = user_count(app)
    result = create_user(app, unit="不存在的单位")
    assert result.exit_code != 0
    assert "不存在的单位" in result.output
    assert user_count(app) == before
    assert login(app, "lushi_new", "a-long-password").status_code == 401


def test_create_user_with_a_taken_username_fails_and_keeps_the_old_user(app):
    before = user_count(app)
    result = create_user(app, username="lushi_handler", password="another-password")
    assert result.exit_code != 0
    assert "lushi_handler" in result.output
    assert user_count(app) == before
    assert login(app, "lushi_handler", "rectify-demo").status_code == 200
    assert login(app, "lushi_handler", "another-password").status_code == 401


def test_create_user_with_a_short_password_fails_and_says_why(app):
    result = create_user(app, password="short")
    assert result.exit_code != 0
    assert "password" in result.output
    assert login(app, "lushi_new", "short").status_code == 401


def test_create_user_with_an_unknown_role_or_position_fails(app):
    before = user_count(app)
    base = ["create-user", "--username", "x_user", "--password", "a-long-password", "--unit", LUSHI]
    for args, bad in ((["--role", "boss"], "boss"), (["--role", "official", "--position", "chief"], "chief")):
        result = run(app, *base, *args)
        assert result.exit_code != 0, args
        assert bad in result.output
    assert user_count(app) == before


def test_demo_refuses_a_database_that_already_has_data(app):
    units_before = _units(app)
    result = run(app, "demo")
    assert result.exit_code != 0
    assert "not empty" in result.output or "已有数据" in result.output
    assert _units(app) == units_before


def test_demo_if_empty_on_a_database_with_data_does_nothing_and_succeeds(app):
    units_before, users_before = _units(app), user_count(app)
    result = run(app, "demo", "--if-empty")
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    assert _units(app) == units_before and user_count(app) == users_before


def _units(app) -> int:
    with app.app_context():
        return app.extensions["rectify"].db.session().scalar(select(func.count()).select_from(Unit))


def test_demo_as_issued_loads_the_2022_plans_into_an_empty_database_with_nothing_done_yet(tmp_path, clock):
    """One backend is enough: the PostgreSQL template of every API test is built by load_demo.
    (The demo as a campaign under way, `make run`'s `demo --if-empty`, has tests/integration/
    test_demo_campaign.py.)"""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade(url)
    application = create_app(rectify_config.TestConfig(url, tmp_path / "instance"), clock=clock)
    try:
        result = run(application, "demo", "--if-empty", "--as-issued")
        assert result.exit_code == 0, result.output
        assert "三建〔2022〕187号" in result.output and "rectify-demo" in result.output
        assert _units(application) == 1 + 7 + 1 + 6
        assert login(application, "smx_head", "rectify-demo").status_code == 200
        with application.app_context():
            s = application.extensions["rectify"].db.session()
            assert {p.issued_on.isoformat() for p in s.scalars(select(Plan))} == {"2022-06-07", "2022-05-20"}
            assert set(s.scalars(select(Task.state))) == {"identified"}
        # a second run leaves it alone
        again = run(application, "demo", "--if-empty")
        assert again.exit_code == 0 and "not loaded" in again.output
        assert _units(application) == 15
    finally:
        application.extensions["rectify"].db.dispose()


def _overrides(app) -> list[dict]:
    token = login(app, "smx_viewer", "rectify-demo").get_json()["token"]
    r = app.test_client().get("/api/v1/calendar/overrides", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    return r.get_json()


def test_holiday_off_and_work_set_the_calendar_as_the_api_shows_it(app):
    result = run(app, "holiday", "2035-01-02", "--off", "--note", "地方假日")
    assert result.exit_code == 0, result.output
    assert "2035-01-02" in result.output
    result = run(app, "holiday", "2035-01-06", "--work")
    assert result.exit_code == 0, result.output
    assert _overrides(app) == [
        {"day": "2035-01-02", "is_workday": False, "note": "地方假日"},
        {"day": "2035-01-06", "is_workday": True, "note": ""},
    ]
    # setting a day again replaces it
    assert run(app, "holiday", "2035-01-02", "--work").exit_code == 0
    assert _overrides(app)[0] == {"day": "2035-01-02", "is_workday": True, "note": ""}


def test_a_day_off_set_by_the_cli_moves_a_working_day_deadline(app):
    """「5个工作日内」 from Friday 2035-01-05 is Friday 01-12; a day off on Tuesday 01-09 pushes it to Monday 01-15."""
    result = run(app, "holiday", "2035-01-09", "--off")
    assert result.exit_code == 0, result.output
    admin = login(app, "smx_deputy", "rectify-demo").get_json()["token"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {admin}"}
    plan = client.post(
        "/api/v1/plans",
        json={"title": "t", "issued_on": "2035-01-05", "phases": [{"name": "整改", "deadline": "5个工作日内"}]},
        headers=headers,
    )
    assert plan.status_code == 201, plan.get_json()
    assert plan.get_json()["phases"][0]["ends_on"] == "2035-01-15"


def test_holiday_year_marks_a_year_official_and_back(app):
    result = run(app, "holiday-year", "2035")
    assert result.exit_code == 0, result.output
    assert "2035: admin; 0 open deadlines moved" in result.output
    assert "2035: provisional" in run(app, "holiday-year", "2035", "--provisional").output
    refused = run(app, "holiday-year", "1999")
    assert refused.exit_code != 0 and "1999" in refused.output


def test_holiday_with_a_bad_date_fails_and_stores_nothing(app):
    for day in ("2035-13-01", "2035-02-30", "tomorrow", "35-1-2", ""):
        result = run(app, "holiday", day, "--off")
        assert result.exit_code != 0, day
        assert f"「{day}」" in result.output
    assert _overrides(app) == []


def test_sweep_at_an_instant_delivers_as_of_that_instant_without_touching_the_apps_clock(app, clock, monkeypatch):
    rt = app.extensions["rectify"]
    swapped = []
    real_setattr = type(rt).__setattr__

    def watch(obj, name, value):
        if obj is rt and name == "clock":
            swapped.append(value)
        real_setattr(obj, name, value)

    monkeypatch.setattr(type(rt), "__setattr__", watch)
    at = datetime(2022, 6, 9, 1, 0, tzinfo=UTC)
    assert clock() != at
    with app.app_context():
        last = rt.db.session().scalar(select(func.max(Notification.id)))
    result = run(app, "sweep", "--at", "2022-06-09T09:00+08:00")
    assert result.exit_code == 0, result.output
    assert swapped == [] and rt.clock is clock
    with app.app_context():
        new = select(Notification.sent_at).where(Notification.id > last, Notification.sent_at.is_not(None))
        sent = rt.db.session().scalars(new).all()
    assert sent and set(sent) == {at}
    assert result.output.splitlines()[-1].startswith("delivered: ")
