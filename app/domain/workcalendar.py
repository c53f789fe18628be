"""Working days by the official Chinese calendar.

Deadlines such as 「5个工作日内」 count working days as the State Council publishes
them: public holidays are off and the make-up working days (调休, often a Saturday or
Sunday) are on. The `chinesecalendar` package carries that table for the years it
knows (it follows the State Council's notice, which comes out each November or so).
For any other year the answers are *provisional*: Monday-Friday less the public
holidays the `holidays` package computes for China (New Year, the Spring Festival
days, Qingming, Labour Day, Dragon Boat, Mid-Autumn and National Day, from the lunar
calendar), without the make-up working days nobody can know before the notice. A
reminder computed that way is far better than a crash or a reminder on 初一.
An admin-maintained override table corrects either source (a year's holidays announced
before the package is upgraded, a local day off), and the admin may declare a year's
table complete (`official_years`), which makes that year's answers official.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import cache

import chinese_calendar
import holidays

LOGGER_NAME = "rectify.calendar"

_ONE_DAY = timedelta(days=1)


@cache
def _package_covers(year: int) -> bool:
    """Ask the package itself, so an upgrade that adds a year is picked up unchanged."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


@cache
def _provisional_holidays(year: int) -> frozenset[date]:
    """China's public holidays as the `holidays` package computes them for `year`."""
    return frozenset(holidays.China(years=year, categories=(holidays.PUBLIC,)))


def _require_date(day: date) -> None:
    """Reject datetimes: a UTC instant's date can be the wrong day in China."""
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a China-time calendar date, got {day!r}")


class WorkCalendar:
    """Working days by the official Chinese calendar (holidays + make-up days 调休).

    `overrides` maps a date to True (working day) or False (day off) and always wins.
    `official_years` are years the package lacks whose holidays the admin has entered in
    full from the official notice. Both are copied when the calendar is built, so
    answers can be cached per day; build a new calendar when the admin table changes.
    """

    def __init__(
        self,
        overrides: Mapping[date, bool] | None = None,
        logger: logging.Logger | None = None,
        official_years: frozenset[int] = frozenset(),
    ) -> None:
        self._overrides: dict[date, bool] = dict(overrides or {})
        self._official_years = frozenset(official_years)
        self._logger = logger or logging.getLogger(LOGGER_NAME)
        self._cache: dict[date, bool] = {}
        self._warned_years: set[int] = set()
        self._warn_lock = threading.Lock()

    def covers(self, year: int) -> bool:
        """Whether the official calendar package knows this year's holidays."""
        return _package_covers(year)

    def is_provisional(self, year: int) -> bool:
        """Whether this year's answers are provisional: neither the package nor the admin
        has the official calendar for it yet."""
        return not self.covers(year) and year not in self._official_years

    def provisional_between(self, start: date, end: date) -> bool:
        """Whether any year from `start` to `end` (either order) is provisional."""
        _require_date(start)
        _require_date(end)
        low, high = sorted((start.year, end.year))
        return any(self.is_provisional(year) for year in range(low, high + 1))

    def is_workday(self, day: date) -> bool:
        """Whether people work on `day`: override, else official table, else Mon-Fri."""
        _require_date(day)
        cached = self._cache.get(day)
        if cached is None:
            cached = self._cache[day] = self._compute(day)
        return cached

    def next_workday(self, day: date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        while not self.is_workday(day):
            day += _ONE_DAY
        return day

    def add_workdays(self, day: date, n: int) -> date:
        """The n-th working day strictly after `day`.

        `day` itself never counts, whether or not it is a working day: a notice issued
        on a Friday with 「5个工作日内」 is due on the following Friday. n == 0 returns
        `day` unchanged, so that `workdays_between(day, add_workdays(day, n)) == n` for
        every n >= 0; a negative n raises ValueError.
        """
        _require_date(day)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        while n:
            day += _ONE_DAY
            if self.is_workday(day):
                n -= 1
        return day

    def workdays_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: the start never counts, the end does."""
        _require_date(start)
        _require_date(end)
        count = 0
        day = start + _ONE_DAY
        while day <= end:
            count += self.is_workday(day)
            day += _ONE_DAY
        return count

    def _compute(self, day: date) -> bool:
        override = self._overrides.get(day)
        if override is not None:
            return bool(override)
        if self.covers(day.year):
            return chinese_calendar.is_workday(day)
        if day.year not in self._official_years:
            self._warn_uncovered(day.year)
            return day.weekday() < 5 and day not in _provisional_holidays(day.year)
        return day.weekday() < 5  # the admin's table is complete: every holiday is in it

    def _warn_uncovered(self, year: int) -> None:
        """Say once per year (not once per day) that the answers are approximate."""
        with self._warn_lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
        self._logger.warning(
            "Year %d is not covered by the official calendar package "
            "(chinesecalendar); deadlines and reminder days in it are provisional: "
            "Monday-Friday less the public holidays of the holidays package, plus the "
            "admin holiday table. Add that year's holidays and make-up working days to "
            "the table and mark the year official, or upgrade chinesecalendar.",
            year,
        )
