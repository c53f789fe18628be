"""The database itself refuses every way of rewriting a task's history or the evidence
it points to, on SQLite and PostgreSQL; and on PostgreSQL the application can run as a
role that owns no table, which therefore cannot drop, disable or replace those guards.

Each tampering statement runs in its own transaction, must fail, and must leave the
history and the evidence exactly as they were.
"""

from __future__ import annotations

import io
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

import config
from app import create_app
from app.demo import DEMO_PASSWORD
from tests.conftest import Api, pg_admin, pg_url

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
EVENT_COLUMNS = "task_id, seq, kind, from_state, to_state, actor_id, at, comment, data"


def rectify_with_evidence(api: Api) -> int:
    """A 卢氏县 task taken to 已整改 with one photo; returns the task id."""
    task = api.task_of("lushi_handler")
    tid = task["id"]
    assert (
        api.post(f"/tasks/{tid}/transitions", "lushi_handler", json={"to": "in_progress", "version": 1}).status_code
        == 200
    )
    up = api.post(f"/tasks/{tid}/evidence", "lushi_handler", data={"file": (io.BytesIO(PNG), "现场.png")})
    assert up.status_code == 201, up.get_json()
    r = api.post(
        f"/tasks/{tid}/transitions", "lushi_handler", json={"to": "rectified", "comment": "已整改", "version": 2}
    )
    assert r.status_code == 200, r.get_json()
    return tid


def snapshot(engine) -> tuple:
    with engine.connect() as conn:
        events = conn.execute(text("SELECT * FROM task_events ORDER BY id")).all()
        evidence = conn.execute(text("SELECT * FROM evidence ORDER BY id")).all()
    return [tuple(r) for r in events], [tuple(r) for r in evidence]


def facts(engine, tid: int) -> dict:
    with engine.connect() as conn:
        ev = conn.execute(text("SELECT id, event_id FROM evidence WHERE task_id = :t"), {"t": tid}).one()
        other = conn.execute(text("SELECT id FROM task_events WHERE task_id <> :t ORDER BY id LIMIT 1"), {"t": tid})
        return {"tid": tid, "evid": ev.id, "event": ev.event_id, "other_event": other.scalar_one()}


COMMON = [
    "UPDATE task_events SET comment = 'backdated' WHERE id = :event",
    "DELETE FROM task_events WHERE id = :event",
    f"INSERT INTO task_events (id, {EVENT_COLUMNS}) SELECT id, {EVENT_COLUMNS} FROM task_events WHERE id = :event "
    "ON CONFLICT (id) DO UPDATE SET comment = 'backdated'",
    "UPDATE evidence SET event_id = NULL WHERE id = :evid",
    "UPDATE evidence SET event_id = :other_event WHERE id = :evid",
    "UPDATE evidence SET sha256 = 'forged' WHERE id = :evid",
    "UPDATE evidence SET original_name = 'other.png' WHERE id = :evid",
    "DELETE FROM evidence WHERE id = :evid",
    "DELETE FROM evidence",
    "DELETE FROM tasks WHERE id = :tid",
]
SQLITE = [
    f"INSERT OR REPLACE INTO task_events (id, {EVENT_COLUMNS}) "
    f"SELECT id, task_id, seq, kind, from_state, to_state, actor_id, '2020-01-01 00:00:00.000000', 'backdated', data "
    "FROM task_events WHERE id = :event",
    f"REPLACE INTO task_events ({EVENT_COLUMNS}) "
    "SELECT task_id, seq, kind, from_state, 'closed', actor_id, at, 'backdated', data "
    "FROM task_events WHERE id = :event",
    "UPDATE OR REPLACE task_events SET seq = seq + 1 WHERE id = :event",
    "INSERT OR REPLACE INTO evidence SELECT id, task_id, NULL, original_name, stored_name, content_type, size, "
    "'forged', uploaded_by_id, uploaded_at FROM evidence WHERE id = :evid",
    "REPLACE INTO evidence (task_id, event_id, original_name, stored_name, content_type, size, sha256, "
    "uploaded_by_id, uploaded_at) SELECT task_id, NULL, 'x.png', stored_name, content_type, size, sha256, "
    "uploaded_by_id, uploaded_at FROM evidence WHERE id = :evid",
]
POSTGRES = [
    "TRUNCATE task_events",
    "TRUNCATE task_events CASCADE",
    "TRUNCATE tasks CASCADE",
    "TRUNCATE plans CASCADE",
    "TRUNCATE evidence",
    "UPDATE evidence SET event_id = NULL",
]


