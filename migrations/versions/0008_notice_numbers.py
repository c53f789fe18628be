"""督办单: each issuing unit's notice prefix and contact, and the notice numbers given

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

from app.models.base import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notice_prefix", sa.String(length=40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("contact_person", sa.String(length=100), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=40), nullable=False, server_default=""))
    op.create_table(
        "notice_numbers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("tasks.id"), nullable=False, unique=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.UniqueConstraint("unit_id", "year", "seq"),
    )


def downgrade() -> None:
    op.drop_table("notice_numbers")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_column("contact_phone")
        batch_op.drop_column("contact_person")
        batch_op.drop_column("notice_prefix")
