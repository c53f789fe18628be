"""Ledger file imports: the draft a preview leaves, the job that commits it, its result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UTCDateTime


class LedgerImport(Base):
    """One uploaded ledger: previewed → queued → running → done | failed.

    ``rows`` holds the previewed rows until the job has run (then it is cleared);
    ``result`` or ``error`` stays for the user. ``lease_until`` bounds a running job: past
    it, the job's transaction cannot have committed (it writes ``done`` itself), so the
    import may safely run again.
    """

    __tablename__ = "ledger_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    layout: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), index=True)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[list | None] = mapped_column(JSON)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    error_parts: Mapped[list | None] = mapped_column(JSON)  # the refusal's templates and values
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
