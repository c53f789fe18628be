"""Alembic migrations: one head, a clean round trip on both databases, and a schema that
matches the models."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import bindparam, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from app.migrate import downgrade, heads, upgrade
from app.models import Base
from app.models.base import UTCDateTime
from tests.conftest import need_service, pg_admin, pg_url


@pytest.fixture
def fresh_url(backend, tmp_path) -> Iterator[str]:
    """An empty database of the backend, created for this test and dropped after it."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"rectify_mig_{uuid.uuid4().hex[:12]}"
    try:
        pg_admin(f"CREATE DATABASE {name}")
    except Exception as err:
        need_service("PostgreSQL", f"{type(err).__name__}: {err}")
    try:
        yield pg_url(name)
    finally:
        pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


SHORT_WORD_INDEXES = {"ix_problems_keyword_short", "ix_task_events_account_keyword_short"}


def text_indexes(conn) -> set[str]:
    """The keyword's text indexes the models do not declare: SQLite's FTS5 tables
    (migration 0028) with their shadow tables, PostgreSQL's trigram indexes over the
    tripled texts (0030: expressions of a function SQLite does not have)."""
    if conn.dialect.name == "postgresql":
        return SHORT_WORD_INDEXES
    virtual = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")
    names = set(virtual.scalars())
    every = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
    return names | {t for t in every if any(t.startswith(v + "_") for v in names)}


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names()) - text_indexes(conn)
    finally:
        engine.dispose()


def schema_diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            skipped = text_indexes(conn)
            opts = {
                "compare_type": True,
                "compare_server_default": False,
                "include_name": lambda name, kind, _parent: not (kind in ("table", "index") and name in skipped),
            }
            ctx = MigrationContext.configure(conn, opts=opts)
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_the_migrations_have_a_single_head(tmp_path):
    found = heads(f"sqlite:///{tmp_path / 'unused.db'}")
    assert len(found) == 1, f"several heads, merge them: {found}"


def test_upgrade_downgrade_and_upgrade_again_on_a_fresh_database(fresh_url):
    model_tables = set(Base.metadata.tables)
    assert tables(fresh_url) == set()

    upgrade(fresh_url)
    assert tables(fresh_url) == model_tables | {"alembic_version"}
    assert current_revision(fresh_url) == heads(fresh_url)[0]

    downgrade(fresh_url, "base")
    assert tables(fresh_url) <= {"alembic_version"}, "downgrade left tables behind"
    assert current_revision(fresh_url) is None

    upgrade(fresh_url)
    assert tables(fresh_url) == model_tables | {"alembic_version"}
    assert current_revision(fresh_url) == heads(fresh_url)[0]
    # upgrading an up-to-date database is a no-op, not an error
    upgrade(fresh_url)
    assert current_revision(fresh_url) == heads(fresh_url)[0]


def test_the_migrated_schema_matches_the_models(fresh_url):
    upgrade(fresh_url)
    diff = schema_diff(fresh_url)
    assert diff == [], "the migrations and the models disagree; autogenerate a revision:\n" + "\n".join(map(str, diff))


def test_the_migrated_schema_refuses_to_edit_or_delete_task_history(rt):
    """The append-only triggers are part of the migration, on both databases."""
    engine = rt.db.engine
    with engine.connect() as conn:
        first = conn.execute(text("SELECT id, comment FROM task_events ORDER BY id LIMIT 1")).one()
    for sql in (
        "UPDATE task_events SET comment = 'backdated' WHERE id = :id",
        "UPDATE task_events SET at = '2020-01-01 00:00:00' WHERE id = :id",
        "DELETE FROM task_events WHERE id = :id",
    ):
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(text(sql), {"id": first.id})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT comment FROM task_events WHERE id = :id"), {"id": first.id}).scalar_one() == (
            first.comment
        )
        # adding to the history is what it is for
        conn.execute(
            text(
                "INSERT INTO task_events (task_id, seq, kind, from_state, to_state, actor_id, at, comment, data) "
                "SELECT task_id, 99, 'transition', 'identified', 'in_progress', actor_id, at, 'ok', '{}' "
                "FROM task_events WHERE id = :id"
            ),
            {"id": first.id},
        )
        conn.commit()


