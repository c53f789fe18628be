"""When a remindable item is reminded, and how an overdue one climbs the escalation ladder.

The schedule is a pure function of (item, policy, calendar): a database sweep stores,
per item, the instant up to which steps were handled and the instant of the next step,
and asks this module for the steps in between. Nothing here reads the clock, so two
sweeps (or a sweep re-run after a crash) always see the same steps with the same keys,
and the outbox's unique key turns a repeat into a no-op.

All instants are aware UTC datetimes; every calendar question (which day, which hour,
is it a working day) is asked in China time, because that is where people work.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from app.domain.deadlines import CHINA, DeadlineKind
from app.domain.workcalendar import WorkCalendar

StepKind = Literal["remind", "daily", "escalate", "nag"]

# Bounds keep a stored per-plan override from pushing date arithmetic out of range
# (and from scheduling nonsense such as a reminder three years ahead).
MAX_REMIND_DAYS = 366
MAX_WORKDAYS = 250  # about one year of working days

_HANDLER_AND_DEPUTY = ("handler", "deputy")
# Everyone in the unit the ladder has reached at each level: it only ever adds people.
# Level 1 the 经办人 and 分管领导, level 2 also the 主要领导 (first responsible). Level 3
# puts the item on the 通报 list (public_notice), and the issuing unit's supervisors
# hear of it there: one list per working day of all their plans' items at level 3,
# instead of a message per item (see app.services.sweep).
NOTICE_LEVEL = 3


def on_notice_list(level: int) -> bool:
    """Whether an item at this ladder level is on the 通报 list: the one rule behind every
    stored ``public_notice`` (written only through :func:`ladder_columns`)."""
    return level >= NOTICE_LEVEL


def ladder_columns(level: int) -> dict[str, int | bool]:
    """The stored columns of an item's place on the ladder, always written together."""
    return {"escalation_level": level, "public_notice": on_notice_list(level)}


LADDER_AUDIENCE: dict[int, tuple[str, ...]] = {
    1: _HANDLER_AND_DEPUTY,
    2: (*_HANDLER_AND_DEPUTY, "head"),
    3: (*_HANDLER_AND_DEPUTY, "head"),
}
# The 签收 ladder of a task not yet acknowledged: the handler (经办人) is reminded on the
# morning of the acknowledgement's last day and hears first when it passes (level 1), then
# the head (level 2), then the issuing unit's supervisors (level 3, "supervisor"). It never
# puts the task on the 通报 list: that list is about the work, not the receipt.
Ladder = Literal["deadline", "ack"]
ACK_AUDIENCE: dict[int, tuple[str, ...]] = {
    0: ("handler",),
    1: ("handler",),
    2: ("handler", "head"),
    3: ("handler", "head", "supervisor"),
}
_AUDIENCES: dict[Ladder, dict[int, tuple[str, ...]]] = {
    "deadline": {0: _HANDLER_AND_DEPUTY, **LADDER_AUDIENCE},
    "ack": ACK_AUDIENCE,
}
_REMINDER_LIKE = frozenset({"remind", "daily", "nag"})
_HH_MM = re.compile(r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})")
_ONE_DAY = timedelta(days=1)
_INSTANT = timedelta(microseconds=1)  # the least time after an instant (steps are strictly after their start)
_WORKDAY_SETTINGS = (
    "level2_after_workdays",
    "level3_after_workdays",
    "nag_every_workdays",
    "immediate_every_workdays",
    "ack_within_workdays",
    "ack_level2_after_workdays",
    "ack_level3_after_workdays",
)


class PolicyError(ValueError):
    """A reminder policy that cannot be used; the message says which setting and why.

    `setting` names the offending key (None when the whole value is wrong), so a form
    can put the message next to the right field.
    """

    def __init__(self, setting: str | None, zh: str, en: str) -> None:
        self.setting, self.zh, self.en = setting, zh, en
        where = f"提醒设置「{setting}」" if setting else "提醒设置"
        super().__init__(f"{where}{zh} ({setting or 'policy'}: {en})")


