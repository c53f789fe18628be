"""The working-day calendar: official holidays, make-up days, overrides, fallbacks."""

import logging
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.workcalendar import LOGGER_NAME, WorkCalendar

# One shared instance keeps the property test fast through its per-day cache.
SHARED = WorkCalendar()


def calendar_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER_NAME and r.levelno == logging.WARNING]


def test_official_holiday_on_a_weekday_is_not_a_workday() -> None:
    assert not WorkCalendar().is_workday(date(2022, 6, 3))  # 端午节, a Friday


def test_make_up_saturday_and_sunday_are_workdays() -> None:
    cal = WorkCalendar()
    assert cal.is_workday(date(2022, 10, 8))  # Saturday after National Day
    assert cal.is_workday(date(2022, 10, 9))  # Sunday after National Day


def test_ordinary_weekend_is_not_a_workday() -> None:
    cal = WorkCalendar()
    assert cal.is_workday(date(2022, 6, 10))  # Friday
    assert not cal.is_workday(date(2022, 6, 11))  # Saturday


def test_next_workday_keeps_a_workday_and_skips_a_holiday_block() -> None:
    cal = WorkCalendar()
    assert cal.next_workday(date(2022, 6, 2)) == date(2022, 6, 2)
    assert cal.next_workday(date(2022, 6, 3)) == date(2022, 6, 6)
    assert cal.next_workday(date(2022, 10, 1)) == date(2022, 10, 8)


def test_add_workdays_skips_the_dragon_boat_holiday() -> None:
    # Issued Wed 2022-06-01: Jun 2 (1), Jun 3 holiday, weekend, Jun 6-9 (2-5).
    assert WorkCalendar().add_workdays(date(2022, 6, 1), 5) == date(2022, 6, 9)


def test_add_workdays_counts_make_up_days_after_national_day() -> None:
    # Issued Thu 2022-09-29: Sep 30 (1), Oct 1-7 off, Oct 8 Sat (2), Oct 9 Sun (3),
    # Oct 10 (4), Oct 11 (5).
    assert WorkCalendar().add_workdays(date(2022, 9, 29), 5) == date(2022, 10, 11)


def test_add_workdays_never_counts_the_start_day() -> None:
    cal = WorkCalendar()
    assert cal.add_workdays(date(2022, 6, 10), 1) == date(2022, 6, 13)  # Fri -> Mon
    assert cal.add_workdays(date(2022, 6, 11), 1) == date(2022, 6, 13)  # Sat -> Mon


def test_add_zero_workdays_returns_the_same_day() -> None:
    assert WorkCalendar().add_workdays(date(2022, 6, 11), 0) == date(2022, 6, 11)


def test_add_negative_workdays_is_refused() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        WorkCalendar().add_workdays(date(2022, 6, 1), -1)


def test_workdays_between_counts_the_end_but_not_the_start() -> None:
    cal = WorkCalendar()
    assert cal.workdays_between(date(2022, 6, 1), date(2022, 6, 9)) == 5
    assert cal.workdays_between(date(2022, 6, 9), date(2022, 6, 9)) == 0
    assert cal.workdays_between(date(2022, 6, 9), date(2022, 6, 1)) == 0


def test_a_datetime_is_refused_because_its_date_may_be_the_wrong_day_in_china() -> None:
    with pytest.raises(TypeError, match="China-time calendar date"):
        WorkCalendar().is_workday(datetime(2022, 6, 1, 20, 0))


def test_covers_the_package_years_only() -> None:
    cal = WorkCalendar()
    assert cal.covers(2004)
    assert cal.covers(2022)
    assert cal.covers(2026)
    assert not cal.covers(2003)
    assert not cal.covers(2035)


def test_uncovered_year_falls_back_to_weekdays_less_the_expected_public_holidays() -> None:
    cal = WorkCalendar()
    assert not cal.is_workday(date(2035, 1, 1))  # a Monday, but New Year's Day
    assert cal.is_workday(date(2035, 1, 2))
    assert not cal.is_workday(date(2035, 1, 6))  # a Saturday
    assert cal.add_workdays(date(2035, 1, 5), 1) == date(2035, 1, 8)


def test_the_2027_spring_festival_is_off_although_no_official_calendar_has_it_yet() -> None:
    cal = WorkCalendar()
    assert not cal.covers(2027)
    # 2027-02-06 is 春节 (a Saturday); the holidays package gives Feb 5-10 with the observed days
    assert [cal.is_workday(date(2027, 2, d)) for d in range(4, 12)] == [True] + [False] * 6 + [True]
    assert not cal.is_workday(date(2027, 10, 1))  # National Day, a Friday
    # From Wed 2027-02-03: Feb 4 (1), Feb 5-10 off, Feb 11 (2), Feb 12 (3), Feb 15 (4), Feb 16 (5).
    assert cal.add_workdays(date(2027, 2, 3), 5) == date(2027, 2, 16)


