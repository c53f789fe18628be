"""Running counts the database keeps beside the tasks, so figures over a whole plan read a
few hundred rows instead of every task (migration 0026 has the triggers that keep them).

Both are keyed by plan, without the responsible unit: they serve a viewer who sees every
task of the plan (its issuing side, app.services.scope.issuing_side); a viewer below the
issuer counts their own subtree's tasks directly. Never written by the application."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

NO_DUE = date(9999, 12, 31)  # TaskTally.due_day of a task without a date (never overdue)


class TaskTally(Base):
    """How many tasks of each problem are in each state, on the 通报 list or not, and due
    on each UTC day (the day of ``tasks.due_at``, :data:`NO_DUE` without one). Kept by
    triggers on every insert, update and delete of tasks, however it is written."""

    __tablename__ = "task_tally"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), primary_key=True)
    public_notice: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    due_day: Mapped[date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class OpenDelta(Base):
    """The change of a plan's open count (tasks not off the books) on each China day, from
    its history as written: +1 for a task created on the books or taken back onto them
    (reopened), -1 for one leaving them (closed, withdrawn). Kept by a trigger on every
    insert into the append-only task_events, so a backdated or imported entry lands on
    the day it names."""

    __tablename__ = "open_deltas"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    delta: Mapped[int] = mapped_column(Integer)
