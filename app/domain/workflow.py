"""The task state machine: which moves exist, who may make them, and their guards.

Pure rules over plain values. The service layer gathers the facts (who the actor is in
relation to the task, how much evidence is attached) and this module decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.domain.permissions import Actor, Side, on_side


class State(StrEnum):
    IDENTIFIED = "identified"  # 挂账
    IN_PROGRESS = "in_progress"  # 整改中
    RECTIFIED = "rectified"  # 已整改, awaiting check
    VERIFIED = "verified"  # 已核实
    CLOSED = "closed"  # 销号
    WITHDRAWN = "withdrawn"  # 已撤销: the supervisor took the problem back, with a reason


ORDER = tuple(State)
OPEN_STATES = (State.IDENTIFIED, State.IN_PROGRESS)  # the unit still owes work
OFF_THE_BOOKS = (State.CLOSED, State.WITHDRAWN)  # no longer counted open on the ledger
# an answering problem's task is done once its own supervisor checked it (or withdrew it)
ANSWERED = (State.VERIFIED, State.CLOSED, State.WITHDRAWN)
COUNTED = tuple(st for st in State if st is not State.WITHDRAWN)  # what totals and rates count
WITHDRAWABLE = (State.IDENTIFIED, State.IN_PROGRESS, State.RECTIFIED, State.VERIFIED)  # closed stays closed
STATE_LABELS = {
    State.IDENTIFIED: "挂账",
    State.IN_PROGRESS: "整改中",
    State.RECTIFIED: "已整改",
    State.VERIFIED: "已核实",
    State.CLOSED: "已销号",
    State.WITHDRAWN: "已撤销",
}


@dataclass(frozen=True)
class Move:
    name: str
    source: State
    target: State
    side: Side
    needs_comment: bool = False
    needs_evidence: bool = False
    not_by_rectifier: bool = False
    waits_for_answers: bool = False  # a received task waits for the problems answering it


MOVES: tuple[Move, ...] = (
    Move("start", State.IDENTIFIED, State.IN_PROGRESS, Side.RESPONSIBLE),
    Move(
        "rectify",
        State.IN_PROGRESS,
        State.RECTIFIED,
        Side.RESPONSIBLE,
        needs_comment=True,
        needs_evidence=True,
        waits_for_answers=True,
    ),
    Move(
        "reject",
        State.RECTIFIED,
        State.IN_PROGRESS,
        Side.SUPERVISING,
        needs_comment=True,
        not_by_rectifier=True,
    ),
    Move("verify", State.RECTIFIED, State.VERIFIED, Side.SUPERVISING, not_by_rectifier=True),
    Move("close", State.VERIFIED, State.CLOSED, Side.SUPERVISING, not_by_rectifier=True),
    Move("reopen", State.CLOSED, State.IN_PROGRESS, Side.SUPERVISING, needs_comment=True),
    # a spot check (抽查) that finds a verified task not really fixed sends it back too
    Move("reopen", State.VERIFIED, State.IN_PROGRESS, Side.SUPERVISING, needs_comment=True),
    # a problem withdrawn (assigned in error, or overtaken): each task not yet struck off
    # leaves the ledger with the reason in its history; nothing is deleted, nothing reopens it
    *(Move("withdraw", st, State.WITHDRAWN, Side.SUPERVISING, needs_comment=True) for st in WITHDRAWABLE),
)
_BY_EDGE = {(m.source, m.target): m for m in MOVES}
# each move as people name it (a refusal names the step it refused)
MOVE_LABELS = {
    "start": "开始整改",
    "rectify": "提交整改",
    "reject": "退回整改",
    "verify": "核实通过",
    "close": "销号",
    "reopen": "重新整改",
    "withdraw": "撤销",
}


@dataclass(frozen=True)
class TaskFacts:
    state: State
    rectified_by: int | None
    evidence_count: int  # evidence that would be attached by this move
    evidence_required: bool
    # the problems of answering plans (that hold their received task) still open below:
    # each named as people name it, 「卢整〔2022〕3号 第2项 帮扶工作管理不规范（古城镇：整改中）」
    open_answers: tuple[str, ...] = ()


class TransitionError(Exception):
    """A refused move. ``kind`` maps to HTTP: conflict 409, forbidden 403, invalid 422."""

    def __init__(self, kind: str, template: str, **params) -> None:
        self.kind = kind
        self.template = template  # worded in Chinese with {name} places: the pages' catalogue key
        self.params = params
        self.message = template.format(**params) if params else template
        super().__init__(self.message)


def may_urge(state: State, actor: Actor) -> bool:
    """催办: the supervising side may urge a task while the unit still owes work on it."""
    return state in OPEN_STATES and on_side(actor, Side.SUPERVISING)


def allowed_moves(facts: TaskFacts, actor: Actor) -> list[Move]:
    """Moves this actor may attempt now (guards on comment/evidence checked later)."""
    return [
        m
        for m in MOVES
        if m.source == facts.state
        and on_side(actor, m.side)
        and not (m.not_by_rectifier and facts.rectified_by == actor.user_id)
    ]


def check_move(facts: TaskFacts, actor: Actor, target: State, comment: str) -> Move:
    """Return the move from the current state to ``target`` or raise TransitionError."""
    move = _BY_EDGE.get((facts.state, target))
    if move is None:
        nexts = [STATE_LABELS[m.target] + f"({m.target})" for m in MOVES if m.source == facts.state]
        raise TransitionError(
            "conflict",
            "任务当前为「{state}」，不能改为 {target}。可转入：{nexts}",
            state=STATE_LABELS[facts.state],
            target=target,
            nexts="、".join(nexts) or "无",
        )
    if not on_side(actor, move.side):
        who = "责任单位经办人员" if move.side is Side.RESPONSIBLE else "下发方案单位的督办人员"
        raise TransitionError("forbidden", "「{move}」只能由{who}操作。", move=MOVE_LABELS[move.name], who=who)
    if move.not_by_rectifier and facts.rectified_by == actor.user_id:
        raise TransitionError("forbidden", "不能核实或销号自己提交整改的任务（须由他人核实）。")
    if move.waits_for_answers and facts.open_answers:
        raise TransitionError(
            "conflict",
            "下级单位答复本任务的问题尚未整改完成（须经本单位核实），暂不能提交整改。未完成：{open}",
            open="；".join(facts.open_answers),
        )
    if move.needs_comment and not comment.strip():
        what = "整改情况说明" if move.name == "rectify" else "理由"
        raise TransitionError("invalid", "「{move}」需要填写{what}。", move=MOVE_LABELS[move.name], what=what)
    if move.needs_evidence and facts.evidence_required and facts.evidence_count == 0:
        raise TransitionError("invalid", "提交整改需要至少一份佐证材料（先上传照片或文件）。")
    return move


def check_evidence(state: State, actor: Actor) -> None:
    """Evidence is the responsible unit's proof, accepted while the task is in its hands
    (identified or in progress); after that it can no longer change what was checked."""
    if not on_side(actor, Side.RESPONSIBLE):
        raise TransitionError("forbidden", "只有责任单位的人员可以上传佐证材料。")
    if state not in OPEN_STATES:
        raise TransitionError(
            "conflict", "任务当前为「{state}」，已不在责任单位办理中，不能再上传佐证材料。", state=STATE_LABELS[state]
        )


def may_add_evidence(state: State, actor: Actor) -> bool:
    return state in OPEN_STATES and on_side(actor, Side.RESPONSIBLE)


def rollup_state(states: list[State]) -> State | None:
    """A problem stands where its least advanced task stands (closed only when all are;
    withdrawn, last in the order, only when every task was withdrawn)."""
    if not states:
        return None
    return min(states, key=ORDER.index)
