"""The working-day calendar as configured: the official one plus the admin's table."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database
from app.domain.workcalendar import WorkCalendar
from app.models import CalendarOverride
from app.schemas import HolidayIn


def load_calendar(s: Session) -> WorkCalendar:
    overrides = {o.day: o.is_workday for o in s.scalars(select(CalendarOverride))}
    return WorkCalendar(overrides)


def set_override(db: Database, data: HolidayIn) -> CalendarOverride:
    """Insert or replace one day of the admin holiday table (admins only, checked by caller)."""
    with db.transaction() as s:
        row = s.get(CalendarOverride, data.day) or CalendarOverride(day=data.day)
        row.is_workday = data.is_workday
        row.note = data.note
        s.add(row)
    return row


def list_overrides(db: Database) -> list[CalendarOverride]:
    return list(db.session().scalars(select(CalendarOverride).order_by(CalendarOverride.day)))
