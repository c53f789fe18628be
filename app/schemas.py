"""Request and response shapes. The API validates with these and the OpenAPI document
is generated from them, so the documentation cannot drift from what is enforced.

Requests are strict: unknown fields and wrong JSON types are refused, not coerced.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.domain.deadlines import Basis
from app.domain.events import EVENT_KINDS, MODES
from app.domain.receipt import ReceiptState
from app.domain.workflow import State

BASIS_DOC = (
    "what the date was computed from: fixed (the date as written), received (counted from the day the unit "
    "received the task), issued (counted from the plan's issue date), requested (counted from an extension request)"
)
WorkdaysFrom = Literal["received", "issued"]


def describe(err: ValidationError) -> str:
    """A validation error as one line a person can act on: "field: problem; …"."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in err.errors()[:5])


# Integers the database can hold: ids, versions and counts are PostgreSQL ``integer``.
# A larger number is refused here (422) or by the URL converter (404), never by the driver.
DB_INT_MAX = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
# A number of days: the domain checks its own sensible range; this only keeps a number no
# calendar can count (2**70) from reaching it.
Days = Annotated[int, Field(ge=-DB_INT_MAX, le=DB_INT_MAX)]

# Characters no one types: C0 controls but tab and line breaks, DEL, C1 controls, lone
# surrogates and the bidirectional overrides that make text read differently from how it
# is stored. PostgreSQL refuses NUL outright; the others only spoil lists and messages.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
CONTROL_MESSAGE = "含有不可见的控制字符（如 NUL），请删除后重试"


def control_character(text: str) -> str | None:
    """The first character of ``text`` that input may not carry, as ``U+0000``, or None."""
    found = _CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def db_int(text: str) -> int:
    """``request.form.get(name, type=db_int)``: a form's number, or the default when it is
    not one or is beyond what the database holds (Werkzeug turns ValueError into the default)."""
    value = int(text)
    if not 0 <= value <= DB_INT_MAX:
        raise ValueError(f"{value} is out of range")
    return value


class Strict(BaseModel):
    """Every request body: unknown fields and wrong JSON types refused, no control characters."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value):
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and (char := control_character(text)):
                raise ValueError(f"{CONTROL_MESSAGE}（{char}）")
        return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Text = Field(default="", max_length=20000)


# ---- auth -----------------------------------------------------------------------------
class TokenRequest(Strict):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(Out):
    token: str
    expires_in: int


class ErrorOut(Out):
    error: str
    message: str
    details: list = []


# ---- units and users ------------------------------------------------------------------
class UnitIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="", max_length=40)
    parent_id: Id | None = None


class UnitNoticeIn(Strict):
    """What a unit prints on the 督办单 it issues: the 督办编号's prefix and whom to call."""

    notice_prefix: str = Field(default="", max_length=40)
    contact_person: str = Field(default="", max_length=100)
    contact_phone: str = Field(default="", max_length=40)


class UnitOut(Out):
    id: int
    name: str
    kind: str
    parent_id: int | None
    depth: int
    notice_prefix: str = ""
    contact_person: str = ""
    contact_phone: str = ""


class UserIn(Strict):
    username: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=200)
    full_name: str = Field(default="", max_length=100)
    unit_id: Id
    role: Literal["admin", "supervisor", "official", "viewer"]
    position: Literal["head", "deputy", "handler"] | None = None
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)


class UserOut(Out):
    id: int
    username: str
    full_name: str
    unit_id: int
    role: str
    position: str | None
    email: str | None
    phone: str | None


# ---- plans ----------------------------------------------------------------------------
class PhaseIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    deadline: str = Field(min_length=1, max_length=100, description="e.g. 5月底前, 6月25日前")


class PlanIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    doc_number: str = Field(default="", max_length=100, description="文号, e.g. 三建〔2022〕187号")
    issuing_unit_id: Id | None = Field(default=None, description="defaults to your own unit")
    issued_on: date
    evidence_required: bool = True
    workdays_from: WorkdaysFrom = Field(
        default="received",
        description="「N个工作日内」 counts from the day each unit receives its task (default) or from the issue date",
    )
    phases: list[PhaseIn] = Field(default_factory=list, max_length=20)


class CarryIn(Strict):
    """One received task carried into an answering plan (举一反三): its problem's text, for
    the units under the answering unit."""

    task_id: Id = Field(description="the received task (of the plan answered) this problem answers")
    unit_ids: list[Id] | None = Field(default=None, min_length=1, max_length=5000)
    all_units_under: Id | None = Field(default=None, description="every unit directly under this one")
    deadline: str | None = Field(default=None, max_length=100, description="default: the received task's deadline")

    @model_validator(mode="after")
    def one_target(self) -> CarryIn:
        if (self.unit_ids is None) == (self.all_units_under is None):
            raise ValueError("give exactly one of unit_ids or all_units_under")
        return self


