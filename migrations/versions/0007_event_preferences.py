"""workflow event notifications: each user's choice per event kind, and their language

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_prefs", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("lang", sa.String(length=5), nullable=False, server_default="zh"))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("lang")
        batch_op.drop_column("event_prefs")
