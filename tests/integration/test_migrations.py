"""Alembic migrations: one head, a clean round trip on both databases, and a schema that
matches the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from app.migrate import downgrade, heads, upgrade
from app.models import Base
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


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
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
