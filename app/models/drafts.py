"""Templates of drafted documents an office uploaded (整改情况报告, periodic reports, 通报)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime


class ReportTemplate(Base):
    """One uploaded .docx template of a unit for one kind of document; the latest of a
    unit and kind is the one in use (earlier ones stay, with who uploaded them)."""

    __tablename__ = "report_templates"
    __table_args__ = (Index("ix_report_templates_unit_kind", "unit_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    kind: Mapped[str] = mapped_column(String(20))  # report | period | notice
    file_name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
