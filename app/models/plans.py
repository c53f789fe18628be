"""Plans, their phases, problems with stage goals, tasks, task history and evidence."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.workflow import OPEN_STATES
from app.models.base import Base, UTCDateTime, far_future, utcnow
from app.models.org import Unit, User
from app.models.schedule import Schedulable, on_notice_list_index


class Plan(Base):
    """整改方案: issued by a supervising unit, answered by the units under it."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    doc_number: Mapped[str] = mapped_column(String(100), default="")
    issuing_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=True)
    reminder_policy: Mapped[dict | None] = mapped_column(JSON)  # overrides of config defaults
    # 「N个工作日内」 counts from the day a unit receives its task, or from the issue date
    workdays_from: Mapped[str] = mapped_column(String(20), default="received")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # an edit names the one it read
    # An answering plan (各县…制定整改方案): a unit that received tasks from ``answers_plan_id``
    # answers it with its own plan for the units under it. ``holds_received``: a received
    # task waits for the problems that answer it (it cannot be rectified while they are
    # open); ``supervised_above``: supervisors above the issuer act on the plan too (a plain
    # plan: always; an answering plan: only if its issuer says so, else those above read it)
    answers_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), index=True)
    holds_received: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    supervised_above: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    issuing_unit: Mapped[Unit] = relationship()
    phases: Mapped[list[Phase]] = relationship(
        order_by="Phase.seq", cascade="all, delete-orphan", back_populates="plan"
    )


class Phase(Base):
    """阶段: a campaign phase (动员部署 / 排查整改 / 总结验收) with its end date."""

    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    deadline_text: Mapped[str] = mapped_column(String(100))
    ends_on: Mapped[date | None] = mapped_column(Date)

    plan: Mapped[Plan] = relationship(back_populates="phases")


def keyword_index(name: str, *columns: str, where: str | None = None) -> Index:
    """A trigram index (pg_trgm, GIN) that the keyword's ``ILIKE '%word%'`` reads on
    PostgreSQL (app.services.keyword.keyword_clause) for words of three characters or more.
    SQLite cannot read an index for a substring, so there the index is empty (WHERE 0)
    and costs nothing; the keyword scans the rows as before."""
    return Index(
        name,
        *columns,
        postgresql_using="gin",
        postgresql_ops=dict.fromkeys(columns, "gin_trgm_ops"),
        postgresql_where=text(where) if where else None,
        sqlite_where=text("0"),
    )


