"""Units (a tree of government bodies), users and the admin-maintained holiday table."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.permissions import Role
from app.models.base import Base, UTCDateTime, utcnow

ROLES = tuple(Role)
POSITIONS = ("head", "deputy", "handler")


class Unit(Base):
    """A government body. ``path`` ("/1/4/17/") makes "this unit and all under it" one
    indexed prefix query instead of a recursive walk."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("parent_id", "name"), Index("ix_units_name", "name", "id"))  # lists sort by name

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40), default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    path: Mapped[str] = mapped_column(String(400), index=True, default="")
    depth: Mapped[int] = mapped_column(Integer, default=0)
    robot_kind: Mapped[str | None] = mapped_column(String(20))  # wecom | dingtalk: the unit's group robot
    robot_url: Mapped[str | None] = mapped_column(String(500))
    robot_secret: Mapped[str | None] = mapped_column(String(200))
    # for the notices the unit issues: the 督办编号's prefix (三建督 → 三建督〔2026〕7号),
    # and whom the receiving unit calls about them
    notice_prefix: Mapped[str] = mapped_column(String(40), default="")
    contact_person: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(100), default="")
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    position: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)  # one daily message instead of one per item
    # per workflow event kind (app.domain.events.EVENT_KINDS): off | inbox | digest | mail | instant
    event_prefs: Mapped[dict] = mapped_column(JSON, default=dict)
    lang: Mapped[str] = mapped_column(String(5), default="zh")  # the language messages to this user are written in
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship()


class CalendarOverride(Base):
    """An admin's correction to the working-day calendar (a year the package lacks,
    or a local holiday). True = working day, False = day off."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")


class OfficialYear(Base):
    """A year the calendar package lacks whose holidays and make-up days an admin has
    entered in full from the State Council's notice: its working days stop being
    provisional."""

    __tablename__ = "calendar_official_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(String(200), default="")


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token, the row its SHA-256: signing
    out or changing the password deletes rows, which ends those sessions wherever a copy
    of the cookie is."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ThrottleCounter(Base):
    """One fixed-window counter of the sign-in throttle (app.services.throttle) when there
    is no Redis: ``count`` hits until ``expires_at`` (Unix seconds, UTC)."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
