"""task tallies: running counts per plan that the database keeps, so the dashboard, the
plan page and the plans' figures read them instead of scanning every task

* ``task_tally``: tasks per (plan, problem, state, 通报 or not, UTC day of due_at), kept
  by triggers on tasks (PostgreSQL: one statement trigger per INSERT / UPDATE / DELETE
  over its transition tables, so a ledger import of thousands of rows costs one grouped
  upsert; SQLite: row triggers, UPDATE only when a counted column changes).
* ``open_deltas``: per (plan, China day) the change of the open count (not closed or
  withdrawn), kept by a trigger on inserts into task_events (append-only: nothing else
  can change it). A created entry counts +1 unless it starts off the books; a transition
  +1 when it takes a task back onto the books, -1 when it takes one off.

Both tables are filled from the rows already there. A later migration that rebuilds tasks
or task_events on SQLite (batch mode copies the table) drops these triggers and must
create them again.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_OFF = "('closed', 'withdrawn')"  # app.domain.workflow.OFF_THE_BOOKS
_KEY = "plan_id, problem_id, state, public_notice, due_day"


def _delta(e: str) -> str:
    """The change of the open count an event row ``e`` makes (as app.services.tally)."""
    return (
        f"CASE WHEN {e}.kind = 'created' THEN CASE WHEN {e}.to_state IN {_OFF} THEN 0 ELSE 1 END "
        f"WHEN {e}.kind = 'transition' THEN CASE "
        f"WHEN {e}.from_state IN {_OFF} AND {e}.to_state NOT IN {_OFF} THEN 1 "
        f"WHEN {e}.from_state NOT IN {_OFF} AND {e}.to_state IN {_OFF} THEN -1 ELSE 0 END ELSE 0 END"
    )


def _pg_key(rows: str, sign: str) -> str:
    return (
        f"SELECT plan_id, problem_id, state, public_notice, "
        f"COALESCE(CAST(due_at AT TIME ZONE 'UTC' AS DATE), DATE '9999-12-31') AS due_day, {sign}1 AS d FROM {rows}"
    )


_PG = f"""
CREATE FUNCTION task_tally_sync() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO task_tally AS t ({_KEY}, n)
    SELECT {_KEY}, sum(d) FROM ({_pg_key("new_rows", "")}) c
    GROUP BY {_KEY} ORDER BY {_KEY}
    ON CONFLICT ({_KEY}) DO UPDATE SET n = t.n + excluded.n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO task_tally AS t ({_KEY}, n)
    SELECT {_KEY}, sum(d) FROM ({_pg_key("new_rows", "")} UNION ALL {_pg_key("old_rows", "-")}) c
    GROUP BY {_KEY} HAVING sum(d) <> 0 ORDER BY {_KEY}
    ON CONFLICT ({_KEY}) DO UPDATE SET n = t.n + excluded.n;
  ELSE
    INSERT INTO task_tally AS t ({_KEY}, n)
    SELECT {_KEY}, sum(d) FROM ({_pg_key("old_rows", "-")}) c
    GROUP BY {_KEY} ORDER BY {_KEY}
    ON CONFLICT ({_KEY}) DO UPDATE SET n = t.n + excluded.n;
  END IF;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER task_tally_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION task_tally_sync();
CREATE TRIGGER task_tally_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION task_tally_sync();
CREATE TRIGGER task_tally_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION task_tally_sync();

CREATE FUNCTION open_deltas_sync() RETURNS trigger AS $$
BEGIN
  INSERT INTO open_deltas AS o (plan_id, day, delta)
  SELECT t.plan_id, CAST(e.at AT TIME ZONE 'Asia/Shanghai' AS DATE), sum({_delta("e")})
  FROM new_rows e JOIN tasks t ON t.id = e.task_id
  GROUP BY 1, 2 HAVING sum({_delta("e")}) <> 0 ORDER BY 1, 2
  ON CONFLICT (plan_id, day) DO UPDATE SET delta = o.delta + excluded.delta;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;
