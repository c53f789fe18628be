"""The reminder and escalation ladder, on the real calendar and the Sanmenxia timeline."""

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.deadlines import CHINA, end_of_day_utc
from app.domain.reminders import (
    Decision,
    Item,
    Policy,
    PolicyError,
    Step,
    decide,
    into_window,
    next_step_after,
    steps_between,
)
from app.domain.workcalendar import WorkCalendar

# One shared instance keeps the property tests fast through its per-day cache.
CAL = WorkCalendar()
DEFAULT = Policy()
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)
SANMENXIA_ISSUED = datetime(2022, 6, 7, 10, 0, tzinfo=CHINA)  # the plan reaches the units


def china(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A China wall-clock time as the aware UTC instant the functions speak."""
    return datetime(year, month, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


def ladder(item: Item, until: datetime, policy: Policy = DEFAULT) -> list[tuple[str, datetime, int]]:
    return [(s.key, s.at, s.level) for s in steps_between(item, policy, CAL, BEGINNING, until)]


def dated(due_on: date, active_since: datetime = SANMENXIA_ISSUED) -> Item:
    return Item("date", due_on, active_since)


# --- the Sanmenxia timeline -------------------------------------------------------


def test_item_due_june_10_only_keeps_the_reminders_after_the_plan_was_issued() -> None:
    # 7d (Jun 3, the Dragon Boat holiday, deferred to Mon Jun 6) and 3d (Jun 7 09:00)
    # both fall at or before the plan reached the unit at Jun 7 10:00.
    assert ladder(dated(date(2022, 6, 10)), china(2022, 6, 24)) == [
        ("remind:1d", china(2022, 6, 9), 0),
        ("remind:day", china(2022, 6, 10), 0),
        ("escalate:1", china(2022, 6, 13), 1),  # Monday
        ("escalate:2", china(2022, 6, 15), 2),  # 3rd working day after Jun 10
        ("escalate:3", china(2022, 6, 17), 3),  # 5th
        # Nags every 2nd working day after escalate:1: Jun 15 and 17 carry escalations.
        ("nag:2022-06-21", china(2022, 6, 21), 3),
        ("nag:2022-06-23", china(2022, 6, 23), 3),
    ]


def test_the_ladder_only_adds_people_and_nags_reach_everyone_it_has_reached() -> None:
    steps = {s.key: s for s in steps_between(dated(date(2022, 6, 10)), DEFAULT, CAL, BEGINNING, china(2022, 6, 21))}
    assert steps["remind:day"].audience == ("handler", "deputy")
    assert steps["escalate:1"].audience == ("handler", "deputy")
    assert steps["escalate:2"].audience == ("handler", "deputy", "head")
    # level 3 puts it on the 通报 list, which the supervisors receive as one list a day
    assert steps["escalate:3"].audience == ("handler", "deputy", "head")
    assert steps["nag:2022-06-21"].audience == ("handler", "deputy", "head")
    assert [k for k, s in steps.items() if s.public_notice] == ["escalate:3"]


def test_a_nag_at_level_2_reaches_the_head_too() -> None:
    policy = Policy(level3_after_workdays=8)  # levels 1 on Jun 13, 2 on Jun 15, 3 on Jun 22
    steps = {s.key: s for s in steps_between(dated(date(2022, 6, 10)), policy, CAL, BEGINNING, china(2022, 6, 21))}
    assert (steps["nag:2022-06-17"].level, steps["nag:2022-06-17"].audience) == (2, ("handler", "deputy", "head"))


def test_item_due_just_before_the_dragon_boat_holiday_escalates_on_the_working_days_after_it() -> None:
    item = dated(date(2022, 6, 2), active_since=datetime(2022, 5, 20, 10, tzinfo=CHINA))
    assert ladder(item, china(2022, 6, 16)) == [
        ("remind:7d", china(2022, 5, 26), 0),
        ("remind:3d", china(2022, 5, 30), 0),
        ("remind:1d", china(2022, 6, 1), 0),
        ("remind:day", china(2022, 6, 2), 0),
        ("escalate:1", china(2022, 6, 6), 1),  # Jun 3 holiday and the weekend skipped
        ("escalate:2", china(2022, 6, 8), 2),
        ("escalate:3", china(2022, 6, 10), 3),
        ("nag:2022-06-14", china(2022, 6, 14), 3),
        ("nag:2022-06-16", china(2022, 6, 16), 3),
    ]


def test_item_due_on_a_monday_has_no_one_day_reminder_because_sunday_defers_to_the_day_itself() -> None:
    # The deadline itself is a working day, so deferring the Sunday reminder is not late.
    assert ladder(dated(date(2022, 6, 20)), china(2022, 6, 29)) == [
        ("remind:7d", china(2022, 6, 13), 0),
        ("remind:3d", china(2022, 6, 17), 0),  # Friday
        ("remind:day", china(2022, 6, 20), 0),
        ("escalate:1", china(2022, 6, 21), 1),
        ("escalate:2", china(2022, 6, 23), 2),
        ("escalate:3", china(2022, 6, 27), 3),
        ("nag:2022-06-29", china(2022, 6, 29), 3),
    ]


def test_a_month_end_deadline_on_a_sunday_is_reminded_on_the_friday_before_never_after() -> None:
    item = dated(date(2022, 7, 31))  # 7月底
    assert ladder(item, china(2022, 8, 9)) == [
        ("remind:7d", china(2022, 7, 25), 0),  # Sun Jul 24 -> Mon: still well before the deadline
        ("remind:3d", china(2022, 7, 28), 0),
        # The day itself (Sun) and remind:1d (Sat) would defer past the deadline: both go
        # out in the last window before it, Friday, once.
        ("remind:day", china(2022, 7, 29), 0),
        ("escalate:1", china(2022, 8, 1), 1),  # escalations still defer
        ("escalate:2", china(2022, 8, 3), 2),
        ("escalate:3", china(2022, 8, 5), 3),
        ("nag:2022-08-09", china(2022, 8, 9), 3),
    ]
    due_on_monday = steps_between(item, DEFAULT, CAL, china(2022, 7, 29), china(2022, 8, 1))
    assert [s.key for s in decide(due_on_monday).send] == ["escalate:1"]


def test_without_the_day_of_reminder_the_one_day_reminder_of_a_sunday_deadline_goes_out_on_friday() -> None:
    policy = Policy(remind_on_day=False)
    assert ladder(dated(date(2022, 7, 31)), china(2022, 7, 31), policy)[-1] == ("remind:1d", china(2022, 7, 29), 0)


def test_a_deadline_on_the_last_day_of_a_holiday_is_reminded_before_the_holiday() -> None:
    # Due Fri 2022-10-07, the last day of National Day: the last window before it is Fri Sep 30.
    item = dated(date(2022, 10, 7), active_since=datetime(2022, 9, 1, tzinfo=CHINA))
    assert ladder(item, china(2022, 10, 7, 23)) == [
        ("remind:day", china(2022, 9, 30), 0),  # 7d, 3d and 1d fall there too: sent once
    ]
    policy = Policy(remind_days_before=(10,))
    assert ladder(item, china(2022, 10, 7, 23), policy) == [
        ("remind:10d", china(2022, 9, 27), 0),
        ("remind:day", china(2022, 9, 30), 0),
    ]


def test_immediate_item_is_reminded_every_working_day_skipping_the_weekend_and_the_holiday() -> None:
    item = Item("immediate", None, datetime(2022, 6, 1, 10, tzinfo=CHINA))  # 立行立改, Wed 10:00
    assert ladder(item, china(2022, 6, 8)) == [
        ("daily:2022-06-02", china(2022, 6, 2), 0),
        ("daily:2022-06-06", china(2022, 6, 6), 0),
        ("daily:2022-06-07", china(2022, 6, 7), 0),
        ("daily:2022-06-08", china(2022, 6, 8), 0),
    ]


def test_immediate_item_created_before_the_window_is_reminded_the_same_morning() -> None:
    item = Item("immediate", None, datetime(2022, 6, 2, 8, 0, tzinfo=CHINA))
    assert next_step_after(item, DEFAULT, CAL, BEGINNING) == Step(
        "daily:2022-06-02", "daily", china(2022, 6, 2), 0, ("handler", "deputy")
    )


def test_immediate_item_can_be_reminded_every_second_working_day() -> None:
    item = Item("immediate", None, datetime(2022, 6, 1, 10, tzinfo=CHINA))
    policy = Policy(immediate_every_workdays=2)
    assert [key for key, _, _ in ladder(item, china(2022, 6, 10), policy)] == [
        "daily:2022-06-06",  # 2nd working day after creation (Jun 2, Jun 6)
        "daily:2022-06-08",
        "daily:2022-06-10",
    ]


def test_long_term_item_has_no_steps_of_its_own() -> None:
    item = Item("long_term", None, SANMENXIA_ISSUED)
    assert steps_between(item, DEFAULT, CAL, BEGINNING, china(2030, 1, 1)) == []
    assert next_step_after(item, DEFAULT, CAL, BEGINNING) is None


def test_an_approved_extension_starts_a_fresh_ladder_after_the_approval() -> None:
    # Due Jun 10 and escalated on Jun 13; extended to Jun 30 on Jun 14 at 11:00.
    extended = dated(date(2022, 6, 30), active_since=datetime(2022, 6, 14, 11, tzinfo=CHINA))
    assert [key for key, _, _ in ladder(extended, china(2022, 7, 1))] == [
        "remind:7d",
        "remind:3d",
        "remind:1d",
        "remind:day",
        "escalate:1",
    ]
    assert next_step_after(extended, DEFAULT, CAL, china(2022, 6, 14, 11)).at == china(2022, 6, 23)


def test_reminders_deferred_over_national_day_keep_only_the_nearest() -> None:
    # Due Mon 2022-10-10. Oct 3, 5 and 7 are holidays deferred to the make-up Saturday
    # Oct 8, where remind:2d already is; the make-up Sunday Oct 9 is a working day.
    item = dated(date(2022, 10, 10), active_since=datetime(2022, 9, 1, tzinfo=CHINA))
    policy = Policy(remind_days_before=(7, 5, 3, 2, 1))
    assert ladder(item, china(2022, 10, 10), policy) == [
        ("remind:2d", china(2022, 10, 8), 0),
        ("remind:1d", china(2022, 10, 9), 0),
        ("remind:day", china(2022, 10, 10), 0),
    ]


def test_without_the_day_of_reminder_a_reminder_deferred_onto_the_due_morning_is_sent_there() -> None:
    policy = Policy(remind_on_day=False)
    assert ladder(dated(date(2022, 6, 20)), china(2022, 6, 21), policy) == [
        ("remind:7d", china(2022, 6, 13), 0),
        ("remind:3d", china(2022, 6, 17), 0),
        ("remind:1d", china(2022, 6, 20), 0),  # Sunday -> the Monday deadline's own morning
        ("escalate:1", china(2022, 6, 21), 1),
    ]


def test_a_custom_window_and_ladder_are_followed() -> None:
    policy = Policy(
        remind_days_before=(2,),
        window_start=time(8, 30),
        window_end=time(12, 0),
        level2_after_workdays=1,
        level3_after_workdays=2,
        nag_every_workdays=1,
    )
    assert ladder(dated(date(2022, 6, 10)), china(2022, 6, 16), policy) == [
        ("remind:2d", china(2022, 6, 8, 8, 30), 0),
        ("remind:day", china(2022, 6, 10, 8, 30), 0),
        ("escalate:1", china(2022, 6, 13, 8, 30), 1),
        ("escalate:2", china(2022, 6, 13, 8, 30), 2),  # same day as level 1
        ("escalate:3", china(2022, 6, 14, 8, 30), 3),
        ("nag:2022-06-15", china(2022, 6, 15, 8, 30), 3),
        ("nag:2022-06-16", china(2022, 6, 16, 8, 30), 3),
    ]


def test_next_step_four_years_overdue_is_the_nag_on_the_right_working_day() -> None:
    item = dated(date(2022, 6, 10))  # escalate:1 on 2022-06-13
    day = date(2026, 6, 2)  # after is past the window start of Jun 1
    while not (CAL.is_workday(day) and CAL.workdays_between(date(2022, 6, 13), day) % 2 == 0):
        day += timedelta(days=1)
    step = next_step_after(item, DEFAULT, CAL, china(2026, 6, 1, 12))
    everyone = ("handler", "deputy", "head")
    assert step == Step(f"nag:{day.isoformat()}", "nag", china(day.year, day.month, day.day), 3, everyone)


def test_a_sweep_at_the_exact_instant_of_a_step_sends_it_once() -> None:
    item = dated(date(2022, 6, 10))
    first = steps_between(item, DEFAULT, CAL, china(2022, 6, 21, 8), china(2022, 6, 21))
    second = steps_between(item, DEFAULT, CAL, china(2022, 6, 21), china(2022, 6, 21, 12))
    assert [s.key for s in first] == ["nag:2022-06-21"]
    assert second == []
    assert next_step_after(item, DEFAULT, CAL, china(2022, 6, 21)).key == "nag:2022-06-23"  # type: ignore[union-attr]


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Item("date", date(2022, 6, 10), datetime(2022, 6, 7, 10))
    with pytest.raises(ValueError, match="aware"):
        steps_between(dated(date(2022, 6, 10)), DEFAULT, CAL, datetime(2022, 6, 1), china(2022, 7, 1))


def test_item_kind_and_due_date_must_agree() -> None:
    with pytest.raises(ValueError):
        Item("date", None, SANMENXIA_ISSUED)
    with pytest.raises(ValueError):
        Item("immediate", date(2022, 6, 10), SANMENXIA_ISSUED)


# --- into_window -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (china(2022, 6, 9, 8, 59), china(2022, 6, 9, 9, 0)),  # before opening: same morning
        (china(2022, 6, 9, 9, 0), china(2022, 6, 9, 9, 0)),  # the window includes its start
        (china(2022, 6, 9, 17, 29), china(2022, 6, 9, 17, 29)),
        (china(2022, 6, 9, 17, 30), china(2022, 6, 10, 9, 0)),  # and excludes its end
        (china(2022, 6, 10, 23, 0), china(2022, 6, 13, 9, 0)),  # Friday night -> Monday
        (china(2022, 6, 11, 10, 0), china(2022, 6, 13, 9, 0)),  # Saturday -> Monday
        (china(2022, 6, 2, 18, 0), china(2022, 6, 6, 9, 0)),  # over the Dragon Boat holiday
        (china(2022, 10, 7, 10, 0), china(2022, 10, 8, 9, 0)),  # National Day -> make-up Saturday
        (china(2022, 10, 8, 10, 0), china(2022, 10, 8, 10, 0)),  # the make-up Saturday works
    ],
)
def test_into_window_defers_to_the_next_send_window_and_never_drops(instant: datetime, expected: datetime) -> None:
    assert into_window(instant, DEFAULT, CAL) == expected


def test_into_window_answers_in_utc_whatever_zone_it_was_given() -> None:
    moved = into_window(datetime(2022, 6, 9, 10, 0, tzinfo=CHINA), DEFAULT, CAL)
    assert moved.utcoffset() == timedelta(0)
    assert moved == china(2022, 6, 9, 10, 0)


# --- decide ------------------------------------------------------------------------


def test_after_three_days_of_downtime_one_daily_reminder_is_sent_and_the_rest_folded() -> None:
    item = Item("immediate", None, datetime(2022, 6, 1, 10, tzinfo=CHINA))
    due = steps_between(item, DEFAULT, CAL, china(2022, 6, 6, 8), china(2022, 6, 8, 12))
    decision = decide(due)
    assert [s.key for s in decision.send] == ["daily:2022-06-08"]
    assert [s.key for s in decision.fold] == ["daily:2022-06-06", "daily:2022-06-07"]


def test_after_downtime_the_item_climbs_every_level_but_sends_the_highest_once_with_the_latest_nag() -> None:
    due = steps_between(dated(date(2022, 6, 10)), DEFAULT, CAL, china(2022, 6, 12), china(2022, 6, 24))
    decision = decide(due)
    assert [s.key for s in decision.climb] == ["escalate:1", "escalate:2", "escalate:3"]
    assert [s.key for s in decision.send] == ["escalate:3", "nag:2022-06-23"]
    assert [s.key for s in decision.fold] == ["escalate:1", "escalate:2", "nag:2022-06-21"]


def test_escalations_the_item_went_through_before_it_was_reopened_are_not_climbed_again() -> None:
    due = steps_between(dated(date(2022, 6, 10)), DEFAULT, CAL, china(2022, 6, 12), china(2022, 6, 22))
    decision = decide(due, level=2)
    assert [s.key for s in decision.climb] == ["escalate:3"]
    assert [s.key for s in decision.send] == ["escalate:3", "nag:2022-06-21"]
    assert [s.key for s in decide(due, level=3).send] == ["nag:2022-06-21"]


def test_a_reminder_due_before_an_escalation_in_the_same_batch_is_folded_into_it() -> None:
    due = steps_between(dated(date(2022, 6, 10)), DEFAULT, CAL, china(2022, 6, 8), china(2022, 6, 13, 12))
    decision = decide(due)
    assert [s.key for s in decision.send] == ["escalate:1"]
    assert [s.key for s in decision.fold] == ["remind:1d", "remind:day"]


def test_deciding_nothing_sends_nothing() -> None:
    assert decide([]) == Decision(send=[], fold=[], climb=[])


# --- items that arrive late: imported, created or reopened after their escalation days --------


def test_an_item_imported_ten_working_days_after_its_deadline_climbs_to_level_3_at_its_first_window() -> None:
    # Due Fri 2022-06-10 (levels on Jun 13, 15, 17), imported Fri Jun 24 at 20:00: first window Mon Jun 27.
    item = dated(date(2022, 6, 10), active_since=china(2022, 6, 24, 20))
    steps = steps_between(item, DEFAULT, CAL, item.active_since, china(2022, 6, 27, 9, 1))
    assert [(s.key, s.at, s.level, s.scheduled_at) for s in steps] == [
        ("escalate:1", china(2022, 6, 27), 1, china(2022, 6, 13)),
        ("escalate:2", china(2022, 6, 27), 2, china(2022, 6, 15)),
        ("escalate:3", china(2022, 6, 27), 3, china(2022, 6, 17)),
        ("nag:2022-06-27", china(2022, 6, 27), 3, china(2022, 6, 27)),  # a nag day: folded into the climb
    ]
    decision = decide(steps)
    assert [s.key for s in decision.climb] == ["escalate:1", "escalate:2", "escalate:3"]
    assert [(s.key, s.audience, s.public_notice) for s in decision.send] == [
        ("escalate:3", ("handler", "deputy", "head"), True)
    ]
    # and afterwards the ladder goes on as for any level-3 item
    assert next_step_after(item, DEFAULT, CAL, china(2022, 6, 27, 9, 1)).key == "nag:2022-06-29"  # type: ignore[union-attr]


def test_an_item_created_inside_a_window_after_its_deadline_climbs_in_that_same_window() -> None:
    created = china(2022, 6, 14, 10, 30)  # Tue: levels 1 (Jun 13) passed, 2 (Jun 15) to come
    item = dated(date(2022, 6, 10), active_since=created)
    first = next_step_after(item, DEFAULT, CAL, created)
    assert first is not None and (first.key, first.level, first.scheduled_at) == ("escalate:1", 1, china(2022, 6, 13))
    assert created < first.at < china(2022, 6, 14, 10, 31)
    assert [s.key for s in steps_between(item, DEFAULT, CAL, created, china(2022, 6, 15, 12))] == [
        "escalate:1",
        "escalate:2",  # on its own day, not caught up
    ]


def test_reminders_of_an_item_that_arrives_after_its_deadline_are_not_sent_at_all() -> None:
    item = dated(date(2022, 6, 10), active_since=china(2022, 6, 24, 20))
    keys = [s.key for s in steps_between(item, DEFAULT, CAL, BEGINNING, china(2022, 7, 1))]
    assert not [k for k in keys if k.startswith("remind:")]


# --- Policy ------------------------------------------------------------------------


def test_policy_round_trips_through_json() -> None:
    policy = Policy(remind_days_before=(5, 2), window_start=time(8, 30), nag_every_workdays=3)
    stored = json.loads(json.dumps(policy.to_dict()))
    assert stored["window_start"] == "08:30"
    assert Policy.from_dict(stored) == policy
    assert Policy.from_dict(DEFAULT.to_dict()) == DEFAULT


def test_policy_from_a_partial_dict_keeps_the_other_defaults() -> None:
    policy = Policy.from_dict({"nag_every_workdays": 3, "window_end": "18:00", "remind_days_before": [1, 10]})
    assert policy.nag_every_workdays == 3
    assert policy.window_end == time(18, 0)
    assert policy.remind_days_before == (10, 1)  # kept longest lead first
    assert policy.window_start == time(9, 0)
    assert policy.level2_after_workdays == 3
    assert Policy.from_dict({}) == DEFAULT


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"nag_every": 2}, "nag_every"),  # unknown key
        ({"nag_every_workdays": "2"}, "nag_every_workdays"),  # a string, not a number
        ({"nag_every_workdays": 2.5}, "nag_every_workdays"),
        ({"nag_every_workdays": True}, "nag_every_workdays"),  # JSON true is not 1
        ({"nag_every_workdays": 0}, "nag_every_workdays"),
        ({"level2_after_workdays": -1}, "level2_after_workdays"),
        ({"immediate_every_workdays": 1000}, "immediate_every_workdays"),
        ({"level2_after_workdays": 5, "level3_after_workdays": 4}, "level3_after_workdays"),
        ({"remind_days_before": [7, -3]}, "remind_days_before"),
        ({"remind_days_before": [3, 3]}, "remind_days_before"),
        ({"remind_days_before": 7}, "remind_days_before"),
        ({"remind_on_day": "yes"}, "remind_on_day"),
        ({"window_start": "9点"}, "window_start"),
        ({"window_start": "25:00"}, "window_start"),
        ({"window_end": 1730}, "window_end"),
        ({"window_start": time(9, 0, 30)}, "window_start"),
        ({"window_start": "17:30", "window_end": "09:00"}, "window_start"),
        ({"window_start": "09:00", "window_end": "09:00"}, "window_start"),
    ],
)
def test_every_invalid_policy_is_refused_with_a_message_naming_the_setting(
    overrides: dict[str, object], setting: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict(overrides)
    assert isinstance(caught.value, ValueError)
    assert caught.value.setting == setting
    message = str(caught.value)
    assert setting in message
    assert "提醒设置" in message  # Chinese for the person at the form
    assert "must" in message or "unknown" in message  # and English


def test_a_policy_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(PolicyError, match="mapping"):
        Policy.from_dict([("nag_every_workdays", 2)])  # type: ignore[arg-type]


def test_policies_are_validated_when_built_directly_too() -> None:
    with pytest.raises(PolicyError):
        Policy(level3_after_workdays=1)


# --- properties over random items, policies and cut points -------------------------

MINUTES_PER_DAY = 24 * 60


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    level2 = draw(st.integers(1, 4))
    return Policy(
        remind_days_before=tuple(draw(st.lists(st.integers(1, 10), unique=True, max_size=4))),
        remind_on_day=draw(st.booleans()),
        window_start=draw(st.sampled_from([time(8, 0), time(8, 30), time(9, 0)])),
        window_end=draw(st.sampled_from([time(12, 0), time(17, 30), time(18, 0)])),
        level2_after_workdays=level2,
        level3_after_workdays=level2 + draw(st.integers(0, 3)),
        nag_every_workdays=draw(st.integers(1, 3)),
        immediate_every_workdays=draw(st.integers(1, 3)),
    )


@st.composite
def items(draw: st.DrawFn) -> Item:
    kind = draw(st.sampled_from(["date", "date", "date", "immediate", "long_term"]))
    due_on = draw(st.dates(date(2021, 1, 1), date(2025, 6, 30)))
    offset = draw(st.integers(-40 * MINUTES_PER_DAY, 10 * MINUTES_PER_DAY))
    active_since = datetime.combine(due_on, time(0, 0), tzinfo=CHINA) + timedelta(minutes=offset)
    return Item(kind, due_on if kind == "date" else None, active_since.astimezone(UTC))


def around(item: Item, minutes: int) -> datetime:
    return item.active_since + timedelta(minutes=minutes)


cut_points = st.integers(-5 * MINUTES_PER_DAY, 60 * MINUTES_PER_DAY)


@settings(deadline=None)
@given(items(), policies(), cut_points, cut_points, cut_points)
def test_adjacent_ranges_add_up_to_the_whole_range(item: Item, policy: Policy, x: int, y: int, z: int) -> None:
    a, b, c = (around(item, m) for m in sorted((x, y, z)))
    whole = steps_between(item, policy, CAL, a, c)
    assert steps_between(item, policy, CAL, a, b) + steps_between(item, policy, CAL, b, c) == whole


@settings(deadline=None)
@given(items(), policies(), st.data())
def test_a_cut_exactly_at_a_step_puts_the_step_in_the_earlier_range(
    item: Item, policy: Policy, data: st.DataObject
) -> None:
    steps = steps_between(item, policy, CAL, BEGINNING, around(item, 60 * MINUTES_PER_DAY))
    if steps:
        cut = data.draw(st.sampled_from(steps)).at
        assert steps_between(item, policy, CAL, BEGINNING, cut) == [s for s in steps if s.at <= cut]
        assert all(s.at > cut for s in steps_between(item, policy, CAL, cut, around(item, 60 * MINUTES_PER_DAY)))
        following = next_step_after(item, policy, CAL, cut)
        assert following is not None and following.at > cut


@settings(deadline=None)
@given(items(), policies(), cut_points)
def test_the_next_step_is_the_first_of_all_steps_to_come(item: Item, policy: Policy, x: int) -> None:
    after = around(item, x)
    to_come = steps_between(item, policy, CAL, after, after + timedelta(days=400))
    assert next_step_after(item, policy, CAL, after) == (to_come[0] if to_come else None)


@settings(deadline=None)
@given(items(), policies())
def test_every_step_is_after_the_start_in_a_working_window_in_order_with_rising_levels(
    item: Item, policy: Policy
) -> None:
    steps = steps_between(item, policy, CAL, BEGINNING, around(item, 60 * MINUTES_PER_DAY))
    assert steps == sorted(steps, key=lambda s: (s.at, s.key))
    assert len({s.key for s in steps}) == len(steps)
    levels = [s.level for s in steps]
    assert levels == sorted(levels)
    for step in steps:
        assert step.at > item.active_since
        assert step.at.utcoffset() == timedelta(0)
        local = step.at.astimezone(CHINA)
        assert CAL.is_workday(local.date())
        assert policy.window_start <= local.time() < policy.window_end
        assert step.public_notice == (step.key == "escalate:3")
        if item.due_on is not None and step.kind == "remind":
            assert step.at < end_of_day_utc(item.due_on)  # a reminder is never late
        if step.caught_up_from is not None:  # only an escalation whose day passed before the item arrived
            assert step.kind == "escalate" and step.caught_up_from <= item.active_since < step.at


@settings(deadline=None)
@given(items(), policies(), cut_points, st.integers(0, 10 * MINUTES_PER_DAY), st.integers(0, 3))
def test_decide_climbs_every_due_level_sends_the_highest_and_at_most_one_reminder_and_folds_the_rest(
    item: Item, policy: Policy, x: int, downtime: int, level: int
) -> None:
    after = around(item, x)
    due = steps_between(item, policy, CAL, after, after + timedelta(minutes=downtime))
    decision = decide(due, level)
    assert sorted(decision.send + decision.fold, key=lambda s: (s.at, s.key)) == due
    assert decision.climb == [s for s in due if s.kind == "escalate" and s.level > level]
    assert [s for s in decision.send if s.kind == "escalate"] == decision.climb[-1:]
    assert len([s for s in decision.send if s.kind != "escalate"]) <= 1


@settings(deadline=None)
@given(items(), policies())
def test_at_its_first_send_window_an_item_is_at_the_level_in_force_however_late_it_arrived(
    item: Item, policy: Policy
) -> None:
    if item.due_on is None:
        return
    first_window = into_window(item.active_since + timedelta(microseconds=1), policy, CAL)
    due = steps_between(item, policy, CAL, item.active_since, first_window)
    reached = max((s.level for s in decide(due).climb), default=0)
    always_there = Item("date", item.due_on, BEGINNING)  # the same deadline, entered long before
    ladder_then = steps_between(always_there, policy, CAL, BEGINNING, first_window)
    assert reached == max((s.level for s in ladder_then if s.kind == "escalate"), default=0)


@settings(deadline=None)
@given(items(), policies())
def test_the_last_reminder_goes_out_in_the_last_window_before_the_deadline_whatever_day_it_falls_on(
    item: Item, policy: Policy
) -> None:
    if item.due_on is None or not policy.remind_on_day:
        return
    last_day = next(d for d in (item.due_on - timedelta(days=k) for k in range(30)) if CAL.is_workday(d))
    last_window = datetime.combine(last_day, policy.window_start, tzinfo=CHINA).astimezone(UTC)
    if last_window <= item.active_since:
        return  # it arrived after that window: nothing can be sent before the deadline
    steps = steps_between(item, policy, CAL, BEGINNING, end_of_day_utc(item.due_on))
    assert [s.at for s in steps if s.kind == "remind"][-1] == last_window
