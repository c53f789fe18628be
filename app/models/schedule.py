"""What the reminder engine keeps in the database.

Due work is data: every open item carries ``next_action_at`` (indexed), the instant the
sweep must look at it next, and ``swept_until``, the instant up to which its steps were
handled. Every notification is an outbox row with a unique key, so however often or
concurrently the sweep runs, a step yields one row per recipient and channel.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.extensions import ExtensionState
from app.domain.submissions import SubmissionState
from app.models.base import Base, UTCDateTime, utcnow
from app.models.org import Unit, User


class Schedulable:
    """Columns shared by everything the sweep reminds and escalates (tasks, submissions)."""

    active_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # created, or last extension
    swept_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    public_notice: Mapped[bool] = mapped_column(Boolean, default=False)  # on the 通报 list
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


def on_notice_list_index(table: str) -> Index:
    """The items on the 通报 list (``public_notice``), which the sweep's daily list reads
    (app.services.sweep._notice_lists) at every sweep that puts one there: an index of
    those few rows instead of a scan of every item (about 30 ms at 100,000 tasks). Its
    condition is the queries' own (``IS TRUE`` / ``IS 1``), which is what lets either
    database use it."""
    return Index(
        f"ix_{table}_notice_list",
        "plan_id",
        postgresql_where=text("public_notice IS TRUE"),
        sqlite_where=text("public_notice IS 1"),
    )


class Obligation(Base):
    """报送要求: what every responsible unit of a plan must submit, once or recurring."""

    __tablename__ = "obligations"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    schedule_text: Mapped[str] = mapped_column(String(100))  # as written: 6月10日前, 每周五, 每月底
    kind: Mapped[str] = mapped_column(String(20))  # once | weekly | monthly | quarterly
    # 「从台账生成」: each report is drafted from the unit's ledger changes in this layout
    # (app.domain.ledger_layouts.LAYOUTS); None: the unit writes its report itself
    ledger_layout: Mapped[str | None] = mapped_column(String(20))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Submission(Schedulable, Base):
    """One report one unit owes for one occurrence of an obligation.

    pending → submitted → accepted, or submitted → returned → submitted again.
    A pending or returned submission past its date is overdue and escalates like a task.
    """

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("obligation_id", "unit_id", "due_on"), on_notice_list_index("submissions"))

    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligations.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default=SubmissionState.PENDING.value)
    note: Mapped[str] = mapped_column(Text, default="")
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_stored: Mapped[str | None] = mapped_column(String(64))
    file_type: Mapped[str | None] = mapped_column(String(100))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    # 整改方案及台账: the unit's answering plan handed in as this report (no retyping)
    answer_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    obligation: Mapped[Obligation] = relationship()
    unit: Mapped[Unit] = relationship()


class ExtensionRequest(Base):
    """延期: a unit asks for a later deadline; the supervising side decides."""

    __tablename__ = "extension_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    new_deadline_text: Mapped[str] = mapped_column(String(100))
    new_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default=ExtensionState.PENDING.value)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str] = mapped_column(Text, default="")

    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])


class Notification(Base):
    """The outbox. ``key`` is unique per (item, step, recipient, channel).

    pending → sending (claimed with a lease under ``claim_token``) → sent; a temporary
    failure goes back to pending with a later ``next_attempt_at``; a permanent one ends in
    failed. cancelled: the item changed state first. folded: a stale reminder merged into
    a later message. held: waiting for the recipient's daily digest. summarized: one of
    many items for a group robot, or one of a person's overdue escalations in a sweep,
    sent as one summary (or escalation notice) row. unconfirmed: handed to the far
    end twice without an answer either time (it may well have arrived; not sent again).

    ``in_flight_at`` is set (and committed) just before the message is handed to the far
    end and cleared with its verdict, so a row found claimable with it still set was in
    the hands of a worker that died or lost its database: the far end may have it
    (``unconfirmed`` counts such hand-overs, and ``possibly_sent_twice`` tells the admin
    that a second copy, with the same Message-ID or idempotency key, may have gone out).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_inbox", "recipient_id", "channel", "read_at"),
        Index("ix_notifications_item", "item_type", "item_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(250), unique=True)
    item_type: Mapped[str] = mapped_column(String(20))  # task | submission | digest
    item_id: Mapped[int] = mapped_column(Integer)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    step: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[int] = mapped_column(Integer, default=0)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # for group robots
    channel: Mapped[str] = mapped_column(String(20))  # inbox | email | wecom | dingtalk | webhook
    status: Mapped[str] = mapped_column(String(20), default="pending")
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    in_flight_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unconfirmed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    possibly_sent_twice: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")

    recipient: Mapped[User | None] = relationship()


class DeliveryGate(Base):
    """What one destination (the mail relay, the webhook, one group robot) may take now:
    the instants of its recent sends, for its rate limit, a block the platform itself
    announced (a robot answering "too fast"), and whether a message to it is in flight:
    a rated destination takes one message at a time, so that once the platform says
    "blocked" no other worker has a message already on its way. Shared by every worker."""

    __tablename__ = "delivery_gates"

    destination: Mapped[str] = mapped_column(String(100), primary_key=True)
    sends: Mapped[list] = mapped_column(JSON, default=list)  # unix seconds, oldest first
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    busy_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a message is in flight (one at a time)
    reason: Mapped[str] = mapped_column(Text, default="")


class SchedulerLock(Base):
    """A lease so that only one embedded scheduler sweeps, however many web processes run."""

    __tablename__ = "scheduler_locks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
