"""Turn deadlines as notices write them (「6月20日前」, 「立行立改」) into dates.

Notices rarely write the year and never the time of day, so the year comes from the
issue date and a date deadline means the end of that day in China time. The original
text is always kept beside the result: it is what the issuing unit actually wrote.
"""

from __future__ import annotations

import re
import unicodedata
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from app.domain.workcalendar import WorkCalendar

CHINA = ZoneInfo("Asia/Shanghai")

ACCEPTED_FORMS: tuple[str, ...] = (
    "6月20日",
    "6月20日前",
    "7月底",
    "月底",
    "6月中旬前",
    "5月底前",
    "立行立改",
    "5个工作日内",
    "10日内",
    "2022-06-20",
    "2022年6月20日",
    "长期整改",
)

DeadlineKind = Literal["date", "immediate", "long_term"]
# The reminders before a deadline (7 days ahead by default) and the escalation ladder
# after it (level 3 after 5 working days) fall within this reach of the due day.
SCHEDULE_REACH = timedelta(days=14)
# What a dated deadline was computed from: the date as written (fixed), or a count of
# days from the plan's issue date, from the day the unit received the task, or from
# the day an extension was asked for.
Basis = Literal["fixed", "issued", "received", "requested"]

_REASONS: dict[str, tuple[str, str]] = {
    "unrecognised": ("无法识别的整改时限「{text}」", "unrecognised deadline"),
    "empty": ("整改时限为空", "the deadline is empty"),
    "invalid_date": ("整改时限「{text}」不是有效日期", "not a valid calendar date"),
}


class DeadlineError(ValueError):
    """A deadline text we cannot turn into a date; the message says how to write one.

    `reason` ("unrecognised", "empty" or "invalid_date") is for callers that want to
    react differently; `text` is the stripped text as given.
    """

    def __init__(self, text: str, reason: str = "unrecognised") -> None:
        problem, gloss = _REASONS[reason]
        self.text = text
        self.reason = reason
        forms = "、".join(ACCEPTED_FORMS)
        # for a refusal in either language: the catalogue's key and its values
        self.template, self.params = problem + "。可接受的写法：{forms}", {"text": text, "forms": forms}
        super().__init__(f"{problem.format(text=text)}。可接受的写法：{forms} ({gloss})")


@dataclass(frozen=True)
class Deadline:
    """A parsed deadline; `text` is kept verbatim because it is what the notice said.

    `counted_from` is the day a 「N个工作日内」 or 「N日内」 count starts from (None for a
    date as written). `provisional` says that working days in a year without the
    official calendar went into it, or into the reminders and escalations around it.
    """

    text: str
    kind: DeadlineKind
    due_on: date | None
    counted_from: date | None = None
    provisional: bool = False

    def __post_init__(self) -> None:
        if (self.kind == "date") != (self.due_on is not None):
            raise ValueError(f"a {self.kind!r} deadline cannot have due_on={self.due_on!r}")

    @property
    def due_at(self) -> datetime | None:
        """The last second of `due_on` in China time, in UTC; None without a date."""
        return None if self.due_on is None else end_of_day_utc(self.due_on)


