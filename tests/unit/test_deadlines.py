"""Deadline texts as the seed notices write them, and the dates they mean."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.deadlines import (
    ACCEPTED_FORMS,
    CHINA,
    Deadline,
    DeadlineError,
    end_of_day_utc,
    parse_deadline,
    recount,
    task_deadline,
)
from app.domain.workcalendar import WorkCalendar

SANMENXIA_ISSUED = date(2022, 6, 7)  # Sanmenxia plan, printed 2022-06-07
YUZHOU_ISSUED = date(2022, 5, 20)  # Yuzhou campaign, which starts in late May


SHARED = WorkCalendar()  # one instance keeps the property test fast through its per-day cache


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def full_width(text: str) -> str:
    """What an input method types in full-width mode, e.g. for 2022-06-20."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    ("text", "issued_on", "due_on"),
    [
        # Sanmenxia plan: ledger column and body text.
        ("6月20日", SANMENXIA_ISSUED, date(2022, 6, 20)),
        ("6月20日前", SANMENXIA_ISSUED, date(2022, 6, 20)),
        ("7月底", SANMENXIA_ISSUED, date(2022, 7, 31)),
        ("7月底前", SANMENXIA_ISSUED, date(2022, 7, 31)),
        ("6月底", SANMENXIA_ISSUED, date(2022, 6, 30)),
        ("6月10日前", SANMENXIA_ISSUED, date(2022, 6, 10)),
        ("5个工作日内", SANMENXIA_ISSUED, date(2022, 6, 14)),  # Tue -> Wed..Tue
        # Yuzhou campaign: phases, written with the notice's own spaces.
        ("5月底前", YUZHOU_ISSUED, date(2022, 5, 31)),
        ("5 月底前", YUZHOU_ISSUED, date(2022, 5, 31)),
        ("6月中旬前", YUZHOU_ISSUED, date(2022, 6, 20)),
        ("6 月中旬前", YUZHOU_ISSUED, date(2022, 6, 20)),
        ("6月25日前", YUZHOU_ISSUED, date(2022, 6, 25)),
        ("6 月 25 日前", YUZHOU_ISSUED, date(2022, 6, 25)),
        ("6 月底", YUZHOU_ISSUED, date(2022, 6, 30)),
        ("2022 年 5 月下旬", YUZHOU_ISSUED, date(2022, 5, 31)),
    ],
)
def test_every_seed_deadline_means_the_end_of_its_day_in_china(
    text: str, issued_on: date, due_on: date, cal: WorkCalendar
) -> None:
    deadline = parse_deadline(text, issued_on, cal)
    assert (deadline.text, deadline.kind, deadline.due_on, deadline.provisional) == (text, "date", due_on, False)
    assert deadline.due_at == utc(due_on.year, due_on.month, due_on.day, 15, 59, 59)


def test_day_deadline_is_due_at_1559_utc_that_day(cal: WorkCalendar) -> None:
    deadline = parse_deadline("6月20日", SANMENXIA_ISSUED, cal)
    assert deadline.due_at == utc(2022, 6, 20, 15, 59, 59)
    assert deadline.due_at.astimezone(CHINA) == datetime(2022, 6, 20, 23, 59, 59, tzinfo=CHINA)


def test_end_of_day_utc_is_the_last_second_of_the_china_day() -> None:
    assert end_of_day_utc(date(2022, 12, 31)) == utc(2022, 12, 31, 15, 59, 59)


def test_fix_at_once_has_no_date(cal: WorkCalendar) -> None:
    deadline = parse_deadline("立行立改", SANMENXIA_ISSUED, cal)
    assert deadline == Deadline("立行立改", "immediate", None)
    assert deadline.due_at is None


@pytest.mark.parametrize("text", ["立即整改", "即知即改", " 立行立改 "])
def test_other_fix_at_once_wordings_are_immediate(text: str, cal: WorkCalendar) -> None:
    assert parse_deadline(text, SANMENXIA_ISSUED, cal).kind == "immediate"


