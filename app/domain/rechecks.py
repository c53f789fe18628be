"""The states of a re-check of a finished task: one drawn in a spot check (抽查), or a
look-back (回头看) due some days after the task was struck off. ``pass`` (pending →
passed) or ``fail`` (pending → failed, with what was found; the task is reopened as 问题反弹
through the task workflow in the same transaction), both by the plan's supervising side."""

from __future__ import annotations

from enum import StrEnum

from app.domain.moves import Move, MoveTable
from app.domain.permissions import Side


class RecheckState(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


LABELS = {RecheckState.PENDING: "待复核", RecheckState.PASSED: "复核通过", RecheckState.FAILED: "复核不通过"}

TABLE = MoveTable(
    "抽查任务",
    LABELS,
    (
        Move("pass", "登记复核通过", RecheckState.PENDING, RecheckState.PASSED, Side.SUPERVISING),
        Move("fail", "登记复核不通过", RecheckState.PENDING, RecheckState.FAILED, Side.SUPERVISING, needs_comment=True),
    ),
)

LOOKBACK = MoveTable(
    "回头看",
    LABELS,
    (
        Move("pass", "确认整改到位", RecheckState.PENDING, RecheckState.PASSED, Side.SUPERVISING),
        Move(
            "fail",
            "问题反弹，重新整改",
            RecheckState.PENDING,
            RecheckState.FAILED,
            Side.SUPERVISING,
            needs_comment=True,
        ),
    ),
)
