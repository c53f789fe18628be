"""Spot checks (抽查): a recorded, reproducible draw of finished tasks to re-check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.rechecks import RecheckState
from app.models.base import Base, UTCDateTime
from app.models.plans import Task


class SpotCheck(Base):
    __tablename__ = "spot_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    drawn_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seed: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    weights: Mapped[dict] = mapped_column(JSON, default=dict)  # unit id -> weight used

    items: Mapped[list[SpotCheckItem]] = relationship(order_by="SpotCheckItem.id", back_populates="check")


class SpotCheckItem(Base):
    __tablename__ = "spot_check_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    spot_check_id: Mapped[int] = mapped_column(ForeignKey("spot_checks.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    result: Mapped[str] = mapped_column(String(20), default=RecheckState.PENDING.value)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")

    check: Mapped[SpotCheck] = relationship(back_populates="items")
    task: Mapped[Task] = relationship()
