"""the keyword's short words on PostgreSQL (pg_trgm over the tripled text)

pg_trgm cannot look up a word shorter than three characters (0014's indexes): for 县 or
护栏 PostgreSQL read the whole accounts index and checked every account again (about
40 ms at 100,000 tasks, and ten times that at 1,000,000). As SQLite's FTS5 tables do
(0028), two more trigram indexes hold the same texts with every character tripled
(``regexp_replace(x, '(.)', '\\1\\1\\1', 'g')``: 护栏 as 护护护栏栏栏), where a word of one or
two characters, tripled, is three or six: app.services.keyword.keyword_clause looks a short
word up through them (and checks each hit against the text itself). Words of three
characters or more keep 0014's indexes.

SQLite: nothing (0028 serves every length there).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-02
"""

from alembic import op

from app.migrate import create_index_online

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def tripled(column: str) -> str:
    """The indexed expression; app.services.keyword.tripled_text writes the same one."""
    return f"(regexp_replace({column}, '(.)', '\\1\\1\\1', 'g')) gin_trgm_ops"


INDEXES = (
    ("ix_problems_keyword_short", "problems", ("title", "description", "measures"), ""),
    ("ix_task_events_account_keyword_short", "task_events", ("comment",), " WHERE to_state = 'rectified'"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, columns, where in INDEXES:
        create_index_online(name, f"ON {table} USING gin ({', '.join(map(tripled, columns))}){where}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _, _, _ in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