CREATE TRIGGER open_deltas_insert AFTER INSERT ON task_events REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION open_deltas_sync();
"""


def _lite_upsert(row: str, sign: str) -> str:
    return (
        f"INSERT INTO task_tally ({_KEY}, n) VALUES ({row}.plan_id, {row}.problem_id, {row}.state, "
        f"{row}.public_notice, COALESCE(date({row}.due_at), '9999-12-31'), {sign}1) "
        f"ON CONFLICT ({_KEY}) DO UPDATE SET n = n {sign or '+'} 1;"
    )


_COUNTED = ("plan_id", "problem_id", "state", "public_notice", "due_at")
_LITE = (
    f"CREATE TRIGGER task_tally_insert AFTER INSERT ON tasks BEGIN {_lite_upsert('NEW', '')} END",
    f"CREATE TRIGGER task_tally_update AFTER UPDATE OF {', '.join(_COUNTED)} ON tasks WHEN "
    + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _COUNTED)
    + f" BEGIN {_lite_upsert('OLD', '-')} {_lite_upsert('NEW', '')} END",
    f"CREATE TRIGGER task_tally_delete AFTER DELETE ON tasks BEGIN {_lite_upsert('OLD', '-')} END",
    f"CREATE TRIGGER open_deltas_insert AFTER INSERT ON task_events WHEN ({_delta('NEW')}) <> 0 BEGIN "
    f"INSERT INTO open_deltas (plan_id, day, delta) SELECT plan_id, date(NEW.at, '+8 hours'), {_delta('NEW')} "
    "FROM tasks WHERE id = NEW.task_id ON CONFLICT (plan_id, day) DO UPDATE SET delta = delta + excluded.delta; END",
)


def _backfill(pg: bool) -> None:
    due_day = (
        "COALESCE(CAST(due_at AT TIME ZONE 'UTC' AS DATE), DATE '9999-12-31')"
        if pg
        else ("COALESCE(date(due_at), '9999-12-31')")
    )
    day = "CAST(e.at AT TIME ZONE 'Asia/Shanghai' AS DATE)" if pg else "date(e.at, '+8 hours')"
    op.execute(
        f"INSERT INTO task_tally ({_KEY}, n) SELECT plan_id, problem_id, state, public_notice, {due_day}, count(*) "
        "FROM tasks GROUP BY 1, 2, 3, 4, 5"
    )
    op.execute(
        f"INSERT INTO open_deltas (plan_id, day, delta) SELECT t.plan_id, {day}, sum({_delta('e')}) "
        f"FROM task_events e JOIN tasks t ON t.id = e.task_id GROUP BY 1, 2 HAVING sum({_delta('e')}) <> 0"
    )


def upgrade() -> None:
    op.create_table(
        "task_tally",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("public_notice", sa.Boolean(), nullable=False),
        sa.Column("due_day", sa.Date(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_task_tally_plan_id_plans")),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.id"], name=op.f("fk_task_tally_problem_id_problems")),
        sa.PrimaryKeyConstraint(
            "plan_id", "problem_id", "state", "public_notice", "due_day", name=op.f("pk_task_tally")
        ),
    )
    op.create_table(
        "open_deltas",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_open_deltas_plan_id_plans")),
        sa.PrimaryKeyConstraint("plan_id", "day", name=op.f("pk_open_deltas")),
    )
    pg = op.get_bind().dialect.name == "postgresql"
    _backfill(pg)
    if pg:
        op.execute(_PG)
    else:
        for sql in _LITE:
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER open_deltas_insert ON task_events")
        op.execute("DROP FUNCTION open_deltas_sync()")
        for op_name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER task_tally_{op_name} ON tasks")
        op.execute("DROP FUNCTION task_tally_sync()")
    else:
        for name in ("open_deltas_insert", "task_tally_insert", "task_tally_update", "task_tally_delete"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("open_deltas")
    op.drop_table("task_tally")
