"""A record's states as a table of moves: for extension requests and submissions (the
task's own table, with its evidence and rectifier guards, is app.domain.workflow).

A move has a name, the state it leaves (None: the record does not exist yet), the state
it reaches, the side that makes it (app.domain.permissions) and whether it needs a
written reason. Refusals are TransitionError, as for tasks: the wrong side is
"forbidden" (403), a record no longer in the move's state is a "conflict" (409: someone
else was first), a missing reason is "invalid" (422).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from app.domain.permissions import Actor, Side, on_side
from app.domain.workflow import TransitionError

S = TypeVar("S", bound=StrEnum)

SIDE_NAMES = {Side.RESPONSIBLE: "责任单位人员", Side.SUPERVISING: "下发方案单位的督办人员"}


@dataclass(frozen=True)
class Move(Generic[S]):
    name: str
    label: str  # what a person calls the move: 批准, 退回 …
    source: S | None
    target: S
    side: Side
    needs_comment: bool = False


class MoveTable(Generic[S]):
    def __init__(self, record: str, labels: Mapping[S, str], moves: tuple[Move[S], ...]) -> None:
        self.record = record  # 延期申请, 报送事项
        self.labels = labels
        self.moves = moves

    def may(self, name: str, state: S | None, actor: Actor) -> bool:
        """Whether ``actor`` may make the move ``name`` now (reasons are asked for later)."""
        return any(m.name == name and m.source == state and on_side(actor, m.side) for m in self.moves)

    def check(self, name: str, state: S | None, actor: Actor, comment: str = "") -> Move[S]:
        """The move called ``name`` from ``state``, or TransitionError. Who may make it is
        asked first, so a party's answer does not depend on who else was quicker."""
        named = [m for m in self.moves if m.name == name]
        if not named:
            raise ValueError(f"no move {name!r} for {self.record}")
        if not on_side(actor, named[0].side):
            raise TransitionError(
                "forbidden", "「{move}」只能由{who}操作。", move=named[0].label, who=SIDE_NAMES[named[0].side]
            )
        move = next((m for m in named if m.source == state), None)
        if move is None:
            if state is None:
                raise TransitionError(
                    "conflict",
                    "该{record}尚不存在，不能{move}。请刷新后查看。",
                    record=self.record,
                    move=named[0].label,
                )
            raise TransitionError(
                "conflict",
                "该{record}当前为「{state}」，不能{move}。请刷新后查看。",
                record=self.record,
                state=self.labels[state],
                move=named[0].label,
            )
        if move.needs_comment and not comment.strip():
            raise TransitionError("invalid", "「{move}」需要填写理由。", move=move.label)
        return move
