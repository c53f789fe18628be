"""keyword trigram indexes

The keyword (q) is a case-insensitive substring match over the problems' text and the
units' rectification accounts. On PostgreSQL a pg_trgm GIN index on each serves
``ILIKE '%word%'`` for words of three characters or more, so a rare word no longer scans
the whole history (the accounts: only the 'rectified' entries, a partial index). SQLite
cannot read an index for a substring: there the indexes are empty (WHERE 0).

pg_trgm is a trusted extension (PostgreSQL 13+): the database owner who runs the
migrations may create it. The downgrade keeps the extension (other objects may use it).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_problems_keyword", "problems", ("title", "description", "measures"), None),
    ("ix_task_events_account_keyword", "task_events", ("comment",), "to_state = 'rectified'"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, columns, where in INDEXES:
        op.create_index(
            name,
            table,
            list(columns),
            postgresql_using="gin",
            postgresql_ops=dict.fromkeys(columns, "gin_trgm_ops"),
            postgresql_where=sa.text(where) if where else None,
            sqlite_where=sa.text("0"),
        )


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
