"""Reporting obligations (报送): when a unit owes its supervisor a report.

Notices write them as 「每周五报送」, 「月底前报送」, 「季报」 or as a one-off date
(「整改方案及台账6月10日前报送」). Each occurrence is an item of its own with a due date,
reminded and escalated like a task, because a missing report is itself overdue.
"""

from __future__ import annotations

import re
import unicodedata
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from app.domain.deadlines import DeadlineError, parse_deadline
from app.domain.workcalendar import WorkCalendar

RecurrenceKind = Literal["once", "weekly", "monthly", "quarterly"]

ACCEPTED_FORMS: tuple[str, ...] = (
    "每周五",
    "每周一报送",
    "每周",
    "周报",
    "每月",
    "每月底",
    "月底前报送",
    "月报",
    "每季度",
    "每季度末",
    "季报",
    "6月10日前",
    "6月20日前",
)

DEFAULT_WEEKDAY = 4  # Friday: a weekly report covers the working week just ending

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
# 「报送」 and 「上报」 only say that it is a report, which the caller already knows.
_REPORT = r"(?:前?(?:报送|上报))"
_WEEKLY_RE = re.compile(r"每(?:周|星期)(?P<day>[一二三四五六日天])?" + _REPORT + r"?|周报")
# A bare 「月底」 stays a one-off date (parse_deadline's issue-month end); it only
# recurs when it says it is a report or says 「每」.
_MONTHLY_RE = re.compile(r"每月[底末]?" + _REPORT + r"?|月[底末]" + _REPORT + r"|月报")
_QUARTERLY_RE = re.compile(r"每季度?[底末]?" + _REPORT + r"?|季度?[底末]" + _REPORT + r"|季报")


class RecurrenceError(ValueError):
    """A reporting schedule we cannot read; the message lists the forms we can."""

    def __init__(self, text: str) -> None:
        self.text = text
        forms = "、".join(ACCEPTED_FORMS)
        # for a refusal in either language: the catalogue's key and its values
        self.template = "无法识别的报送周期「{text}」。可接受的写法：{forms}"
        self.params = {"text": text, "forms": forms}
        super().__init__(f"无法识别的报送周期「{text}」。可接受的写法：{forms} (unrecognised reporting schedule)")


@dataclass(frozen=True)
class Recurrence:
    """When reports fall due: `weekday` (0=Monday) for weekly, `on` for a one-off."""

    kind: RecurrenceKind
    weekday: int | None = None
    on: date | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("once", "weekly", "monthly", "quarterly"):
            raise ValueError(f"unknown recurrence kind {self.kind!r}")
        if (self.kind == "weekly") != (self.weekday is not None):
            raise ValueError(f"a {self.kind!r} recurrence cannot have weekday={self.weekday!r}")
        if self.weekday is not None and self.weekday not in range(7):
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday!r}")
        if (self.kind == "once") != (self.on is not None):
            raise ValueError(f"a {self.kind!r} recurrence cannot have on={self.on!r}")


def parse_recurrence(text: str, issued_on: date, cal: WorkCalendar) -> Recurrence:
    """Read a reporting schedule written in a notice issued on `issued_on` (China date).

    Weekly without a day means Friday; monthly means month-end and quarterly means
    quarter-end, the only readings the notices use. Anything `parse_deadline` reads as
    a date is a one-off report due that day. Raises RecurrenceError otherwise.
    """
    normal = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    weekly = _WEEKLY_RE.fullmatch(normal)
    if weekly:
        return Recurrence("weekly", weekday=_WEEKDAYS[weekly["day"]] if weekly["day"] else DEFAULT_WEEKDAY)
    if _MONTHLY_RE.fullmatch(normal):
        return Recurrence("monthly")
    if _QUARTERLY_RE.fullmatch(normal):
        return Recurrence("quarterly")
    try:
        deadline = parse_deadline(text, issued_on, cal)
    except DeadlineError as exc:
        raise RecurrenceError(text.strip()) from exc
    if deadline.due_on is None:  # 立行立改 or 长期整改: no day a report could be due
        raise RecurrenceError(text.strip())
    return Recurrence("once", on=deadline.due_on)


def occurrences(rec: Recurrence, start: date, end: date) -> list[date]:
    """The due dates in [start, end], in order (empty when start > end).

    Due dates are calendar dates even on a weekend or holiday: the deadline is what the
    notice set, and the reminder ladder already defers messages to working days.
    """
    if rec.on is not None:  # "once", by Recurrence's invariant
        return [rec.on] if start <= rec.on <= end else []
    if rec.weekday is not None:  # "weekly"
        first = start + timedelta(days=(rec.weekday - start.weekday()) % 7)
        return [first + timedelta(weeks=i) for i in range(max(0, (end - first).days // 7 + 1))]
    months = (3, 6, 9, 12) if rec.kind == "quarterly" else tuple(range(1, 13))
    ends = (_month_end(year, month) for year in range(start.year, end.year + 1) for month in months)
    return [day for day in ends if start <= day <= end]


def _month_end(year: int, month: int) -> date:
    return date(year, month, monthrange(year, month)[1])