@pytest.mark.parametrize("text", ["长期整改", "长期坚持", "长期"])
def test_long_term_wordings_have_no_date(text: str, cal: WorkCalendar) -> None:
    deadline = parse_deadline(text, SANMENXIA_ISSUED, cal)
    assert deadline == Deadline(text, "long_term", None)
    assert deadline.due_at is None


def test_five_workdays_skip_the_dragon_boat_holiday(cal: WorkCalendar) -> None:
    # Wed 2022-06-01: Jun 2 (1), Fri Jun 3 端午节, weekend, Jun 6-9 (2-5).
    deadline = parse_deadline("5个工作日内", date(2022, 6, 1), cal)
    assert deadline.due_on == date(2022, 6, 9)
    assert deadline.due_at == utc(2022, 6, 9, 15, 59, 59)


def test_five_workdays_count_the_national_day_make_up_weekend(
    cal: WorkCalendar,
) -> None:
    # Thu 2022-09-29: Sep 30 (1), Oct 1-7 off, Sat Oct 8 (2), Sun Oct 9 (3), Oct 10-11.
    deadline = parse_deadline("5个工作日内", date(2022, 9, 29), cal)
    assert deadline.due_on == date(2022, 10, 11)


def test_workday_counts_may_be_chinese_numerals(cal: WorkCalendar) -> None:
    issued = date(2022, 6, 1)
    assert parse_deadline("五个工作日内", issued, cal).due_on == date(2022, 6, 9)
    assert parse_deadline("十个工作日内", issued, cal).due_on == date(2022, 6, 16)
    assert parse_deadline("两个工作日内完成", issued, cal).due_on == date(2022, 6, 6)


def test_workday_counts_follow_the_admin_overrides() -> None:
    cal = WorkCalendar({date(2022, 6, 6): False})
    assert parse_deadline("5个工作日内", date(2022, 6, 1), cal).due_on == date(2022, 6, 10)


@pytest.mark.parametrize(
    ("text", "due_on"),
    [
        ("10日内", date(2022, 5, 30)),
        ("10天内", date(2022, 5, 30)),
        ("十五日内", date(2022, 6, 4)),
        ("二十天内完成", date(2022, 6, 9)),
    ],
)
def test_calendar_day_counts_ignore_holidays(text: str, due_on: date, cal: WorkCalendar) -> None:
    assert parse_deadline(text, YUZHOU_ISSUED, cal).due_on == due_on


def test_month_end_before_means_last_day_of_that_month(cal: WorkCalendar) -> None:
    assert parse_deadline("2月底前", date(2024, 1, 15), cal).due_on == date(2024, 2, 29)
    assert parse_deadline("4月末", date(2022, 3, 1), cal).due_on == date(2022, 4, 30)


@pytest.mark.parametrize("text", ["月底", "本月底", "月末", "月底前"])
def test_bare_month_end_means_the_end_of_the_issue_month(text: str, cal: WorkCalendar) -> None:
    assert parse_deadline(text, SANMENXIA_ISSUED, cal).due_on == date(2022, 6, 30)


@pytest.mark.parametrize(
    ("text", "due_on"),
    [
        ("9月上旬", date(2022, 9, 10)),
        ("9月中旬前", date(2022, 9, 20)),
        ("9月下旬", date(2022, 9, 30)),
        ("2月下旬", date(2023, 2, 28)),
    ],
)
def test_a_dekad_deadline_means_the_end_of_those_ten_days(text: str, due_on: date, cal: WorkCalendar) -> None:
    assert parse_deadline(text, SANMENXIA_ISSUED, cal).due_on == due_on


def test_a_month_before_the_issue_month_rolls_into_next_year(cal: WorkCalendar) -> None:
    assert parse_deadline("1月底", date(2022, 12, 10), cal).due_on == date(2023, 1, 31)
    assert parse_deadline("1月5日前", date(2022, 12, 10), cal).due_on == date(2023, 1, 5)


def test_an_earlier_day_in_the_issue_month_stays_in_the_issue_year(
    cal: WorkCalendar,
) -> None:
    assert parse_deadline("6月1日", SANMENXIA_ISSUED, cal).due_on == date(2022, 6, 1)


