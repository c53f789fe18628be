"""the overdue tasks' units read from the index alone

The dashboard's units chart counts the open tasks past their deadline per unit (the top
twenty). ``ix_tasks_state_due`` found those tasks, but each one's unit and plan came from
the table, one row fetch per overdue task (about 40,000 at 100,000 tasks). The same index
with the unit and plan after its columns answers the count from the index alone; it
replaces the old one rather than adding a fifteenth index to every write of a task.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tasks_state_due", table_name="tasks")
    op.create_index("ix_tasks_state_due", "tasks", ["state", "due_at", "unit_id", "plan_id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_state_due", table_name="tasks")
    op.create_index("ix_tasks_state_due", "tasks", ["state", "due_at"])