class AnswerIn(Strict):
    """An answering plan (各县…制定整改方案): a unit's own plan, with its own 文号 and dates,
    answering a plan it received tasks in."""

    title: str = Field(min_length=1, max_length=300)
    doc_number: str = Field(default="", max_length=100, description="the answering plan's own 文号")
    issued_on: date
    evidence_required: bool = True
    holds_received: bool = Field(
        default=True,
        description="a received task cannot be marked rectified while the problems answering it are open",
    )
    open_to_above: bool = Field(
        default=False, description="supervisors above the answering unit act on this plan too (default: they read it)"
    )
    phases: list[PhaseIn] = Field(default_factory=list, max_length=20)
    carry: list[CarryIn] = Field(default_factory=list, max_length=5000)


class PlanEditIn(Strict):
    """What may change once a plan is issued. Its issuing unit, issue date and counting basis
    stay: every task's deadline and supervisor were worked out from them."""

    title: str = Field(min_length=1, max_length=300)
    doc_number: str = Field(default="", max_length=100)
    evidence_required: bool = True
    phases: list[PhaseIn] = Field(default_factory=list, max_length=20)
    version: int = Field(ge=1, description="the plan's version you read")


class PhaseOut(Out):
    seq: int
    name: str
    deadline_text: str
    ends_on: date | None


class Figures(Out):
    total: int
    by_state: dict[str, int]
    overdue: int
    completion_rate: float = Field(description="closed / total (销号率)")
    rectified_rate: float = Field(description="(rectified + verified + closed) / total")
    rebounds: int = Field(default=0, description="问题反弹: look-backs (回头看) that reopened a closed task")


class PlanOut(Out):
    id: int
    title: str
    doc_number: str
    issuing_unit_id: int
    issued_on: date
    evidence_required: bool
    workdays_from: WorkdaysFrom
    phases: list[PhaseOut]
    version: int = 1
    answers_plan_id: int | None = Field(default=None, description="the plan this plan answers")
    holds_received: bool = True
    supervised_above: bool = True
    figures: Figures | None = None


class BelowTaskOut(Out):
    task_id: int
    unit_name: str
    state: State


class BelowProblemOut(Out):
    problem_id: int
    seq: int
    title: str
    answers_task_id: int | None
    tasks: list[BelowTaskOut]


class BranchOut(Out):
    """One answering plan below a plan (flattened in tree order; ``depth`` 1 answers the
    plan asked about, 2 answers one of those …)."""

    plan_id: int
    answers_plan_id: int
    depth: int
    unit_name: str
    doc_number: str
    title: str
    figures: Figures
    problems: list[BelowProblemOut]


class AnswerOut(Out):
    """A problem answering a received task, and where its tasks stand below."""

    plan_id: int
    doc_number: str
    problem_id: int
    seq: int
    title: str
    done: bool
    tasks: list[BelowTaskOut]


# ---- problems -------------------------------------------------------------------------
class MilestoneIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    deadline: str = Field(min_length=1, max_length=100)


class ProblemFields(Strict):
    """What a problem says and whom it is for: the same rules on creating and on editing."""

    category: str = Field(default="", max_length=100)
    nature: Literal["common", "individual"]
    title: str = Field(min_length=1, max_length=300)
    description: str = Text
    source: str = Field(default="", max_length=200)
    measures: str = Text
    deadline: str = Field(min_length=1, max_length=100, description="整改时限 as written")
    remarks: str = Text
    unit_ids: list[Id] | None = Field(default=None, min_length=1, max_length=5000)
    all_units_under: Id | None = Field(
        default=None,
        description="fan out to every unit directly under this one "
        "(e.g. 各县（市、区）住房和城乡建设部门 = the issuing unit)",
    )

    @model_validator(mode="after")
    def one_target(self) -> ProblemFields:
        if (self.unit_ids is None) == (self.all_units_under is None):
            raise ValueError("give exactly one of unit_ids or all_units_under")
        return self


class ProblemIn(ProblemFields):
    seq: Id | None = Field(default=None, description="defaults to the next number")
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=50)
    answers_task_id: Id | None = Field(
        default=None, description="in an answering plan: the received task this problem answers (举一反三)"
    )


