"""Running Alembic from the app (CLI, tests, `make run`)."""

from __future__ import annotations

from alembic import command, op
from alembic.config import Config
from alembic.script import ScriptDirectory

from app import ROOT


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def heads(url: str) -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config(url)).get_heads())


# ---- index builds that do not stop the campaign ------------------------------------------
# A plain CREATE INDEX holds a lock that blocks every write to the table while it is built:
# at 1,000,000 tasks that is minutes in which no one can hand in, verify or be swept. On
# PostgreSQL the migrations below build CONCURRENTLY instead (outside the migration's
# transaction, which Alembic's autocommit_block commits first); SQLite has one writer
# anyway, so there they are the plain statements.


def _online() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def create_index_online(name: str, definition: str) -> None:
    """``CREATE INDEX <name> <definition>`` (``ON table USING … WHERE …`` as SQL), built
    without blocking writes on PostgreSQL. A build that failed half-way leaves an invalid
    index of that name, which is dropped first so that running the migration again
    builds it."""
    if not _online():
        op.execute(f"CREATE INDEX {name} {definition}")
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        op.execute(f"CREATE INDEX CONCURRENTLY {name} {definition}")


def replace_index(name: str, table: str, columns: list[str], **kw) -> None:
    """Index ``name`` rebuilt as ``columns`` (and ``kw``: a partial index's where), with
    the old one answering queries until the new one is ready: on PostgreSQL the new one
    is built concurrently under a second name, the old dropped and the new renamed (a
    rename's lock lasts an instant)."""
    if not _online():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, **kw)
        return
    building = f"{name}_new"
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {building}")
        op.create_index(building, table, columns, postgresql_concurrently=True, **kw)
        op.drop_index(name, table_name=table, postgresql_concurrently=True)
        op.execute(f"ALTER INDEX {building} RENAME TO {name}")