class Problem(Base):
    """问题: one line of the problem list. Its state is rolled up from its tasks."""

    __tablename__ = "problems"
    __table_args__ = (
        UniqueConstraint("plan_id", "seq"),
        keyword_index("ix_problems_keyword", "title", "description", "measures"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(100), default="")
    nature: Mapped[str] = mapped_column(String(20))  # common | individual
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    measures: Mapped[str] = mapped_column(Text, default="")
    deadline_text: Mapped[str] = mapped_column(String(100))
    deadline_kind: Mapped[str] = mapped_column(String(20))  # date | immediate | long_term
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remarks: Mapped[str] = mapped_column(Text, default="")
    reported_by_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # an edit names the one it read
    # 举一反三: in an answering plan, the received task (of the plan answered) this problem answers
    answers_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", use_alter=True), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    plan: Mapped[Plan] = relationship()
    milestones: Mapped[list[Milestone]] = relationship(
        order_by="Milestone.seq", cascade="all, delete-orphan", back_populates="problem"
    )


class Milestone(Base):
    """阶段目标: a dated stage goal of a long-term problem."""

    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    deadline_text: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    problem: Mapped[Problem] = relationship(back_populates="milestones")


# open tasks (挂账, 整改中) as a partial index's condition: the queries write these states
# into their SQL (app.services.tally.open_clause), which is what lets either database use it
_OPEN_WHERE = text("state IN ({})".format(", ".join(f"'{st.value}'" for st in OPEN_STATES)))
_OPEN_ONLY = {"postgresql_where": _OPEN_WHERE, "sqlite_where": _OPEN_WHERE}


class Task(Schedulable, Base):
    """整改任务: one problem for one responsible unit; the thing that changes state.

    ``version`` is bumped by every change; a writer must name the version it read.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("problem_id", "unit_id"),
        Index("ix_tasks_plan_state", "plan_id", "state"),
        Index("ix_tasks_unit_state", "unit_id", "state"),
        # + the units chart, and the live part of the figures (due soon, overdue, by plan
        # and 通报) read from the index alone
        Index("ix_tasks_state_due", "state", "due_at", "unit_id", "plan_id", "public_notice"),
        # the task list's orders (app.services.tasks.ORDERS), so a page seeks to its first row
        # and stops after its last: by deadline either way (read backwards for the reverse),
        # by state and deadline, by unit (units by name, then each unit's tasks), by last update
        Index("ix_tasks_due_sort", "due_sort", "id"),
        Index("ix_tasks_state_sort", "state", "due_sort", "id"),
        Index("ix_tasks_unit_order", "unit_id", "id"),
        Index("ix_tasks_updated_order", "updated_at", "id"),
        Index("ix_tasks_due_order", "due_at", "id"),  # my work's boxes, by deadline
        # my work's overdue box: each level's earliest deadlines, and its count per level,
        # of the open tasks only (the closed ones past their deadline outnumber them), with
        # the plan and unit the box filters on, so that it is read from the index alone
        Index("ix_tasks_overdue_order", "escalation_level", "due_at", "id", "plan_id", "unit_id", **_OPEN_ONLY),
        # my work's declined box (拒收, every page's header): the few declined tasks, not
        # every open task of the plans supervised
        Index("ix_tasks_receipt_state", "receipt", "state"),
        on_notice_list_index("tasks"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    state: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deadline_kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The deadline in force as written (the problem's, or an approved extension's), what
    # its date was computed from (app.domain.deadlines.Basis; None without a date) and,
    # for a count of days, the day the count started: enough to count it again when the
    # working-day calendar changes. calendar_provisional: working days of a year without
    # the official calendar went into the date or its reminders.
    deadline_text: Mapped[str] = mapped_column(String(100), default="")
    deadline_basis: Mapped[str | None] = mapped_column(String(20))
    deadline_from: Mapped[date | None] = mapped_column(Date)
    # The deadline as the lists order by it, computed by the database: ``due_at``, or for a
    # task without one (长期) the far future, so "no deadline last" is a plain index order
    # on both databases (SQLite's indexes put NULLs first) and a page's position is a
    # value without NULLs to compare with. Loaded only where a list asks for it.
    due_sort: Mapped[datetime] = mapped_column(
        UTCDateTime, Computed(func.coalesce(literal_column("due_at"), far_future())), deferred=True
    )
    calendar_provisional: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    rectified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 签收 (app.domain.receipt): the receipt's state, who acknowledged and when, and its own
    # ladder: the last instant to acknowledge, when that ladder started (its outbox epoch),
    # and the sweep's columns for it, like Schedulable's for the deadline's ladder.
    receipt: Mapped[str] = mapped_column(String(20), default="pending")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_swept_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    ack_level: Mapped[int] = mapped_column(Integer, default=0)
    # 缩小范围: what the problem asks of this unit, when the issuing side narrowed it
    scope_note: Mapped[str] = mapped_column(Text, default="")

    problem: Mapped[Problem] = relationship(foreign_keys=[problem_id])
    unit: Mapped[Unit] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])


class TaskEvent(Base):
    """Append-only history of a task. Database triggers refuse UPDATE and DELETE, so
    not even a script with database access can rewrite who did what and when; and each
    row is a link of its task's hash chain, so whoever gets past them is found out
    (``flask verify-history``). Written only by :func:`app.services.history.append`."""

    __tablename__ = "task_events"
    __table_args__ = (
        UniqueConstraint("task_id", "seq"),
        # the units' rectification accounts, the history the keyword searches
        keyword_index("ix_task_events_account_keyword", "comment", where="to_state = 'rectified'"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # created | transition
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    # the task's hash chain (app.domain.chain): this link's algorithm, the previous
    # link's hash (None for seq 1) and the hash over this event, its evidence and prev
    chain_alg: Mapped[str | None] = mapped_column(String(10))
    chain_prev: Mapped[str | None] = mapped_column(String(64))
    chain_hash: Mapped[str | None] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship()


class Evidence(Base):
    """佐证材料: a file kept outside the database under a random name."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("task_events.id"))
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    uploaded_by: Mapped[User] = relationship()


class Lookback(Schedulable, Base):
    """回头看: a re-check of a closed task by the issuing side, due ``days`` after it was
    struck off (the plan's policy says how many). pending → passed (confirmed) or failed
    (the task reopens as 问题反弹, with the reason), the states of app.domain.rechecks.
    Reminded and escalated by the sweep like a task, to the issuing unit's people."""

    __tablename__ = "lookbacks"
    __table_args__ = (
        UniqueConstraint("task_id", "closed_seq"),
        # my work's look-back box (every page's header): the pending ones due soon, read
        # from here rather than from every task struck off (SQLite's choice without it)
        Index("ix_lookbacks_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # the task's unit
    closed_seq: Mapped[int] = mapped_column(Integer)  # the closing step in the task's history
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    task: Mapped[Task] = relationship()