def test_feb_29_exists_only_if_the_rolled_year_is_a_leap_year(
    cal: WorkCalendar,
) -> None:
    assert parse_deadline("2月29日", date(2023, 6, 1), cal).due_on == date(2024, 2, 29)
    with pytest.raises(DeadlineError, match="不是有效日期"):
        parse_deadline("2月29日", date(2022, 6, 1), cal)


@pytest.mark.parametrize(
    "text",
    [
        "2022-06-20",
        "2022/6/20",
        "2022.6.20",
        "2022年6月20日",
        "2022年6月20日前",
        full_width("2022-06-20"),
    ],
)
def test_an_explicit_year_is_used_as_written(text: str, cal: WorkCalendar) -> None:
    # Issued in December: without the year, June would roll into 2023.
    assert parse_deadline(text, date(2022, 12, 1), cal).due_on == date(2022, 6, 20)


@pytest.mark.parametrize(
    "text",
    [
        full_width("6") + "月" + full_width("20") + "日前",
        "6月20号",
        "6月20日之前",
        "6月20日以前",
        "6月20日前完成",
        "6月20日止",
    ],
)
def test_full_width_digits_and_trailing_words_are_accepted(text: str, cal: WorkCalendar) -> None:
    assert parse_deadline(text, SANMENXIA_ISSUED, cal).due_on == date(2022, 6, 20)


def test_the_original_text_is_kept_stripped_but_otherwise_verbatim(
    cal: WorkCalendar,
) -> None:
    deadline = parse_deadline("\u3000 6 月 25 日前  ", YUZHOU_ISSUED, cal)
    assert deadline.text == "6 月 25 日前"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "尽快",
        "每周",
        "每月",
        "2月30日",
        "13月1日",
        "13月底",
        "6月",
        "6月20日内",
        "0个工作日内",
        "0日内",
        "2022-02-30",
        "2022-6/20",
        "立行立改长期坚持",
    ],
)
def test_bad_text_raises_an_error_that_quotes_it_and_lists_accepted_forms(text: str, cal: WorkCalendar) -> None:
    with pytest.raises(DeadlineError) as caught:
        parse_deadline(text, SANMENXIA_ISSUED, cal)
    message = str(caught.value)
    assert text.strip() in message
    assert "6月20日" in message
    assert "立行立改" in message
    assert caught.value.text == text.strip()


def test_deadline_error_is_a_value_error_naming_its_reason(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="「尽快」") as caught:
        parse_deadline("尽快", SANMENXIA_ISSUED, cal)
    assert isinstance(caught.value, DeadlineError)
    assert caught.value.reason == "unrecognised"


def test_every_accepted_form_parses(cal: WorkCalendar) -> None:
    for text in ACCEPTED_FORMS:
        parse_deadline(text, SANMENXIA_ISSUED, cal)


def test_a_date_deadline_needs_a_date_and_others_must_not_have_one() -> None:
    with pytest.raises(ValueError):
        Deadline("6月20日", "date", None)
    with pytest.raises(ValueError):
        Deadline("立行立改", "immediate", date(2022, 6, 20))


# --- what a task's deadline counts from (N个工作日内) ----------------------------------------


def test_a_count_of_working_days_runs_from_the_day_the_unit_received_the_task(cal: WorkCalendar) -> None:
    # The Sanmenxia plan was issued Tue 2022-06-07; its ledger is imported on Mon 2022-08-01.
    dl, basis = task_deadline("5个工作日内", SANMENXIA_ISSUED, date(2022, 8, 1), False, cal)

    assert (dl.due_on, dl.counted_from, basis) == (date(2022, 8, 8), date(2022, 8, 1), "received")


def test_a_plan_may_count_from_its_issue_date(cal: WorkCalendar) -> None:
    dl, basis = task_deadline("5个工作日内", SANMENXIA_ISSUED, date(2022, 6, 8), True, cal)

    assert (dl.due_on, dl.counted_from, basis) == (date(2022, 6, 14), SANMENXIA_ISSUED, "issued")


def test_a_count_from_the_issue_date_that_ran_out_before_receipt_runs_from_receipt(cal: WorkCalendar) -> None:
    """Never overdue the moment it arrives: the count from 06-07 ended 06-14, long before 08-01."""
    dl, basis = task_deadline("5个工作日内", SANMENXIA_ISSUED, date(2022, 8, 1), True, cal)

    assert (dl.due_on, basis) == (date(2022, 8, 8), "received")