class ProblemEditIn(ProblemFields):
    """A problem as it should read now, with all its responsible units: a unit added gets a
    task, a unit left out has its task withdrawn with ``reason``, and a changed deadline is
    counted again for each open task that follows it (not one an extension moved)."""

    reason: str = Field(default="", max_length=5000, description="撤销理由 for the tasks of units left out")
    version: int = Field(ge=1, description="the problem's version you read")


class WithdrawIn(Strict):
    reason: str = Field(min_length=1, max_length=5000, description="why the problem is withdrawn (撤销理由)")


class WithdrawOut(Out):
    problem_id: int
    withdrawn: list[int] = Field(description="the tasks withdrawn now (closed ones stay closed)")


class MilestoneOut(Out):
    seq: int
    title: str
    deadline_text: str
    due_at: datetime | None


class ProblemOut(Out):
    id: int
    plan_id: int
    seq: int
    category: str
    nature: str
    title: str
    description: str
    source: str
    measures: str
    deadline_text: str
    deadline_kind: str
    due_at: datetime | None
    remarks: str
    version: int = 1
    state: State | None = None
    task_count: int = 0
    milestones: list[MilestoneOut] = []
    answers_task_id: int | None = None


# ---- tasks ----------------------------------------------------------------------------
class TaskQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)
    plan_id: Id | None = None
    unit_id: Id | None = None
    state: State | None = None
    overdue: bool | None = None
    due_within_days: int | None = Field(default=None, ge=0, le=366, description="open tasks due within N days")
    category: str | None = Field(default=None, max_length=100)
    nature: Literal["common", "individual"] | None = None
    colour: Literal["blue", "yellow", "red"] | None = Field(default=None, description="三色督办")
    receipt: ReceiptState | None = Field(default=None, description="签收: pending, acknowledged, declined, insisted")
    q: str | None = Field(
        default=None,
        max_length=100,
        description="keyword: a substring of the problem (title, description), its measures, a rectification "
        "account or the unit's name; Chinese text matches anywhere, % and _ are taken literally",
    )
    sort: Literal["due", "-due", "unit", "state", "updated"] = "due"
    after: str | None = Field(
        default=None,
        max_length=1000,
        description="a page's `next`: the page that follows it, in the same order and filter (as fast on the "
        "thousandth page as on the first)",
    )
    before: str | None = Field(default=None, max_length=1000, description="a page's `prev`: the page before it")
    page: int = Field(
        default=1,
        ge=1,
        le=DB_INT_MAX,
        description="the Nth page counted from the first: kept for old links; each page further costs more "
        "(it skips the ones before), so follow `next` and `prev` instead",
    )
    per_page: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def one_position(self) -> TaskQuery:
        if [self.after is not None, self.before is not None, self.page != 1].count(True) > 1:
            raise ValueError("give at most one of after, before and page")
        return self


class TaskOut(Out):
    id: int
    plan_id: int
    problem_id: int
    unit_id: int
    unit_name: str
    problem_title: str
    state: State
    deadline_kind: str
    deadline_text: str = Field(description="the deadline in force as written (the problem's, or an extension's)")
    due_at: datetime | None
    deadline_basis: Basis | None = Field(description=BASIS_DOC)
    deadline_counted_from: date | None = Field(description="the day a count of days started from")
    calendar_provisional: bool = Field(
        description="working days of a year without the official holiday calendar went into the date or its "
        "reminders; it is counted again when the official calendar arrives"
    )
    overdue: bool
    escalation_level: int = 0
    public_notice: bool = False
    colour: Literal["blue", "yellow", "red"] | None = Field(default=None, description="三色督办")
    owner_id: int | None
    version: int
    allowed: list[State] = Field(default_factory=list, description="states you may move it to")
    receipt: ReceiptState = Field(
        description="签收: pending (待签收), acknowledged, declined (拒收, the issuing side decides) or insisted "
        "(维持交办: to acknowledge, no second decline)"
    )
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, description="who acknowledged it (签收人)")
    ack_due_at: datetime | None = Field(default=None, description="the last instant to acknowledge it")
    ack_level: int = Field(default=0, description="the 签收 ladder: 1 handler, 2 head, 3 the issuing unit")
    scope_note: str = Field(default="", description="缩小范围: what the problem asks of this unit, if narrowed")


class TaskPage(Out):
    items: list[TaskOut]
    total: int = Field(description="tasks matching the filter, counted up to 1,000 (see `more`)")
    more: bool = Field(description="more than `total` tasks match: the count stops at 1,000")
    has_next: bool = Field(description="a next page exists")
    next: str | None = Field(description="`after` for the next page; none on the last")
    prev: str | None = Field(description="`before` for the page before; none on the first")
    page: int
    per_page: int


class AckIn(Strict):
    version: Id


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=5000, description="why (拒收理由 / 维持交办理由)")
    version: Id


