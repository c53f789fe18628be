"""督办编号: the number a supervision notice (督办单) carries, given once and kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime
from app.models.org import Unit, User


class NoticeNumber(Base):
    """One per task: the issuing unit's running number for the year, in the order its
    notices were first issued. A row is never deleted or renumbered, so a number printed
    on paper always names the same task."""

    __tablename__ = "notice_numbers"
    __table_args__ = (UniqueConstraint("unit_id", "year", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    unit: Mapped[Unit] = relationship()
    issued_by: Mapped[User] = relationship()