def assert_all_refused(engine, statements: list[str], params: dict) -> None:
    before = snapshot(engine)
    passed = []
    for sql in statements:
        try:
            with engine.begin() as conn:
                conn.execute(text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
            passed.append(sql)
        except DBAPIError:
            pass
    assert passed == [], "these statements changed the history"
    assert snapshot(engine) == before


def test_every_statement_that_would_rewrite_history_or_its_evidence_is_refused(api, app, backend):
    tid = rectify_with_evidence(api)
    engine = app.extensions["rectify"].db.engine
    params = facts(engine, tid)
    assert params["event"] is not None, "the rectification attached the photo"
    assert_all_refused(engine, COMMON + (SQLITE if backend == "sqlite" else POSTGRES), params)


def test_the_application_still_adds_history_and_attaches_evidence(api):
    tid = rectify_with_evidence(api)
    assert api.post(f"/tasks/{tid}/transitions", "smx_deputy", json={"to": "verified", "version": 3}).status_code == 200
    history = api.get(f"/tasks/{tid}/history", "smx_deputy").get_json()
    assert [e["to_state"] for e in history] == ["identified", "in_progress", "rectified", "verified"]
    assert history[2]["evidence_ids"], "the photo is attached to the rectification"


# ---- PostgreSQL: the application as a role that owns nothing ----------------------------------


@pytest.fixture
def app_role(db_url):
    """A login role with the grants the README gives the application (DML on every table,
    the sequences), and TRUNCATE as well, to show the guards do not rest on a missing grant."""
    role = f"rectify_app_{uuid.uuid4().hex[:10]}"
    dbname = db_url.rsplit("/", 1)[1]
    pg_admin(f"CREATE ROLE {role} LOGIN")
    owner = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        for sql in (
            f"GRANT CONNECT ON DATABASE {dbname} TO {role}",
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ):
            conn.execute(text(sql))
    try:
        yield role, pg_url(dbname).replace("postgres@", f"{role}@", 1)
    finally:
        with owner.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
        owner.dispose()
        pg_admin(f"DROP ROLE {role}")


@pytest.mark.parametrize("backend", ["postgres"])
def test_as_an_application_role_that_owns_nothing_the_app_works_and_cannot_lift_the_guards(app_role, tmp_path, clock):
    role, url = app_role
    app = create_app(config.TestConfig(url, tmp_path / "as-role"), clock=clock)
    try:
        engine = app.extensions["rectify"].db.engine
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar_one() == role
            owned = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
            ).scalar_one()
        assert owned == 0

        # the application's own writes: sign-in (throttle and session rows), a task moved with evidence
        api = Api(app.test_client())
        tid = rectify_with_evidence(api)
        browser = app.test_client()
        page = browser.get("/login").get_data(as_text=True)
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = {"username": "smx_deputy", "password": DEMO_PASSWORD, "csrf_token": csrf}
        assert browser.post("/login", data=form).status_code == 302
        assert browser.get("/tasks").status_code == 200
        assert api.client.post("/api/v1/auth/token", json={"username": "x", "password": "y"}).status_code == 401

        params = facts(engine, tid)
        assert_all_refused(
            engine,
            COMMON
            + POSTGRES
            + [
                "ALTER TABLE task_events DISABLE TRIGGER ALL",
                "ALTER TABLE task_events DISABLE TRIGGER task_events_no_update",
                "DROP TRIGGER task_events_no_update ON task_events",
                "DROP TRIGGER evidence_guard ON evidence",
                "CREATE OR REPLACE FUNCTION task_events_append_only() RETURNS trigger AS "
                "$$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql",
                "DROP FUNCTION evidence_guard() CASCADE",
                "ALTER TABLE evidence DROP CONSTRAINT fk_evidence_event_id_task_events",
                "DROP TABLE task_events CASCADE",
                "SET session_replication_role = replica",
            ],
            params,
        )
    finally:
        app.extensions["rectify"].db.dispose()
