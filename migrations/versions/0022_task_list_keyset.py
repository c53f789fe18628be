"""task list keyset order and the header's box indexes

The task list pages by position (keyset: the page after the last row shown) instead of
by offset, so page 1,000 costs what page 1 does. Each order must then be an index order
of plain values: ``tasks.due_sort`` is the deadline with the far future for a task
without one (a generated column: stored on PostgreSQL, virtual on SQLite, whose indexes
would put the NULLs first), indexed alone and after the state; units are ordered by name
and then id, so two units of one name still give one order.

The header above every list counts my work's boxes: two of them read every open (or
every closed) task without an index of their own, the declined tasks (拒收) and the
look-backs due; each now reads its few rows from one.

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-01
"""

from alembic import op

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None

_COLUMN = {
    "postgresql": "timestamptz GENERATED ALWAYS AS "
    "(coalesce(due_at, '9999-12-31 23:59:59+00'::timestamptz)) STORED",
    "sqlite": "DATETIME GENERATED ALWAYS AS (coalesce(due_at, '9999-12-31 23:59:59.000000')) VIRTUAL",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(f"ALTER TABLE tasks ADD COLUMN due_sort {_COLUMN[dialect]}")
    op.create_index("ix_tasks_due_sort", "tasks", ["due_sort", "id"])
    op.create_index("ix_tasks_state_sort", "tasks", ["state", "due_sort", "id"])
    op.drop_index("ix_units_name", table_name="units")
    op.create_index("ix_units_name", "units", ["name", "id"])
    op.create_index("ix_tasks_receipt_state", "tasks", ["receipt", "state"])
    op.create_index("ix_lookbacks_due", "lookbacks", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_lookbacks_due", table_name="lookbacks")
    op.drop_index("ix_tasks_receipt_state", table_name="tasks")
    op.drop_index("ix_units_name", table_name="units")
    op.create_index("ix_units_name", "units", ["name"])
    op.drop_index("ix_tasks_state_sort", table_name="tasks")
    op.drop_index("ix_tasks_due_sort", table_name="tasks")
    op.drop_column("tasks", "due_sort")