@pytest.mark.parametrize("count_from_issue", [False, True])
def test_a_date_as_written_stays_the_date_however_late_the_task_arrives(
    cal: WorkCalendar, count_from_issue: bool
) -> None:
    dl, basis = task_deadline("6月20日前", SANMENXIA_ISSUED, date(2022, 8, 1), count_from_issue, cal)

    assert (dl.due_on, dl.counted_from, basis) == (date(2022, 6, 20), None, "fixed")


def test_immediate_and_long_term_items_have_no_basis(cal: WorkCalendar) -> None:
    assert task_deadline("立行立改", SANMENXIA_ISSUED, date(2022, 8, 1), False, cal)[1] is None
    assert task_deadline("长期整改", SANMENXIA_ISSUED, date(2022, 8, 1), False, cal)[1] is None


@pytest.mark.parametrize(
    ("text", "received_on"),
    [("5个工作日内", date(2022, 6, 9)), ("3个工作日内", date(2022, 9, 30)), ("10日内", date(2022, 12, 30))],
)
def test_no_counted_deadline_is_due_before_the_day_after_it_arrives(
    cal: WorkCalendar, text: str, received_on: date
) -> None:
    for count_from_issue in (False, True):
        dl, _ = task_deadline(text, SANMENXIA_ISSUED, received_on, count_from_issue, cal)
        assert dl.due_on > received_on


# --- provisional years ------------------------------------------------------------------------------------


def test_a_deadline_in_a_year_without_the_official_calendar_is_provisional(cal: WorkCalendar) -> None:
    assert parse_deadline("5个工作日内", date(2026, 12, 28), cal).provisional  # runs into 2027
    assert parse_deadline("2027年3月31日", date(2026, 12, 1), cal).provisional  # its reminders are 2027 days
    assert parse_deadline("12月28日", date(2026, 12, 1), cal).provisional  # its escalations fall in January
    assert not parse_deadline("12月10日", date(2026, 12, 1), cal).provisional
    assert not parse_deadline("立行立改", date(2027, 1, 4), cal).provisional


def test_recounting_moves_a_counted_deadline_when_a_day_inside_the_count_changes() -> None:
    before = parse_deadline("5个工作日内", date(2027, 1, 4), WorkCalendar())  # Mon: Jan 5-8, Jan 11
    assert before.due_on == date(2027, 1, 11)

    after = recount("5个工作日内", before.due_on, before.counted_from, WorkCalendar({date(2027, 1, 6): False}))

    assert (after.due_on, after.counted_from, after.provisional) == (date(2027, 1, 12), date(2027, 1, 4), True)


def test_recounting_keeps_a_date_as_written_and_only_updates_whether_it_is_provisional() -> None:
    official = WorkCalendar({date(2027, 3, 1): False}, official_years=frozenset({2027}))

    after = recount("3月31日", date(2027, 3, 31), None, official)

    assert (after.due_on, after.provisional) == (date(2027, 3, 31), False)


@given(
    issued_on=st.dates(min_value=date(2010, 1, 1), max_value=date(2030, 12, 31)),
    late_by=st.integers(min_value=0, max_value=400),
    n=st.integers(min_value=1, max_value=60),
    working=st.booleans(),
    count_from_issue=st.booleans(),
)
def test_a_counted_deadline_is_never_past_when_the_task_arrives(
    issued_on: date, late_by: int, n: int, working: bool, count_from_issue: bool
) -> None:
    received_on = issued_on + timedelta(days=late_by)
    text = f"{n}个工作日内" if working else f"{n}日内"

    dl, basis = task_deadline(text, issued_on, received_on, count_from_issue, SHARED)

    assert dl.due_on >= received_on  # due at the end of that day at the earliest: never overdue on arrival
    assert dl.due_on > received_on or basis == "issued"
    assert basis == ("issued" if count_from_issue and dl.counted_from == issued_on else "received")
    assert dl.counted_from in (issued_on, received_on)