def test_upgrading_keeps_old_counts_on_the_issue_date_and_marks_deadlines_in_an_uncovered_year(fresh_url):
    """Tasks made before deadlines kept their basis: their 「N个工作日内」 was counted from
    the plan's issue date, and one reaching into a year the package lacks is provisional."""
    upgrade(fresh_url, "0004")
    at = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    engine = create_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO units (id, name, kind, path, depth, created_at) "
                    "VALUES (1, '禹州市住房和城乡建设局', 'bureau', '/1/', 0, :at)"
                ),
                {"at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO plans (id, title, doc_number, issuing_unit_id, issued_on, evidence_required, "
                    "created_at) VALUES (1, '方案', '', 1, :issued, :yes, :at)"
                ),
                {"issued": date(2026, 11, 30), "yes": True, "at": at},
            )
            for pid, deadline, kind, due in (
                (1, "5个工作日内", "date", datetime(2026, 12, 7, 15, 59, 59, tzinfo=UTC)),
                (2, "2027年1月15日", "date", datetime(2027, 1, 15, 15, 59, 59, tzinfo=UTC)),
                (3, "立行立改", "immediate", None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO problems (id, plan_id, seq, category, nature, title, description, source, "
                        "measures, deadline_text, deadline_kind, remarks, created_at) "
                        "VALUES (:id, 1, :id, '', 'individual', 't', '', '', '', :deadline, :kind, '', :at)"
                    ),
                    {"id": pid, "deadline": deadline, "kind": kind, "at": at},
                )
                conn.execute(
                    text(
                        "INSERT INTO tasks (id, problem_id, plan_id, unit_id, state, deadline_kind, due_at, version, "
                        "created_at, updated_at, escalation_level, public_notice) "
                        "VALUES (:id, :id, 1, 1, 'identified', :kind, :due, 1, :at, :at, 0, :no)"
                    ).bindparams(bindparam("due", type_=UTCDateTime()), bindparam("at", type_=UTCDateTime())),
                    {"id": pid, "kind": kind, "due": due, "at": at, "no": False},
                )

        upgrade(fresh_url)

        with engine.connect() as conn:
            plan = conn.execute(text("SELECT workdays_from FROM plans")).scalar_one()
            rows = conn.execute(
                text("SELECT deadline_text, deadline_basis, deadline_from, calendar_provisional FROM tasks ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert plan == "issued"
    assert [(r[0], r[1], str(r[2]) if r[2] else None, bool(r[3])) for r in rows] == [
        ("5个工作日内", "issued", "2026-11-30", False),
        ("2027年1月15日", "fixed", None, True),
        ("立行立改", None, None, False),
    ]


@pytest.mark.parametrize("backend", ["postgres"])
def test_rebuilding_an_index_on_postgresql_does_not_block_writes_and_survives_a_failed_build(fresh_url, caplog):
    """Migrations 0029-0031 rebuild indexes of ``tasks``: a plain CREATE INDEX blocks every
    write to the table while it is built (minutes at 1,000,000 tasks, in which nobody can
    hand in or be swept). They build CONCURRENTLY, and a build that died half-way (an
    invalid index left under the building name) does not stop the next attempt."""
    upgrade(fresh_url, "0028")
    engine = create_engine(fresh_url)
    try:
        with engine.begin() as conn:  # what a killed concurrent build leaves behind
            conn.exec_driver_sql("CREATE INDEX ix_tasks_overdue_order_new ON tasks (id)")
    finally:
        engine.dispose()
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    upgrade(fresh_url)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
    built = [s for s in said if s.lstrip().startswith("CREATE INDEX")]
    assert built and all(s.lstrip().startswith("CREATE INDEX CONCURRENTLY") for s in built), built
    rebuilt = {"ix_tasks_overdue_order_new", "ix_tasks_state_due_new", *SHORT_WORD_INDEXES}
    assert {s.split()[3] for s in built} == rebuilt
    engine = create_engine(fresh_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname IN ('tasks', 'problems', 'task_events')"
            ).all()
    finally:
        engine.dispose()
    names = {name for name, _ in rows}
    assert all(valid for _, valid in rows), rows
    assert {"ix_tasks_overdue_order", "ix_tasks_state_due"} <= names and not any(n.endswith("_new") for n in names)
    assert schema_diff(fresh_url) == []