class NarrowIn(Strict):
    scope: str = Field(min_length=1, max_length=5000, description="what the problem now asks of this unit")
    reason: str = Field(min_length=1, max_length=5000)
    version: Id


class ReassignIn(Strict):
    unit_id: Id = Field(description="the unit the task moves to (转办)")
    reason: str = Field(min_length=1, max_length=5000)
    version: Id


class SplitIn(Strict):
    unit_ids: list[Id] = Field(min_length=1, max_length=1000, description="the units that get a task too (分办)")
    reason: str = Field(min_length=1, max_length=5000)
    version: Id


class SplitOut(Out):
    task_id: int
    created: list[int] = Field(description="the new tasks, one per unit")


class AckAllOut(Out):
    acknowledged: list[int] = Field(description="the tasks acknowledged now")


class TransitionIn(Strict):
    to: State
    comment: str = Field(default="", max_length=5000)
    version: Id
    evidence_ids: list[Id] | None = Field(
        default=None, max_length=1000, description="evidence to attach; default: all not yet attached"
    )


class ChainHeadQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: datetime = Field(description="the instant printed beside the head, ISO 8601 with its zone")
    plan_id: Id | None = None
    unit_id: Id | None = Field(default=None, description="tasks of units at or under this unit")
    tasks: str | None = Field(
        default=None,
        max_length=10000,
        pattern=r"^[1-9]\d{0,8}(,[1-9]\d{0,8})*$",
        description="task ids, comma-separated",
    )
    head: str | None = Field(
        default=None, pattern=r"^[a-z0-9]{1,10}:[0-9a-f]{64}$", description="the printed head, e.g. sm3:3f2a…"
    )

    @field_validator("as_of", mode="before")
    @classmethod
    def _plus(cls, value):
        """A "+08:00" typed into a URL unescaped arrives as " 08:00"."""
        return value.replace(" ", "+") if isinstance(value, str) else value

    @field_validator("as_of")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("as_of needs its zone, e.g. 2022-06-09T09:00:00+08:00")
        return value


class ChainHeadOut(Out):
    """The chain head of a scope as of an instant, every covered link hashed again."""

    head: str = Field(description="algorithm:digest, as documents print it")
    algorithm: str
    digest: str
    tasks: int
    events: int
    as_of: datetime
    matches: bool | None = Field(default=None, description="whether the head given as ?head= is this one")


class EventOut(Out):
    seq: int
    kind: str
    from_state: str | None
    to_state: str
    actor_id: int | None
    actor_name: str | None
    at: datetime
    comment: str
    data: dict = Field(
        default_factory=dict,
        description="what the step recorded, e.g. old_due_at and new_due_at, or an escalation's level, "
        "the day it was scheduled for and whether it was caught up later",
    )
    evidence_ids: list[int] = []


class EvidenceOut(Out):
    id: int
    task_id: int
    event_id: int | None
    original_name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by_id: int
    uploaded_at: datetime


class HolidayIn(Strict):
    day: date
    is_workday: bool
    note: str = Field(default="", max_length=200)


class CalendarChangeOut(HolidayIn):
    moved: int = Field(description="open tasks whose deadline moved with this change (each written into its history)")


class OfficialYearIn(Strict):
    official: bool = Field(description="true: the admin table holds this year's official holidays and make-up days")


class CalendarYearOut(Out):
    year: int
    source: Literal["package", "admin", "provisional"] = Field(
        description="package: the official calendar package covers it; admin: marked official by an admin; "
        "provisional: weekdays less the holidays package's public holidays, plus the admin table"
    )
    moved: int | None = Field(default=None, description="after a change: open tasks whose deadline moved")


# ---- reporting obligations, extensions, inbox --------------------------------------------
class ObligationIn(Strict):
    title: str = Field(min_length=1, max_length=200, description="e.g. 整改方案及台账, 整改情况报告, 周报")
    schedule: str = Field(min_length=1, max_length=100, description="6月10日前, 每周五, 每月底, 每季度")
    ends_on: date | None = Field(default=None, description="last day recurring reports are due")
    unit_ids: list[Id] | None = Field(default=None, min_length=1, max_length=5000)
    all_units_under: Id | None = None
    from_ledger: Literal["sanmenxia", "yuzhou"] | None = Field(
        default=None,
        description="从台账生成: each report is drafted from what changed in the unit's part of the ledger "
        "since the previous one, in this ledger layout; the unit adds only its note",
    )


class ObligationOut(Out):
    id: int
    plan_id: int
    title: str
    schedule_text: str
    kind: str
    starts_on: date
    ends_on: date
    ledger_layout: str | None = Field(description="from the ledger, in this layout (null: the unit writes it)")


