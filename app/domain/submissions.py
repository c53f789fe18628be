"""The states of a submission (one report one unit owes for one occurrence of an
obligation, 报送).

``submit`` (pending or returned → submitted) by the unit that owes it, with a note or a
file; ``accept`` (submitted → accepted) and ``return`` (submitted → returned, with a
reason: the report is owed again) by the supervising side. Pending and returned reports
are still owed: they are reminded and escalate when late.
"""

from __future__ import annotations

from enum import StrEnum

from app.domain.moves import Move, MoveTable
from app.domain.permissions import Actor, Side
from app.domain.workflow import TransitionError


class SubmissionState(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"


OWED = (SubmissionState.PENDING, SubmissionState.RETURNED)
LABELS = {
    SubmissionState.PENDING: "待报送",
    SubmissionState.SUBMITTED: "已报送",
    SubmissionState.RETURNED: "已退回",
    SubmissionState.ACCEPTED: "已采纳",
}

TABLE = MoveTable(
    "报送事项",
    LABELS,
    (
        Move("submit", "报送", SubmissionState.PENDING, SubmissionState.SUBMITTED, Side.RESPONSIBLE),
        Move("submit", "报送", SubmissionState.RETURNED, SubmissionState.SUBMITTED, Side.RESPONSIBLE),
        Move("accept", "审核通过", SubmissionState.SUBMITTED, SubmissionState.ACCEPTED, Side.SUPERVISING),
        Move(
            "return", "退回", SubmissionState.SUBMITTED, SubmissionState.RETURNED, Side.SUPERVISING, needs_comment=True
        ),
    ),
)


def check(name: str, state: SubmissionState, actor: Actor, comment: str = "", has_content: bool = True) -> Move:
    """``has_content``: for ``submit``, whether a note or a file comes with it."""
    move = TABLE.check(name, state, actor, comment)
    if move.name == "submit" and not has_content:
        raise TransitionError("invalid", "报送需要附上文件或填写说明。")
    return move


def may(name: str, state: SubmissionState, actor: Actor) -> bool:
    return TABLE.may(name, state, actor)