@dataclass(frozen=True)
class Policy:
    """How far ahead to remind, when messages may go out, and how fast the ladder climbs.

    The defaults are what the seed notices imply; a plan may override any of them
    (stored as JSON, see `to_dict` / `from_dict`). Construction validates, so an
    invalid policy cannot exist. `remind_days_before` is kept sorted, longest lead
    first, so two policies that mean the same compare equal.
    """

    remind_days_before: tuple[int, ...] = (7, 3, 1)
    remind_on_day: bool = True  # the morning of the due day
    window_start: time = time(9, 0)  # send window, China time, working days only
    window_end: time = time(17, 30)
    level2_after_workdays: int = 3  # working days after the due date
    level3_after_workdays: int = 5
    nag_every_workdays: int = 2  # repeat nag while overdue, from level 1 on
    immediate_every_workdays: int = 1  # 立行立改: reminded every working day until done
    # 回头看: the issuing side re-checks each task this many days after it was struck off
    # (0: no look-back); the re-check is then reminded and escalates like a task
    lookback_days: int = 0
    # 签收: a task assigned to a unit must be acknowledged within this many working days of
    # its arrival (and by its own deadline at the latest); until then its own ladder climbs
    # on these working days after that day: level 1 the day after (the handler), level 2
    # the head, level 3 the issuing unit. Nags follow nag_every_workdays.
    ack_within_workdays: int = 2
    ack_level2_after_workdays: int = 2
    ack_level3_after_workdays: int = 3

    def __post_init__(self) -> None:
        days = self.remind_days_before
        if not isinstance(days, tuple | list):
            raise PolicyError(
                "remind_days_before", f"应为天数列表，收到 {days!r}", f"must be a list of days, got {days!r}"
            )
        for n in days:
            _check_int("remind_days_before", n, 1, MAX_REMIND_DAYS)
        if len(set(days)) != len(days):
            raise PolicyError(
                "remind_days_before", f"中有重复的天数：{list(days)}", f"must not repeat a day, got {list(days)}"
            )
        object.__setattr__(self, "remind_days_before", tuple(sorted(days, reverse=True)))
        if not isinstance(self.remind_on_day, bool):
            raise PolicyError(
                "remind_on_day", f"应为 true 或 false，收到 {self.remind_on_day!r}", "must be true or false"
            )
        for name in ("window_start", "window_end"):
            _check_time(name, getattr(self, name))
        if self.window_start >= self.window_end:
            raise PolicyError(
                "window_start",
                f"发送时段开始时间 {_hh_mm(self.window_start)} 必须早于结束时间 {_hh_mm(self.window_end)}",
                f"must be earlier than window_end, got {_hh_mm(self.window_start)} and {_hh_mm(self.window_end)}",
            )
        for name in _WORKDAY_SETTINGS:
            _check_int(name, getattr(self, name), 1, MAX_WORKDAYS)
        _check_int("lookback_days", self.lookback_days, 0, MAX_REMIND_DAYS)
        for prefix in ("", "ack_"):
            level2 = getattr(self, f"{prefix}level2_after_workdays")
            level3 = getattr(self, f"{prefix}level3_after_workdays")
            if level3 < level2:
                raise PolicyError(
                    f"{prefix}level3_after_workdays",
                    f"即第三级升级（{level3} 个工作日）不能早于第二级（{level2} 个工作日）",
                    f"must be at least {prefix}level2_after_workdays ({level2}), got {level3}",
                )

    def for_ack(self) -> Policy:
        """The policy the 签收 ladder runs on: the same send window and nags, the ack
        escalation days, and one reminder, on the morning of the acknowledgement's last day."""
        return replace(
            self,
            remind_days_before=(),
            remind_on_day=True,
            level2_after_workdays=self.ack_level2_after_workdays,
            level3_after_workdays=self.ack_level3_after_workdays,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists and "HH:MM" strings) that `from_dict` reads back."""
        data = asdict(self)
        data["remind_days_before"] = list(self.remind_days_before)
        data["window_start"] = _hh_mm(self.window_start)
        data["window_end"] = _hh_mm(self.window_end)
        return data

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Policy:
        """The defaults with the stored overrides applied; partial dicts are welcome.

        Times may be "HH:MM" strings (as JSON stores them) or `time` values. Anything
        unusable raises PolicyError naming the setting, in Chinese and English.
        """
        if not isinstance(d, Mapping):
            raise PolicyError(None, f"应为键值对象，收到 {d!r}", f"must be a mapping, got {type(d).__name__}")
        known = [f.name for f in fields(cls)]
        for key in d:
            if key not in known:
                raise PolicyError(
                    str(key),
                    f"不是可设置的项，可设置的项：{'、'.join(known)}",
                    f"unknown setting; known settings: {', '.join(known)}",
                )
        values = dict(d)
        for name in ("window_start", "window_end"):
            if isinstance(values.get(name), str):
                values[name] = _parse_hh_mm(name, values[name])
        return cls(**values)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    """Reject bools too: JSON `true` must not silently mean one working day."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(name, f"应为整数，收到 {value!r}", f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise PolicyError(
            name, f"应在 {low} 到 {high} 之间，收到 {value}", f"must be between {low} and {high}, got {value}"
        )


