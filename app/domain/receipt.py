"""签收: a task's receipt by its responsible unit, as a table of moves, and its last day.

A task the issuing side assigns arrives ``pending`` (待签收). The unit acknowledges it
(签收) or declines it with a reason (拒收 / 提出异议); starting the work (开始整改)
acknowledges it too, recorded as such. A declined task waits on the issuing side, which

- **insists** (维持交办, with a reason): the task stands and waits for the unit's
  acknowledgement again (``insisted``), which it may no longer decline;
- **narrows** it (缩小范围): the problem's scope for that unit is rewritten and the task
  is ``pending`` again (the unit may acknowledge or decline what it now says);
- or **reassigns** it (转办) to another unit, where it is ``pending``.

Reassigning and splitting (分办: new tasks of the same problem for other units) are the
issuing side's at any time while the task is still 挂账 (no unit has started it). A task
a unit reported itself (自查) is acknowledged when it is created.

Until acknowledged, an open task has its own ladder (app.domain.reminders, ``ladder="ack"``)
counted from the acknowledgement's last day: :func:`ack_due`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from app.domain.deadlines import CHINA, end_of_day_utc
from app.domain.moves import Move, MoveTable
from app.domain.permissions import Actor, Side, on_side
from app.domain.workcalendar import WorkCalendar
from app.domain.workflow import OPEN_STATES, STATE_LABELS, State, TransitionError


class ReceiptState(StrEnum):
    PENDING = "pending"  # 待签收
    ACKNOWLEDGED = "acknowledged"  # 已签收
    DECLINED = "declined"  # 已拒收 (提出异议), awaiting the issuing side
    INSISTED = "insisted"  # 维持交办: awaiting the acknowledgement, no second decline


LABELS = {
    ReceiptState.PENDING: "待签收",
    ReceiptState.ACKNOWLEDGED: "已签收",
    ReceiptState.DECLINED: "已拒收（待下发单位处理）",
    ReceiptState.INSISTED: "维持交办（待签收）",
}
AWAITING = (ReceiptState.PENDING, ReceiptState.INSISTED)  # the unit owes its acknowledgement: the ack ladder runs

TABLE = MoveTable(
    "任务签收",
    LABELS,
    (
        *(
            Move("acknowledge", "签收", st, ReceiptState.ACKNOWLEDGED, Side.RESPONSIBLE)
            for st in (ReceiptState.PENDING, ReceiptState.INSISTED, ReceiptState.DECLINED)
        ),
        Move("decline", "拒收", ReceiptState.PENDING, ReceiptState.DECLINED, Side.RESPONSIBLE, needs_comment=True),
        Move("insist", "维持交办", ReceiptState.DECLINED, ReceiptState.INSISTED, Side.SUPERVISING, needs_comment=True),
        Move("narrow", "缩小范围", ReceiptState.DECLINED, ReceiptState.PENDING, Side.SUPERVISING, needs_comment=True),
    ),
)


def check(name: str, receipt: ReceiptState, task_state: State, actor: Actor, comment: str = "") -> Move:
    """The receipt move ``name`` now, or TransitionError: only while the task is 挂账 or
    整改中 (a rectified, closed or withdrawn task has nothing left to receive)."""
    move = TABLE.check(name, receipt, actor, comment)
    if task_state not in OPEN_STATES:
        raise TransitionError(
            "conflict", "任务当前为「{state}」，已不能{move}。", state=STATE_LABELS[task_state], move=move.label
        )
    return move


def may(name: str, receipt: ReceiptState, task_state: State, actor: Actor) -> bool:
    """Whether a page should offer ``actor`` the receipt move ``name`` now."""
    return task_state in OPEN_STATES and TABLE.may(name, receipt, actor)


def check_redirect(name: str, task_state: State, actor: Actor) -> None:
    """转办 (``reassign``) and 分办 (``split``): the issuing side's, while no unit has
    started the task (挂账), whatever its receipt."""
    label = {"reassign": "转办", "split": "分办"}[name]
    if not on_side(actor, Side.SUPERVISING):
        raise TransitionError("forbidden", "「{move}」只能由下发方案单位的督办人员操作。", move=label)
    if task_state is not State.IDENTIFIED:
        raise TransitionError(
            "conflict",
            "任务当前为「{state}」，责任单位已开始办理，不能再{move}。",
            state=STATE_LABELS[task_state],
            move=label,
        )


def may_redirect(task_state: State, actor: Actor) -> bool:
    return task_state is State.IDENTIFIED and on_side(actor, Side.SUPERVISING)


def awaiting(receipt: str) -> bool:
    """The unit still owes its acknowledgement (the ack ladder runs while the task is open)."""
    return receipt in AWAITING


def ack_due(received: datetime, within_workdays: int, task_due: datetime | None, cal: WorkCalendar) -> datetime:
    """The acknowledgement's last instant: the end of the ``within_workdays``-th working day
    after the day of receipt (China time), and no later than the task's own deadline: a
    task that arrives already overdue (a late import) is overdue for acknowledgement too,
    and its ack ladder starts at the level in force."""
    received_on: date = received.astimezone(CHINA).date()
    due = end_of_day_utc(cal.add_workdays(received_on, within_workdays))
    return min(due, task_due) if task_due is not None else due


def awaiting_columns(
    receipt: ReceiptState, received: datetime, within_workdays: int, task_due: datetime | None, cal: WorkCalendar
) -> dict:
    """A task's stored receipt when it starts waiting for an acknowledgement at ``received``
    (assigned, reassigned, narrowed, insisted on): a fresh ack ladder from that instant
    (a new outbox epoch), always written together."""
    return {
        "receipt": receipt.value,
        "acknowledged_at": None,
        "acknowledged_by_id": None,
        "ack_due_at": ack_due(received, within_workdays, task_due, cal),
        "ack_since": received,
        "ack_swept_until": received,
        "ack_next_action_at": received,
        "ack_level": 0,
    }


def acknowledged_columns(by_user_id: int, at: datetime) -> dict:
    """A task's stored receipt once acknowledged: who and when; its ack ladder stops."""
    return {
        "receipt": ReceiptState.ACKNOWLEDGED.value,
        "acknowledged_at": at,
        "acknowledged_by_id": by_user_id,
        "ack_next_action_at": None,
    }


def waiting_on_issuer_columns() -> dict:
    """Declined: the issuing side decides; nothing is owed by the unit meanwhile."""
    return {"receipt": ReceiptState.DECLINED.value, "ack_next_action_at": None}
