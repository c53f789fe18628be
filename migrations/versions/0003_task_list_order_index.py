"""task list order index

The task list is ordered by deadline (NULLS LAST, as PostgreSQL's btree stores them)
and id; this index lets a 50-row page stop after 50 rows instead of sorting them all.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_due_order", "tasks", ["due_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_due_order", table_name="tasks")
