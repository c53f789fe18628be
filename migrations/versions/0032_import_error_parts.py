"""a failed import's refusal kept as its parts

A ledger import's job fails after the request that started it has answered, so its
refusal was kept as the Chinese message alone, and a reader who switched the pages to
English read it in Chinese. Its templates and values are kept beside the message, to be
worded in the reader's language when the result is shown.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger_imports", sa.Column("error_parts", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("ledger_imports", "error_parts")
