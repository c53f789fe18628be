"""the overdue box's index holds the open tasks only

ix_tasks_overdue_order (migration 0018) gave my work's overdue box each escalation
level's earliest deadlines. It held every task, and the tasks rectified, checked or
closed past their deadline outnumber the open ones: the box's count and list for a level
with no open task walked all of them (17,000 index entries, 15-30 ms at 100,000 tasks,
on every visit to a supervisor's my work), and for a level with no open task the planner,
expecting thousands, scanned the table instead. Now the index holds the open tasks alone,
with the plan and unit the box filters on, so a count is read from the index alone (0.7
and 1.2 ms instead of 31 and 14-42 for the list and the counts, EXPLAIN ANALYZE at
100,000 tasks). The queries write the open states into their SQL
(app.services.tally.open_clause) so that both databases can see they match its condition.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-02
"""

import sqlalchemy as sa

from app.migrate import replace_index

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('identified', 'in_progress')")


def upgrade() -> None:
    replace_index(
        "ix_tasks_overdue_order",
        "tasks",
        ["escalation_level", "due_at", "id", "plan_id", "unit_id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    replace_index("ix_tasks_overdue_order", "tasks", ["escalation_level", "due_at", "id"])
