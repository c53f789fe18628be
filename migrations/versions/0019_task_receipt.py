"""签收: a task's receipt (acknowledged by whom and when, or declined) and its own ladder

Tasks get the receipt's state, who acknowledged and when, the last instant to
acknowledge, when the ack ladder started (its outbox epoch), the sweep's columns for that
ladder (swept until, next action, level) and the scope a narrowing gave the unit.

Existing tasks: one already started (or further) counts as acknowledged, without a
person or a time (it was received before 签收 existed); one still 挂账 awaits its
acknowledgement, without a ladder (nothing is owed by a day nobody set).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

from app.models.base import UTCDateTime


revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_STAMPS = ("acknowledged_at", "ack_due_at", "ack_since", "ack_swept_until", "ack_next_action_at")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt", sa.String(20), server_default="acknowledged", nullable=False))
        batch_op.add_column(sa.Column("acknowledged_by_id", sa.Integer(), nullable=True))
        for name in _STAMPS:
            batch_op.add_column(sa.Column(name, UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ack_level", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("scope_note", sa.Text(), server_default="", nullable=False))
        batch_op.create_foreign_key("fk_tasks_acknowledged_by_id_users", "users", ["acknowledged_by_id"], ["id"])
        batch_op.create_index("ix_tasks_ack_next_action_at", ["ack_next_action_at"])
    op.execute("UPDATE tasks SET receipt = 'pending' WHERE state = 'identified'")


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_ack_next_action_at")
        batch_op.drop_constraint("fk_tasks_acknowledged_by_id_users", type_="foreignkey")
        for name in ("scope_note", "ack_level", *reversed(_STAMPS), "acknowledged_by_id", "receipt"):
            batch_op.drop_column(name)