def _check_time(name: str, value: object) -> None:
    """A wall-clock China time to the minute, so that `to_dict` round-trips it exactly."""
    if not isinstance(value, time) or value.tzinfo is not None or value.second or value.microsecond:
        raise PolicyError(
            name, f"应为“时:分”格式的时间（如 09:00），收到 {value!r}", f"must be a time as HH:MM, got {value!r}"
        )


def _parse_hh_mm(name: str, text: str) -> time:
    match = _HH_MM.fullmatch(text.strip())
    hour, minute = (int(match["hour"]), int(match["minute"])) if match else (-1, -1)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise PolicyError(
            name, f"应为“时:分”格式的时间（如 09:00），收到 {text!r}", f"must be a time as HH:MM, got {text!r}"
        )
    return time(hour, minute)


def _hh_mm(value: time) -> str:
    return value.strftime("%H:%M")


def _require_aware(name: str, instant: datetime) -> None:
    """A naive datetime has no defined instant; guessing its zone would shift reminders."""
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {instant!r}")


@dataclass(frozen=True)
class Item:
    """What the ladder needs to know about a task or one occurrence of a report.

    `active_since` is when the item was created, reopened, or when an extension was
    approved: a new `Item` with the new `due_on` and that moment replaces the old
    schedule, and no step at or before it exists (an extension stops the old ladder),
    except that escalations whose day has passed are caught up at the first send window
    after it (an item imported after its deadline is as overdue as one entered before).
    """

    deadline_kind: DeadlineKind
    due_on: date | None  # China date; the deadline instant is the end of that day
    active_since: datetime
    ladder: Ladder = "deadline"  # "ack": the 签收 of a task (its due_on the acknowledgement's last day)

    def __post_init__(self) -> None:
        if self.deadline_kind not in ("date", "immediate", "long_term"):
            raise ValueError(f"unknown deadline kind {self.deadline_kind!r}")
        if self.ladder not in _AUDIENCES:
            raise ValueError(f"unknown ladder {self.ladder!r}")
        if (self.deadline_kind == "date") != (self.due_on is not None):
            raise ValueError(f"a {self.deadline_kind!r} item cannot have due_on={self.due_on!r}")
        _require_aware("active_since", self.active_since)


@dataclass(frozen=True)
class Step:
    """One thing that happens to an item at one instant: the unit of the outbox.

    `key` is stable and unique per item, so (item, key, recipient) identifies a message
    no matter how often the schedule is recomputed. `level` is the ladder level the item
    is at after this step (0 before the deadline).
    """

    key: str
    kind: StepKind
    at: datetime  # UTC, always inside the send window of a working day
    level: int
    audience: tuple[str, ...]  # positions in the responsible unit: "handler", "deputy", "head"
    # An escalation whose day had passed when the item arrived (created, imported,
    # reopened, or extended to a past date) is caught up at the item's first send window;
    # this is the instant it would have happened.
    caught_up_from: datetime | None = None
    ladder: Ladder = "deadline"

    @property
    def public_notice(self) -> bool:
        """Whether this step puts the item on the 通报 list (the deadline ladder's climb to level 3)."""
        return self.ladder == "deadline" and self.kind == "escalate" and on_notice_list(self.level)

    @property
    def scheduled_at(self) -> datetime:
        """When the calendar put this step: ``at`` unless it was caught up."""
        return self.caught_up_from or self.at


