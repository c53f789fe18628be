"""The states of a deadline extension request (延期).

``request`` (no pending request → pending) by the task's own unit, with a reason;
``approve`` (pending → approved) and ``deny`` (pending → denied, with a reason) by the
supervising side. Every move needs the task still open (identified or in progress): a
rectified, verified or closed task has no deadline left to move.
"""

from __future__ import annotations

from enum import StrEnum

from app.domain.moves import Move, MoveTable
from app.domain.permissions import Actor, Side
from app.domain.workflow import OPEN_STATES, STATE_LABELS, State, TransitionError


class ExtensionState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


LABELS = {ExtensionState.PENDING: "待审批", ExtensionState.APPROVED: "已批准", ExtensionState.DENIED: "不予延期"}

TABLE = MoveTable(
    "延期申请",
    LABELS,
    (
        Move("request", "申请延期", None, ExtensionState.PENDING, Side.RESPONSIBLE, needs_comment=True),
        Move("approve", "批准延期", ExtensionState.PENDING, ExtensionState.APPROVED, Side.SUPERVISING),
        Move("deny", "不予延期", ExtensionState.PENDING, ExtensionState.DENIED, Side.SUPERVISING, needs_comment=True),
    ),
)


def check(name: str, state: ExtensionState | None, task_state: State, actor: Actor, comment: str) -> Move:
    """``state``: the request's state; for ``request``, that of the task's pending
    request if it has one (then a second is refused), else None."""
    move = TABLE.check(name, state, actor, comment)
    if task_state not in OPEN_STATES:
        raise TransitionError(
            "conflict", "任务当前为「{state}」，已不能延期或审批延期。", state=STATE_LABELS[task_state]
        )
    return move


def may(name: str, state: ExtensionState | None, task_state: State, actor: Actor) -> bool:
    """Whether a page should offer ``actor`` the move ``name`` now."""
    return task_state in OPEN_STATES and TABLE.may(name, state, actor)