class SubmissionOut(Out):
    id: int
    obligation_id: int
    plan_id: int
    unit_id: int
    due_on: date
    due_at: datetime
    state: str
    note: str
    file_name: str | None
    answer_plan_id: int | None = Field(default=None, description="the answering plan handed in as this report")
    escalation_level: int
    submitted_at: datetime | None
    decided_at: datetime | None
    decision_comment: str
    version: int


class LookbackIn(Strict):
    confirmed: bool = Field(description="true: the fix held; false: 问题反弹, the task reopens")
    comment: str = Field(default="", max_length=5000, description="what was found (required for a rebound)")
    version: Id


class LookbackOut(Out):
    id: int
    task_id: int
    plan_id: int
    unit_id: int
    closed_at: datetime
    due_at: datetime
    state: str
    checked_by_id: int | None
    checked_at: datetime | None
    comment: str
    escalation_level: int
    version: int


class ReviewIn(Strict):
    accept: bool
    comment: str = Field(default="", max_length=5000)
    version: Id


class ExtensionIn(Strict):
    deadline: str = Field(min_length=1, max_length=100, description="the new deadline as written, e.g. 8月31日")
    reason: str = Field(min_length=1, max_length=5000)


class ExtensionDecisionIn(Strict):
    approve: bool
    comment: str = Field(default="", max_length=5000)


class ExtensionOut(Out):
    id: int
    task_id: int
    requested_by_id: int
    requested_at: datetime
    reason: str
    new_deadline_text: str
    new_due_at: datetime
    state: str
    decided_by_id: int | None
    decided_at: datetime | None
    decision_comment: str


class NotificationOut(Out):
    id: int
    kind: str
    level: int
    subject: str
    data: dict
    created_at: datetime
    read_at: datetime | None


class InboxPage(Out):
    items: list[NotificationOut]
    unread: int
    next_before: int | None = Field(default=None, description="?before= for the next (older) page; none on the last")


class PolicyIn(Strict):
    """A plan's overrides of the default reminder policy; omitted keys keep the default."""

    model_config = ConfigDict(extra="forbid", strict=False)
    remind_days_before: list[Days] | None = Field(default=None, max_length=366)
    remind_on_day: bool | None = None
    window_start: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{2}$")
    window_end: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{2}$")
    level2_after_workdays: Days | None = None
    level3_after_workdays: Days | None = None
    nag_every_workdays: Days | None = None
    immediate_every_workdays: Days | None = None
    lookback_days: Days | None = Field(
        default=None, description="回头看: re-check each task this many days after it is closed (0: none)"
    )
    ack_within_workdays: Days | None = Field(default=None, description="签收: working days to acknowledge a task")
    ack_level2_after_workdays: Days | None = None
    ack_level3_after_workdays: Days | None = None


class PolicyOut(Out):
    effective: dict
    overrides: dict


EventKind = Literal[EVENT_KINDS]  # a tuple subscript: the same as listing each kind
EventMode = Literal[MODES]


class PreferencesIn(Strict):
    notify_email: bool | None = None
    digest: bool | None = Field(default=None, description="one daily e-mail listing everything instead of one per item")
    events: dict[EventKind, EventMode] | None = Field(
        default=None,
        description="per workflow event: off (nothing), inbox (in-app only), digest (in the daily digest), "
        "mail (a mail in the send window) or instant (a mail at once); kinds left out keep their choice",
    )
    lang: Literal["zh", "en"] | None = Field(default=None, description="the language of your messages")


class PreferencesOut(Out):
    notify_email: bool
    digest: bool
    events: dict[EventKind, EventMode] = Field(description="the mode in force for every workflow event")
    lang: Literal["zh", "en"]


class UrgeIn(Strict):
    task_ids: list[Id] = Field(min_length=1, max_length=200)
    comment: str = Field(default="", max_length=5000)


class UrgeSkipped(Out):
    task_id: int
    reason: str


class UrgeOut(Out):
    urged: list[int]
    skipped: list[UrgeSkipped]


class RobotIn(Strict):
    kind: Literal["wecom", "dingtalk"] | None = Field(description="null removes the unit's robot")
    url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    secret: str | None = Field(default=None, max_length=200, description="DingTalk signing secret")


class FailedNotificationOut(Out):
    id: int
    key: str
    channel: str
    status: str
    subject: str
    attempts: int
    last_error: str
    possibly_sent_twice: bool = Field(description="a worker died after handing it over, and it went again")
    recipient_id: int | None
    unit_id: int | None
    created_at: datetime