def end_of_day_utc(day: date) -> datetime:
    """23:59:59 China time on `day`, as an aware UTC datetime (15:59:59 UTC)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=CHINA).astimezone(UTC)


# 「前」 and friends add nothing: a date deadline already means "by the end of the day".
_SUFFIX = r"(?:(?:之前|以前|前)(?:完成)?|完成|止)?"
_WITHIN_SUFFIX = r"(?:完成)?"
_YEAR = r"(?:(?P<year>[0-9]{4})年)?"
_MONTH = r"(?P<month>[0-9]{1,2})月"
# 1-999 in digits, or 一..九十九 in Chinese numerals (two also as 两, but not in 二十).
_COUNT = (
    r"(?P<n>[1-9][0-9]{0,2}"
    r"|[一二两三四五六七八九]"
    r"|[二三四五六七八九]?十[一二三四五六七八九]?)"
)

_DAY_RE = re.compile(_YEAR + _MONTH + r"(?P<day>[0-9]{1,2})[日号]" + _SUFFIX)
_NUMERIC_RE = re.compile(r"(?P<year>[0-9]{4})(?P<sep>[-/.])(?P<month>[0-9]{1,2})(?P=sep)(?P<day>[0-9]{1,2})" + _SUFFIX)
_MONTH_END_RE = re.compile(_YEAR + _MONTH + r"[底末]" + _SUFFIX)
_ISSUE_MONTH_END_RE = re.compile(r"本?月[底末]" + _SUFFIX)
_DEKAD_RE = re.compile(_YEAR + _MONTH + r"(?P<dekad>[上中下])旬" + _SUFFIX)
_WORKDAYS_RE = re.compile(_COUNT + r"个工作日内" + _WITHIN_SUFFIX)
_CALENDAR_DAYS_RE = re.compile(_COUNT + r"[日天]内" + _WITHIN_SUFFIX)

_IMMEDIATE = frozenset({"立行立改", "立即整改", "即知即改"})
_LONG_TERM = frozenset({"长期整改", "长期坚持", "长期"})
_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)} | {"两": 2}


def parse_deadline(text: str, issued_on: date, calendar: WorkCalendar, counts_from: date | None = None) -> Deadline:
    """Parse a deadline written in a notice issued on `issued_on` (a China-time date).

    Month-day forms take the issue year, or the next year when the month is earlier
    than the issue month (a December plan writing 「1月底」 means next January).
    A 旬 deadline means the end of that ten-day period: 上旬 the 10th, 中旬 the 20th,
    下旬 the last day of the month. 「N个工作日内」 and 「N日内」 count from `counts_from`
    (default: the issue date); the start day itself never counts.
    Raises DeadlineError for anything else, including impossible dates.
    """
    stripped = text.strip()
    if not stripped:
        raise DeadlineError(stripped, "empty")
    normal = re.sub(r"\s+", "", unicodedata.normalize("NFKC", stripped))
    if normal in _IMMEDIATE:
        return Deadline(stripped, "immediate", None)
    if normal in _LONG_TERM:
        return Deadline(stripped, "long_term", None)
    for pattern, rule in _DATE_RULES:
        match = pattern.fullmatch(normal)
        if match:
            start = (counts_from or issued_on) if rule in _COUNTING_RULES else None
            try:
                due_on = rule(match, start or issued_on, calendar)
            except ValueError as exc:  # date() refusing 2月30日 or 13月1日
                raise DeadlineError(stripped, "invalid_date") from exc
            return Deadline(stripped, "date", due_on, start, _provisional(calendar, start, due_on))
    raise DeadlineError(stripped)


def task_deadline(
    text: str, issued_on: date, received_on: date, count_from_issue: bool, calendar: WorkCalendar
) -> tuple[Deadline, Basis | None]:
    """The deadline of a task a unit received on `received_on`, and what it counts from.

    A count of days runs from the day the unit received the task, unless the plan says
    it runs from its issue date (`count_from_issue`). Even then an item is never overdue
    the moment it arrives: if the count from the issue date ran out before the unit
    received the task, it runs from the day of receipt instead. A date as written stays
    what the notice says, however late the task arrives (that lateness is real and the
    ladder shows it). The basis is None for 立行立改 and long-term items.
    """
    if count_from_issue:
        dl = parse_deadline(text, issued_on, calendar)
        if dl.counted_from is None or dl.due_on >= received_on:
            return dl, basis_of(dl, "issued")
    dl = parse_deadline(text, issued_on, calendar, counts_from=received_on)
    return dl, basis_of(dl, "received")


def recount(text: str, due_on: date, counted_from: date | None, calendar: WorkCalendar) -> Deadline:
    """The same dated deadline under a changed calendar: a count of days is counted
    again from the day it started; a date as written stays, and only whether it is
    provisional may change."""
    if counted_from is None:
        return Deadline(text, "date", due_on, None, _provisional(calendar, None, due_on))
    return parse_deadline(text, counted_from, calendar, counts_from=counted_from)


def _provisional(calendar: WorkCalendar, counted_from: date | None, due_on: date) -> bool:
    """Whether a day of the count, or of the reminders and ladder around the due day,
    lies in a year without the official calendar."""
    low = min(counted_from or due_on, due_on - SCHEDULE_REACH)
    return calendar.provisional_between(low, due_on + SCHEDULE_REACH)


def basis_of(dl: Deadline, counted: Basis) -> Basis | None:
    """`counted` for a count of days, "fixed" for a date as written, None without a date."""
    if dl.kind != "date":
        return None
    return counted if dl.counted_from is not None else "fixed"


def _year_for(match: re.Match[str], month: int, issued_on: date) -> int:
    """An explicit year wins; a month before the issue month rolls into next year."""
    if match["year"]:
        return int(match["year"])
    return issued_on.year + (month < issued_on.month)


def _month_of(match: re.Match[str]) -> int:
    month = int(match["month"])
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} out of range")
    return month


def _last_day(year: int, month: int) -> date:
    return date(year, month, monthrange(year, month)[1])


def _count(match: re.Match[str]) -> int:
    """The N of 「N个工作日内」, in digits or Chinese numerals up to 九十九."""
    raw = match["n"]
    if raw.isdigit():
        return int(raw)
    tens, ten, units = raw.rpartition("十")
    if not ten:
        return _DIGITS[units]
    return _DIGITS.get(tens, 1) * 10 + _DIGITS.get(units, 0)


def _on_day(match: re.Match[str], issued_on: date, _: WorkCalendar) -> date:
    month = _month_of(match)
    return date(_year_for(match, month, issued_on), month, int(match["day"]))


def _on_numeric_date(match: re.Match[str], _issued_on: date, _: WorkCalendar) -> date:
    return date(int(match["year"]), int(match["month"]), int(match["day"]))


def _at_month_end(match: re.Match[str], issued_on: date, _: WorkCalendar) -> date:
    month = _month_of(match)
    return _last_day(_year_for(match, month, issued_on), month)


def _at_issue_month_end(_match: re.Match[str], issued_on: date, _: WorkCalendar) -> date:
    return _last_day(issued_on.year, issued_on.month)


def _at_dekad_end(match: re.Match[str], issued_on: date, _: WorkCalendar) -> date:
    month = _month_of(match)
    year = _year_for(match, month, issued_on)
    if match["dekad"] == "下":
        return _last_day(year, month)
    return date(year, month, 10 if match["dekad"] == "上" else 20)


def _after_workdays(match: re.Match[str], issued_on: date, cal: WorkCalendar) -> date:
    return cal.add_workdays(issued_on, _count(match))


def _after_days(match: re.Match[str], issued_on: date, _: WorkCalendar) -> date:
    return issued_on + timedelta(days=_count(match))


_COUNTING_RULES = frozenset({_after_workdays, _after_days})

_DATE_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], date, WorkCalendar], date]], ...] = (
    (_DAY_RE, _on_day),
    (_NUMERIC_RE, _on_numeric_date),
    (_MONTH_END_RE, _at_month_end),
    (_ISSUE_MONTH_END_RE, _at_issue_month_end),
    (_DEKAD_RE, _at_dekad_end),
    (_WORKDAYS_RE, _after_workdays),
    (_CALENDAR_DAYS_RE, _after_days),
)
