"""The working-day calendar as configured: the official one plus the admin's table.

When the calendar changes (an admin entry, a year marked official, or an upgraded
calendar package that now covers a provisional year) open tasks are counted again:
a 「N个工作日内」 deadline moves if a day inside its count changed, the move is written
into the task's history, and every open item is looked at by the next sweep, which
plans its reminders and escalations with the new calendar.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from itertools import count

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import Database
from app.domain.deadlines import CHINA, SCHEDULE_REACH, end_of_day_utc, recount
from app.domain.reminders import ladder_columns
from app.domain.workcalendar import WorkCalendar
from app.domain.workflow import OPEN_STATES
from app.models import CalendarOverride, OfficialYear, Submission, Task
from app.schemas import HolidayIn
from app.services.errors import Invalid
from app.services.history import Entry, add_events

_OPEN = [st.value for st in OPEN_STATES]


def load_calendar(s: Session) -> WorkCalendar:
    overrides = {o.day: o.is_workday for o in s.scalars(select(CalendarOverride))}
    return WorkCalendar(overrides, official_years=frozenset(s.scalars(select(OfficialYear.year))))


def set_override(db: Database, data: HolidayIn, now: datetime, actor_id: int | None = None) -> int:
    """Insert or replace one day of the admin holiday table (admins only, checked by
    caller) and count open deadlines again. Returns how many deadlines moved."""
    with db.transaction() as s:
        row = s.get(CalendarOverride, data.day) or CalendarOverride(day=data.day)
        row.is_workday = data.is_workday
        row.note = data.note
        s.add(row)
        s.flush()
        what = "工作日" if data.is_workday else "休息日"
        reason = f"节假日表：{data.day.isoformat()} 设为{what}" + (f"（{data.note}）" if data.note else "")
        # only a count of days that ran over that day can move
        inside = (Task.deadline_from < data.day) & (Task.due_at >= end_of_day_utc(data.day))
        return recalendar(s, load_calendar(s), now, reason, actor_id, inside)


def set_official_year(
    db: Database, year: int, official: bool, now: datetime, actor_id: int | None = None
) -> tuple[str, int]:
    """Mark a year the package lacks as entered in full from the official notice (or
    take that back); its deadlines stop (or start) being provisional. Returns the
    year's source afterwards (see :func:`year_source`) and how many deadlines moved."""
    if not 2000 <= year <= 2100:
        raise Invalid("年份 {year} 超出范围（2000–2100）。", year=year)
    with db.transaction() as s:
        row = s.get(OfficialYear, year)
        if official and row is None:
            s.add(OfficialYear(year=year, note=""))
        elif not official and row is not None:
            s.delete(row)
        s.flush()
        reason = f"{year}年节假日安排{'已按正式通知录入' if official else '改回暂定'}"
        cal = load_calendar(s)
        return year_source(cal, year), recalendar(s, cal, now, reason, actor_id)


def list_overrides(db: Database) -> list[CalendarOverride]:
    return list(db.session().scalars(select(CalendarOverride).order_by(CalendarOverride.day)))


def year_sources(db: Database, today: date) -> list[tuple[int, str]]:
    """Where this year's, next year's and any admin-marked year's working days come
    from: "package", "admin" (marked official) or "provisional"."""
    cal = load_calendar(db.session())
    marked = set(db.session().scalars(select(OfficialYear.year)))
    return [(y, year_source(cal, y)) for y in sorted(marked | {today.year, today.year + 1})]


def year_source(cal: WorkCalendar, year: int) -> str:
    return "package" if cal.covers(year) else "provisional" if cal.is_provisional(year) else "admin"


def reconcile(db: Database, now: datetime) -> int:
    """Count provisional deadlines again once their year has the official calendar,
    however it arrived (typically an upgraded `chinesecalendar`, seen after a restart).

    Cheap when nothing changed: one indexed query for the earliest provisional deadline.
    """
    with db.transaction() as s:
        cal = load_calendar(s)
        first = s.scalar(select(func.min(Task.due_at)).where(Task.calendar_provisional.is_(True), _open()))
        if first is None:
            return 0
        year = next(y for y in count(first.astimezone(CHINA).year) if cal.is_provisional(y))
        # deadlines whose count and schedule lie wholly before that year are settled now
        settled = datetime.combine(date(year, 1, 1) - SCHEDULE_REACH, time(0), tzinfo=CHINA).astimezone(UTC)
        if first >= settled:
            return 0
        where = Task.calendar_provisional.is_(True) & (Task.due_at < settled)
        return recalendar(s, cal, now, "工作日历已更新为正式安排", None, where)


def recalendar(s: Session, cal: WorkCalendar, now: datetime, reason: str, actor_id: int | None, where=None) -> int:
    """Count the open dated tasks (those matching `where`, default all) again under
    `cal`, inside the caller's transaction. A moved deadline is written into the
    task's history; every open item is handed to the next sweep to plan again."""
    # locked, so two ticks settling the same upgrade do not both write the move
    query = select(Task).where(_open(), Task.deadline_kind == "date").with_for_update()
    moved: list[Entry] = []
    for task in s.scalars(query.where(where) if where is not None else query).all():
        old_on = task.due_at.astimezone(CHINA).date()
        dl = recount(task.deadline_text, old_on, task.deadline_from, cal)
        task.calendar_provisional = dl.provisional
        if dl.due_on == old_on:
            continue
        new_at = end_of_day_utc(dl.due_on)
        comment = f"{reason}，整改时限「{task.deadline_text}」由{old_on:%Y年%m月%d日}改为{dl.due_on:%Y年%m月%d日}"
        data = {"old_due_at": task.due_at.isoformat(), "new_due_at": new_at.isoformat(), "reason": reason}
        moved.append(Entry(task, "deadline_moved", actor_id, comment, data))
        if new_at > now:  # no longer overdue: the ladder starts again from the bottom, as after an extension
            for column, value in ladder_columns(0).items():
                setattr(task, column, value)
        task.due_at = new_at
        task.version += 1
        task.updated_at = now
    add_events(s, moved, now)
    for model in (Task, Submission):  # only open items have a next action
        s.execute(update(model).where(model.next_action_at > now).values(next_action_at=now))
    return len(moved)


def _open():
    return Task.state.in_(_OPEN)