def test_a_year_is_provisional_until_the_package_or_an_admin_has_its_official_calendar() -> None:
    cal = WorkCalendar()
    assert not cal.is_provisional(2026)
    assert cal.is_provisional(2027)
    assert cal.provisional_between(date(2026, 12, 28), date(2027, 1, 5))
    assert not cal.provisional_between(date(2026, 6, 1), date(2026, 12, 31))

    entered = WorkCalendar({date(2027, 2, 11): False}, official_years=frozenset({2027}))
    assert not entered.is_provisional(2027)
    assert not entered.provisional_between(date(2026, 12, 28), date(2027, 1, 5))


def test_an_official_year_from_the_admin_is_weekdays_plus_the_table_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    cal = WorkCalendar({date(2027, 2, 11): False, date(2027, 2, 20): True}, official_years=frozenset({2027}))
    assert cal.is_workday(date(2027, 2, 8))  # the table does not list it: the admin says it is a working day
    assert not cal.is_workday(date(2027, 2, 11))
    assert cal.is_workday(date(2027, 2, 20))  # a make-up Saturday
    assert calendar_warnings(caplog) == []  # nothing approximate any more


def test_uncovered_year_warns_once_however_many_days_are_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    cal = WorkCalendar()
    day = date(2035, 1, 1)
    while day.year == 2035:
        cal.is_workday(day)
        day += timedelta(days=1)
    cal.add_workdays(date(2035, 3, 1), 200)
    cal.workdays_between(date(2035, 1, 1), date(2035, 12, 31))

    warnings = calendar_warnings(caplog)
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "2035" in message
    assert "not covered by the official calendar package" in message
    assert "admin holiday table" in message


def test_each_uncovered_year_warns_once_per_calendar(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    first, second = WorkCalendar(), WorkCalendar()
    for cal in (first, second):
        cal.is_workday(date(2035, 5, 1))
        cal.is_workday(date(2036, 5, 1))
        cal.is_workday(date(2035, 5, 2))
    years = sorted(r.args[0] for r in calendar_warnings(caplog))
    assert years == [2035, 2035, 2036, 2036]


def test_covered_year_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    WorkCalendar().add_workdays(date(2022, 1, 1), 200)
    assert calendar_warnings(caplog) == []


def test_a_given_logger_receives_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tests.calendar")
    WorkCalendar(logger=logging.getLogger("tests.calendar")).is_workday(date(2035, 1, 1))
    assert [r.name for r in caplog.records] == ["tests.calendar"]


def test_overrides_win_in_an_uncovered_year(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    cal = WorkCalendar({date(2035, 1, 1): False, date(2035, 1, 6): True})
    assert not cal.is_workday(date(2035, 1, 1))  # New Year's Day off
    assert cal.is_workday(date(2035, 1, 6))  # a make-up Saturday
    assert calendar_warnings(caplog) == []  # overridden days never need the fallback
    # From Fri 2034-12-29: weekend, Mon Jan 1 off, Jan 2-5 (1-4), Sat Jan 6 (5).
    assert cal.add_workdays(date(2034, 12, 29), 5) == date(2035, 1, 6)


def test_overrides_win_in_a_covered_year() -> None:
    cal = WorkCalendar({date(2022, 6, 3): True, date(2022, 6, 6): False})
    assert cal.is_workday(date(2022, 6, 3))  # the holiday made a working day
    assert not cal.is_workday(date(2022, 6, 6))  # a Monday made a day off
    assert cal.add_workdays(date(2022, 6, 1), 2) == date(2022, 6, 3)
    assert cal.add_workdays(date(2022, 6, 3), 1) == date(2022, 6, 7)


def test_overrides_are_copied_when_the_calendar_is_built() -> None:
    table = {date(2022, 6, 3): True}
    cal = WorkCalendar(table)
    table[date(2022, 6, 3)] = False
    assert cal.is_workday(date(2022, 6, 3))


@given(
    day=st.dates(min_value=date(2003, 1, 1), max_value=date(2040, 12, 31)),
    n=st.integers(min_value=1, max_value=30),
)
def test_adding_n_workdays_lands_on_a_workday_exactly_n_workdays_later(day: date, n: int) -> None:
    result = SHARED.add_workdays(day, n)
    assert result > day
    assert SHARED.is_workday(result)
    assert SHARED.workdays_between(day, result) == n
