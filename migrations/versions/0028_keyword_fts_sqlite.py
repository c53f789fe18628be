"""the keyword's text indexes on SQLite (FTS5, trigram)

The keyword (q) is a case-insensitive substring match over the problems' text and the
units' rectification accounts. PostgreSQL reads it from pg_trgm indexes (0014); SQLite
scanned every problem and the whole history for every keyword, three times a request
(about 40 ms each at 100,000 tasks). Two FTS5 tables with the trigram tokenizer (SQLite
3.34 or later) now index the same text: ``keyword_problems`` (rowid = problems.id; title,
description, measures) and ``keyword_accounts`` (rowid = task_events.id; the comment of
each 'rectified' entry, the account). Both are contentless (the text stays in its own
table, where the keyword checks it again): triggers keep them in step with every insert,
edit and delete of a problem and every account written to the history (the history is
append-only, so an insert is all it needs).

Each text is indexed with every character written three times (护栏 as 护护护栏栏栏), and
the keyword is looked up the same way: a trigram index cannot look up a word shorter
than three characters, and Chinese words are often two (护栏, 卢氏) or one (县); tripled,
every word is at least three, and a text holds the tripled word exactly where it holds
the word (a hit out of step, in a run of one repeated character, is a text that holds
the word too; the keyword checks every hit against its row anyway). It costs three
times the trigrams of the text.

PostgreSQL: nothing (its trigram indexes are 0014's).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-02
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def tripled(value: str) -> str:
    """SQL for ``value`` with each character written three times (app.services.keyword.tripled):
    json_each over an array of length(value) zeros counts the characters (a trigger may
    not hold a WITH clause)."""
    chars = f"'[' || substr(replace(hex(zeroblob(length({value}))), '00', ',0'), 2) || ']'"
    char = f"substr({value}, j.key + 1, 1)"
    return f"(SELECT group_concat({char} || {char} || {char}, '') FROM json_each({chars}) AS j)"


PROBLEM_TEXT = ", ".join(tripled(f"{{row}}.{c}") for c in ("title", "description", "measures"))

STATEMENTS = (
    "CREATE VIRTUAL TABLE keyword_problems USING fts5(title, description, measures, content='', tokenize='trigram')",
    "CREATE VIRTUAL TABLE keyword_accounts USING fts5(comment, content='', tokenize='trigram')",
    "INSERT INTO keyword_problems (rowid, title, description, measures) "
    f"SELECT id, {PROBLEM_TEXT.format(row='problems')} FROM problems",
    f"INSERT INTO keyword_accounts (rowid, comment) SELECT id, {tripled('comment')} FROM task_events "
    "WHERE to_state = 'rectified'",
    "CREATE TRIGGER keyword_problems_insert AFTER INSERT ON problems BEGIN "
    "INSERT INTO keyword_problems (rowid, title, description, measures) "
    f"VALUES (new.id, {PROBLEM_TEXT.format(row='new')}); END",
    "CREATE TRIGGER keyword_problems_update AFTER UPDATE OF title, description, measures ON problems BEGIN "
    "INSERT INTO keyword_problems (keyword_problems, rowid, title, description, measures) "
    f"VALUES ('delete', old.id, {PROBLEM_TEXT.format(row='old')}); "
    "INSERT INTO keyword_problems (rowid, title, description, measures) "
    f"VALUES (new.id, {PROBLEM_TEXT.format(row='new')}); END",
    "CREATE TRIGGER keyword_problems_delete AFTER DELETE ON problems BEGIN "
    "INSERT INTO keyword_problems (keyword_problems, rowid, title, description, measures) "
    f"VALUES ('delete', old.id, {PROBLEM_TEXT.format(row='old')}); END",
    "CREATE TRIGGER keyword_accounts_insert AFTER INSERT ON task_events WHEN new.to_state = 'rectified' BEGIN "
    f"INSERT INTO keyword_accounts (rowid, comment) VALUES (new.id, {tripled('new.comment')}); END",
)

DROPS = (
    "DROP TRIGGER IF EXISTS keyword_accounts_insert",
    "DROP TRIGGER IF EXISTS keyword_problems_delete",
    "DROP TRIGGER IF EXISTS keyword_problems_update",
    "DROP TRIGGER IF EXISTS keyword_problems_insert",
    "DROP TABLE IF EXISTS keyword_accounts",
    "DROP TABLE IF EXISTS keyword_problems",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for sql in STATEMENTS:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for sql in DROPS:
        op.execute(sql)
