"""task list sort indexes

Every order the task list offers is read from an index, so a page of 50 stops after its
rows at any size of the ledger instead of sorting every visible task: "-due" reads
ix_tasks_due_order backwards, "unit" walks units by name (ix_units_name) into each unit's
tasks by id (ix_tasks_unit_order), "updated" reads ix_tasks_updated_order backwards.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_unit_order", "tasks", ["unit_id", "id"])
    op.create_index("ix_tasks_updated_order", "tasks", ["updated_at", "id"])
    op.create_index("ix_units_name", "units", ["name"])


def downgrade() -> None:
    op.drop_index("ix_units_name", table_name="units")
    op.drop_index("ix_tasks_updated_order", table_name="tasks")
    op.drop_index("ix_tasks_unit_order", table_name="tasks")