@dataclass(frozen=True)
class Decision:
    """What a sweep sends, what it records as handled without a message of its own, and
    the levels the item climbs (each written into its history, lowest first)."""

    send: list[Step]
    fold: list[Step]
    climb: list[Step] = field(default_factory=list)


def into_window(instant: datetime, policy: Policy, cal: WorkCalendar) -> datetime:
    """`instant` if it falls inside the send window of a working day, else the next window's start.

    A step that falls at night, on a weekend or in a holiday is deferred, never
    dropped: nobody reads a reminder sent at 02:00 on National Day.
    """
    _require_aware("instant", instant)
    local = instant.astimezone(CHINA)
    day, clock = local.date(), local.time()
    if cal.is_workday(day):
        if clock < policy.window_start:
            return _window_start(day, policy)
        if clock < policy.window_end:
            return instant.astimezone(UTC)
    return _window_start(cal.add_workdays(day, 1), policy)


def steps_between(item: Item, policy: Policy, cal: WorkCalendar, after: datetime, until: datetime) -> list[Step]:
    """Every step with after < step.at <= until, ordered by (at, key).

    Adjacent ranges add up: (a, b] then (b, c] gives exactly (a, c], which is what lets
    a sweep resume from its stored `swept_until` without losing or repeating a step.
    """
    _require_aware("until", until)
    return list(itertools.takewhile(lambda step: step.at <= until, _steps_after(item, policy, cal, after)))


def next_step_after(item: Item, policy: Policy, cal: WorkCalendar, after: datetime) -> Step | None:
    """The first step with at > after: what the sweep stores as the item's next_action_at.

    None only when the item never has a step (long-term items, whose stage goals are
    items of their own). Cost grows with the working days between the ladder's start
    and `after`, never with the number of steps in between.
    """
    return next(_steps_after(item, policy, cal, after), None)


def decide(due: list[Step], level: int = 0) -> Decision:
    """Which of one item's due steps to send, for an item now at ``level``.

    The item climbs to the highest level among the due escalations, and every level
    above ``level`` it passes is in ``climb`` (each is recorded once). Only the highest
    is sent: its audience is everyone the ladder has reached, so after a late import or
    downtime each person hears once, at the level the item is really at, rather than
    once per skipped level. An escalation at or below ``level`` happened already (before
    a reopening, say) and is folded. Of the reminder-like steps only the latest is sent,
    because three stale "still overdue" messages say nothing the last one does not; one
    at or before the climb is folded into it, because the climb tells the same people.
    """
    ordered = sorted(due, key=_order)
    climb = [step for step in ordered if step.kind == "escalate" and step.level > level]
    reminders = [step for step in ordered if step.kind in _REMINDER_LIKE]
    send = climb[-1:]
    if reminders and (not climb or reminders[-1].at > climb[-1].at):
        send.append(reminders[-1])
    fold = [step for step in ordered if step not in send]
    return Decision(send=sorted(send, key=_order), fold=fold, climb=climb)


def _order(step: Step) -> tuple[datetime, str]:
    return step.at, step.key


def _window_start(day: date, policy: Policy) -> datetime:
    return datetime.combine(day, policy.window_start, tzinfo=CHINA).astimezone(UTC)


def _last_started_day(instant: datetime, policy: Policy) -> date:
    """The latest China date whose window start is at or before `instant`.

    Steps on a series of days are at window start, so the days still to come after
    `instant` are exactly those after this date.
    """
    local = instant.astimezone(CHINA)
    return local.date() if local.time() >= policy.window_start else local.date() - _ONE_DAY


def _every_nth_workday(cal: WorkCalendar, base: date, every: int, past: date) -> Iterator[date]:
    """The every-th, 2*every-th, ... working day after `base`, from the first one after `past`.

    Jumps straight to the first day after `past` (one pass over the working days in
    between) instead of stepping through the series, so a far-future `past` stays cheap.
    """
    if past <= base:
        day = cal.add_workdays(base, every)
    else:
        elapsed = cal.workdays_between(base, past)
        day = cal.add_workdays(past, every - elapsed % every)
    while True:
        yield day
        day = cal.add_workdays(day, every)


