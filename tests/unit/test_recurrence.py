"""Reporting obligations as the notices write them, and the days reports fall due."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.recurrence import ACCEPTED_FORMS, Recurrence, RecurrenceError, occurrences, parse_recurrence
from app.domain.workcalendar import WorkCalendar

SANMENXIA_ISSUED = date(2022, 6, 7)
YUZHOU_ISSUED = date(2022, 5, 20)
CAL = WorkCalendar()

WEEKLY_FRIDAY = Recurrence("weekly", weekday=4)
MONTHLY = Recurrence("monthly")
QUARTERLY = Recurrence("quarterly")


@pytest.mark.parametrize(
    ("text", "issued_on", "expected"),
    [
        ("每周五", YUZHOU_ISSUED, WEEKLY_FRIDAY),
        ("每周一报送", YUZHOU_ISSUED, Recurrence("weekly", weekday=0)),
        ("每周日前报送", YUZHOU_ISSUED, Recurrence("weekly", weekday=6)),
        ("每周", YUZHOU_ISSUED, WEEKLY_FRIDAY),  # no day given: Friday
        ("周报", YUZHOU_ISSUED, WEEKLY_FRIDAY),
        (" 每周 五 ", YUZHOU_ISSUED, WEEKLY_FRIDAY),  # stray spaces as pasted from a notice
        ("每月", SANMENXIA_ISSUED, MONTHLY),
        ("每月底", SANMENXIA_ISSUED, MONTHLY),
        ("月底前报送", SANMENXIA_ISSUED, MONTHLY),
        ("月报", SANMENXIA_ISSUED, MONTHLY),
        ("每季度", SANMENXIA_ISSUED, QUARTERLY),
        ("每季度末", SANMENXIA_ISSUED, QUARTERLY),
        ("季报", SANMENXIA_ISSUED, QUARTERLY),
        # One-off reports of the Sanmenxia plan and the Yuzhou campaign.
        ("6月10日前", SANMENXIA_ISSUED, Recurrence("once", on=date(2022, 6, 10))),
        ("6月20日前", SANMENXIA_ISSUED, Recurrence("once", on=date(2022, 6, 20))),
        ("6月25日前", YUZHOU_ISSUED, Recurrence("once", on=date(2022, 6, 25))),
        ("5个工作日内", SANMENXIA_ISSUED, Recurrence("once", on=date(2022, 6, 14))),
        # A bare 「月底」 is the issue month's end, once: only 「每」 or 「报送」 make it recur.
        ("月底", SANMENXIA_ISSUED, Recurrence("once", on=date(2022, 6, 30))),
    ],
)
def test_each_accepted_schedule_text_is_read(text: str, issued_on: date, expected: Recurrence) -> None:
    assert parse_recurrence(text, issued_on, CAL) == expected


@pytest.mark.parametrize("text", ACCEPTED_FORMS)
def test_every_form_the_error_message_offers_is_accepted(text: str) -> None:
    parse_recurrence(text, SANMENXIA_ISSUED, CAL)


@pytest.mark.parametrize("text", ["每年", "每两周", "立行立改", "长期整改", "", "尽快报送"])
def test_an_unreadable_schedule_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(RecurrenceError) as caught:
        parse_recurrence(text, SANMENXIA_ISSUED, CAL)
    assert isinstance(caught.value, ValueError)
    assert "每周五" in str(caught.value)
    assert "月底前报送" in str(caught.value)
    assert caught.value.text == text


def test_weekly_reports_fall_due_on_every_friday_of_june_2022() -> None:
    # Jun 3 is the Dragon Boat holiday: the due date stays, the reminders defer.
    assert occurrences(WEEKLY_FRIDAY, date(2022, 6, 1), date(2022, 6, 30)) == [
        date(2022, 6, 3),
        date(2022, 6, 10),
        date(2022, 6, 17),
        date(2022, 6, 24),
    ]


def test_weekly_range_bounds_are_inclusive() -> None:
    assert occurrences(WEEKLY_FRIDAY, date(2022, 6, 10), date(2022, 6, 17)) == [date(2022, 6, 10), date(2022, 6, 17)]
    assert occurrences(WEEKLY_FRIDAY, date(2022, 6, 11), date(2022, 6, 16)) == []


def test_monthly_reports_fall_due_on_each_month_end_including_a_leap_february() -> None:
    assert occurrences(MONTHLY, date(2023, 12, 15), date(2024, 4, 30)) == [
        date(2023, 12, 31),
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_quarterly_reports_fall_due_on_quarter_ends_across_a_year_boundary() -> None:
    assert occurrences(QUARTERLY, date(2022, 6, 7), date(2023, 6, 29)) == [
        date(2022, 6, 30),
        date(2022, 9, 30),
        date(2022, 12, 31),
        date(2023, 3, 31),
    ]


def test_a_one_off_report_falls_due_once_when_inside_the_range() -> None:
    once = Recurrence("once", on=date(2022, 6, 10))
    assert occurrences(once, date(2022, 6, 1), date(2022, 6, 30)) == [date(2022, 6, 10)]
    assert occurrences(once, date(2022, 6, 11), date(2022, 6, 30)) == []


def test_an_empty_range_has_no_occurrences() -> None:
    for rec in (WEEKLY_FRIDAY, MONTHLY, QUARTERLY, Recurrence("once", on=date(2022, 6, 10))):
        assert occurrences(rec, date(2022, 6, 30), date(2022, 6, 1)) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "weekly"},
        {"kind": "weekly", "weekday": 7},
        {"kind": "monthly", "weekday": 4},
        {"kind": "once"},
        {"kind": "quarterly", "on": date(2022, 6, 30)},
        {"kind": "yearly"},
    ],
)
def test_an_inconsistent_recurrence_cannot_be_built(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Recurrence(**fields)  # type: ignore[arg-type]


@given(st.integers(0, 6), st.dates(date(2004, 1, 1), date(2030, 12, 31)), st.integers(0, 400))
def test_weekly_occurrences_are_exactly_the_days_with_that_weekday(weekday: int, start: date, span: int) -> None:
    end = start + timedelta(days=span)
    expected = [start + timedelta(days=i) for i in range(span + 1) if (start + timedelta(days=i)).weekday() == weekday]
    assert occurrences(Recurrence("weekly", weekday=weekday), start, end) == expected


@given(st.dates(date(2004, 1, 1), date(2030, 12, 31)), st.integers(0, 800))
def test_monthly_occurrences_are_exactly_the_last_days_of_months(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    days = [start + timedelta(days=i) for i in range(span + 1)]
    assert occurrences(MONTHLY, start, end) == [d for d in days if (d + timedelta(days=1)).day == 1]
    quarter_ends = [d for d in days if (d + timedelta(days=1)).day == 1 and d.month % 3 == 0]
    assert occurrences(QUARTERLY, start, end) == quarter_ends
