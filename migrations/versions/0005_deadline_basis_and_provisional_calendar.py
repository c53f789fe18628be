"""deadline basis and the provisional calendar

Tasks keep the deadline in force as written, what its date counts from (the day the
unit received the task, the plan's issue date, an extension request, or a date as
written) and whether working days of a year without the official calendar went into
it, so that a calendar change can count it again. Plans say where 「N个工作日内」
counts from; plans that exist already were counted from their issue date and keep it.
Admins can mark a year the calendar package lacks as entered in full (official).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from datetime import UTC, date, datetime, time
from itertools import count

import sqlalchemy as sa
from alembic import op

from app.domain.deadlines import CHINA, SCHEDULE_REACH
from app.domain.workcalendar import WorkCalendar
from app.models.base import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_official_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_official_years")),
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workdays_from", sa.String(length=20), nullable=False, server_default="received"))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline_text", sa.String(length=100), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("deadline_basis", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("deadline_from", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("calendar_provisional", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(batch_op.f("ix_tasks_calendar_provisional"), ["calendar_provisional"], unique=False)

    op.execute("UPDATE plans SET workdays_from = 'issued'")
    op.execute("UPDATE tasks SET deadline_text = (SELECT p.deadline_text FROM problems p WHERE p.id = tasks.problem_id)")
    counted = "(deadline_text LIKE '%日内%' OR deadline_text LIKE '%天内%')"
    op.execute(
        f"UPDATE tasks SET deadline_basis = CASE WHEN {counted} THEN 'issued' ELSE 'fixed' END, "
        f"deadline_from = CASE WHEN {counted} THEN (SELECT pl.issued_on FROM plans pl WHERE pl.id = tasks.plan_id) END "
        "WHERE deadline_kind = 'date'"
    )
    # dated tasks whose reminders and ladder reach into the first year the package lacks
    this_year = datetime.now(UTC).year
    uncovered = next(y for y in count(this_year - 1) if not WorkCalendar().covers(y))
    since = datetime.combine(date(uncovered, 1, 1) - SCHEDULE_REACH, time(0), tzinfo=CHINA).astimezone(UTC)
    tasks = sa.table(
        "tasks",
        sa.column("calendar_provisional", sa.Boolean()),
        sa.column("deadline_kind", sa.String()),
        sa.column("due_at", UTCDateTime()),
    )
    op.execute(
        tasks.update()
        .where(tasks.c.deadline_kind == "date", tasks.c.due_at >= since)
        .values(calendar_provisional=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_calendar_provisional"))
        batch_op.drop_column("calendar_provisional")
        batch_op.drop_column("deadline_from")
        batch_op.drop_column("deadline_basis")
        batch_op.drop_column("deadline_text")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("workdays_from")
    op.drop_table("calendar_official_years")
