"""The words and figures of drafted documents (整改情况报告, periodic reports from the
ledger, the 通报 draft), from plain values: a task's history as of an instant, why an
item is still open, what comes next, and a period's changes in one sentence.

Pure: the service reads the history and hands its rows here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from app.domain.workflow import STATE_LABELS, State

DONE = (State.RECTIFIED, State.VERIFIED, State.CLOSED)  # rectified by the unit, checked or not


@dataclass(frozen=True)
class Step:
    """One history entry as the drafts need it."""

    at: datetime
    kind: str  # created | transition | (entries that keep the state: urged, extended …)
    from_state: str | None
    to_state: str
    move: str | None  # the workflow move of a transition (start, rectify, reject …)
    comment: str


def state_as_of(steps: Sequence[Step], instant: datetime) -> State | None:
    """The task's state at ``instant`` (None: it did not exist yet). Steps in order."""
    seen = [st for st in steps if st.at <= instant]
    return State(seen[-1].to_state) if seen else None


def accounts(steps: Iterable[Step], instant: datetime) -> list[str]:
    """The unit's written accounts of its rectification (提交整改), oldest first."""
    return [st.comment for st in steps if st.at <= instant and st.move == "rectify" and st.comment.strip()]


def last_reason(steps: Sequence[Step], instant: datetime) -> str:
    """Why the supervising side sent the task back (退回 / reopened), if that was its last say."""
    for st in reversed([s for s in steps if s.at <= instant]):
        if st.move == "rectify":
            return ""
        if st.move in ("reject", "reopen") and st.comment.strip():
            return st.comment.strip()
    return ""


def percent(rate: float) -> str:
    """0.1111 → 「11.1%」."""
    return f"{rate * 100:.1f}%"


def is_open(state: State) -> bool:
    """Still on the unit's or the supervisor's books (not struck off, not withdrawn)."""
    return state not in (State.CLOSED, State.WITHDRAWN)


def why_open(state: State, deadline_text: str, overdue_workdays: int | None, reason: str) -> str:
    """Why an item is not struck off, in a sentence of the report."""
    if state is State.RECTIFIED:
        return "已完成整改，待督办单位核实。"
    if state is State.VERIFIED:
        return "已通过核实，待销号。"
    where = "尚未开始整改" if state is State.IDENTIFIED else "正在整改"
    if reason:
        where += f"（督办单位退回：{reason}）"
    if overdue_workdays:
        return f"{where}，已超过整改时限（{deadline_text}）{overdue_workdays}个工作日。"
    return f"{where}，整改时限{deadline_text}。" if deadline_text else f"{where}。"


def next_step(title: str, state: State, deadline_text: str) -> str:
    if state is State.RECTIFIED:
        return f"{title}：配合督办单位做好核实工作。"
    if state is State.VERIFIED:
        return f"{title}：做好销号准备，巩固整改成果。"
    when = "立即" if deadline_text in ("", "立行立改") else f"于{deadline_text}完成并"
    return f"{title}：压实责任，{when}整改到位，上传佐证材料。"


CLOSING_STEP = "持续巩固整改成果，举一反三、建章立制，防止问题反弹。"


def china_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True)
class PeriodChange:
    """What happened to one task in a period, from its history."""

    new: bool  # the task (the problem, for the unit) arrived in the period
    moves: list[tuple[str | None, str]]  # (from, to) of each change of state
    accounts: list[str]
    evidence: int  # files uploaded in the period

    @property
    def empty(self) -> bool:
        return not (self.new or self.moves or self.accounts or self.evidence)

    def text(self) -> str:
        parts = ["新增问题"] if self.new else []
        parts += [f"{STATE_LABELS[State(a)]}→{STATE_LABELS[State(b)]}" for a, b in self.moves if a]
        parts += [f"整改说明：{t}" for t in self.accounts]
        if self.evidence:
            parts.append(f"新增佐证材料{self.evidence}份")
        return "；".join(parts)


def period_change(
    steps: Sequence[Step], evidence_at: Iterable[datetime], start: datetime, end: datetime
) -> PeriodChange:
    """The task's changes in (start, end]."""
    inside = [st for st in steps if start < st.at <= end]
    return PeriodChange(
        new=any(st.kind == "created" for st in inside),
        moves=[(st.from_state, st.to_state) for st in inside if st.kind == "transition"],
        accounts=[st.comment for st in inside if st.move == "rectify" and st.comment.strip()],
        evidence=sum(1 for at in evidence_at if start < at <= end),
    )


def period_summary(changes: Sequence[PeriodChange], states_at_end: Sequence[State]) -> str:
    """本期新增问题2个，状态变化3项（其中已整改1项），提交整改说明1项，新增佐证材料2份；截至期末…"""
    moved = [b for c in changes for a, b in c.moves if a]
    rectified = sum(1 for b in moved if b == State.RECTIFIED)
    closed = sum(1 for b in moved if b == State.CLOSED)
    counted = [st for st in states_at_end if st is not State.WITHDRAWN]
    done = sum(1 for st in counted if st in DONE)
    return (
        f"本期新增问题{sum(c.new for c in changes)}个，状态变化{len(moved)}项"
        f"（其中提交整改{rectified}项、销号{closed}项），"
        f"提交整改说明{sum(len(c.accounts) for c in changes)}项，新增佐证材料{sum(c.evidence for c in changes)}份。"
        f"截至期末，共有整改任务{len(counted)}项，已整改{done}项，"
        f"已销号{sum(1 for st in counted if st is State.CLOSED)}项，尚未完成{len(counted) - done}项。"
    )