def _steps_after(item: Item, policy: Policy, cal: WorkCalendar, after: datetime) -> Iterator[Step]:
    """All steps with at > after (and > active_since), lazily and in (at, key) order."""
    _require_aware("after", after)
    lower = max(after, item.active_since)
    if item.deadline_kind == "immediate":
        return _daily_steps(item, policy, cal, lower)
    if item.due_on is not None:  # a "date" item, by Item's invariant
        fixed = [step for step in _fixed_steps(item, item.due_on, policy, cal) if step.at > lower]
        return heapq.merge(fixed, _nag_steps(item, item.due_on, policy, cal, lower), key=_order)
    return iter(())


def _daily_steps(item: Item, policy: Policy, cal: WorkCalendar, lower: datetime) -> Iterator[Step]:
    """立行立改: a reminder on every n-th working day counted from the item's start."""
    base = _last_started_day(item.active_since, policy)
    for day in _every_nth_workday(cal, base, policy.immediate_every_workdays, _last_started_day(lower, policy)):
        yield Step(f"daily:{day.isoformat()}", "daily", _window_start(day, policy), 0, _HANDLER_AND_DEPUTY)


def _escalation_days(due_on: date, policy: Policy, cal: WorkCalendar) -> tuple[date, date, date]:
    """The days on which levels 1, 2 and 3 begin."""
    return (
        cal.add_workdays(due_on, 1),
        cal.add_workdays(due_on, policy.level2_after_workdays),
        cal.add_workdays(due_on, policy.level3_after_workdays),
    )


def _fixed_steps(item: Item, due_on: date, policy: Policy, cal: WorkCalendar) -> list[Step]:
    """The finite part of a dated item's ladder: reminders and escalations, ordered.

    Reminders are deferred to the next send window like everything else, except that a
    reminder is never sent after the deadline: one whose window would come after it (the
    due day, or the days before it, off work) goes out in the last window before it. A
    remind:Nd step is dropped when its instant is not earlier than that of the next
    nearer reminder (ultimately the day-of one), which tells the truth about the time left.

    An escalation whose day is not after the item's start is caught up at the item's
    first send window, so an item that arrives late climbs at once to the level in force.
    """
    escalations = []
    catch_up_at = None  # computed only for an item that arrived late
    for level, day in enumerate(_escalation_days(due_on, policy, cal), start=1):
        natural = _window_start(day, policy)
        late = natural <= item.active_since
        if late and catch_up_at is None:
            catch_up_at = into_window(item.active_since + _INSTANT, policy, cal)
        at, caught_up_from = (catch_up_at, natural) if late else (natural, None)
        audience = _AUDIENCES[item.ladder][level]
        escalations.append(Step(f"escalate:{level}", "escalate", at, level, audience, caught_up_from, item.ladder))
    last_window = _window_start(_workday_on_or_before(cal, due_on), policy)
    reminders: list[Step] = []
    limit = None
    leads = ((0, "remind:day"),) if policy.remind_on_day else ()
    for n, key in (*leads, *((n, f"remind:{n}d") for n in reversed(policy.remind_days_before))):  # nearest first
        at = min(into_window(_window_start(due_on - timedelta(days=n), policy), policy, cal), last_window)
        if limit is None or at < limit:
            reminders.append(Step(key, "remind", at, 0, _AUDIENCES[item.ladder][0], ladder=item.ladder))
            limit = at
    return sorted(reminders + escalations, key=_order)


def _workday_on_or_before(cal: WorkCalendar, day: date) -> date:
    while not cal.is_workday(day):
        day -= _ONE_DAY
    return day


def _nag_steps(item: Item, due_on: date, policy: Policy, cal: WorkCalendar, lower: datetime) -> Iterator[Step]:
    """While overdue, a nag every n working days after escalate:1, except on escalation days
    (where the escalation tells the same people), to everyone the ladder has reached."""
    first, *later = _escalation_days(due_on, policy, cal)
    for day in _every_nth_workday(cal, first, policy.nag_every_workdays, _last_started_day(lower, policy)):
        if day in later:
            continue
        level = 1 + sum(start < day for start in later)
        audience = _AUDIENCES[item.ladder][level]
        yield Step(f"nag:{day.isoformat()}", "nag", _window_start(day, policy), level, audience, ladder=item.ladder)
