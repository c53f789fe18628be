"""overdue box order

My work's overdue box lists the highest escalation level first, then the earliest
deadline, and counts each level up to the lists' cap: both read each level's tasks from
this index by deadline instead of sorting or counting every overdue task.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_overdue_order", "tasks", ["escalation_level", "due_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_overdue_order", table_name="tasks")
