"""Workflow events and who waits on them: the rules, as data.

Each event kind names the side that must hear of it (the audience) and the page where
that person acts. Each user chooses per kind how to hear of it (their mode); a user who
never chose gets what their general mail settings say. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Audience = Literal["handlers", "owner_and_handlers", "unit", "supervisors", "requester"]
Mode = Literal["off", "inbox", "digest", "mail", "instant"]

# kind → who hears of it
EVENT_AUDIENCE: dict[str, Audience] = {
    "assigned": "handlers",  # a new task: the unit's handlers (经办人)
    "rectified": "supervisors",  # rectified, awaiting a check
    "rejected": "owner_and_handlers",  # sent back with the reason
    "verified": "unit",
    "closed": "unit",
    "reopened": "unit",  # with the reason
    "extension_requested": "supervisors",
    "extension_decided": "requester",
    "report_submitted": "supervisors",
    "report_returned": "unit",  # with the reason
    "report_accepted": "unit",
    "urged": "unit",  # a supervisor's manual 催办
    "withdrawn": "unit",  # the problem (or this task) taken back, with the reason: stop working on it
    "deadline_changed": "unit",  # the problem edited to a new deadline: the old and the new one
    "lookback_confirmed": "unit",  # 回头看: the closed task's fix has held
    "rebound": "unit",  # 回头看 found the problem back (问题反弹): reopened, with the reason
    "declined": "supervisors",  # 拒收 with the reason: the issuing side decides
    "insisted": "unit",  # 维持交办 with the reason: the task stands
    "narrowed": "unit",  # 缩小范围: what the task now asks of the unit
    "reassigned": "handlers",  # 转办: the new unit's handlers (and the old unit's people)
}
EVENT_KINDS = tuple(EVENT_AUDIENCE)

# off: nothing at all; inbox: the in-app inbox only; digest: inbox, and the mail waits for
# the daily digest; mail: inbox and a mail in the send window; instant: a mail at once
MODES: tuple[Mode, ...] = ("off", "inbox", "digest", "mail", "instant")
MAILED: frozenset[str] = frozenset({"digest", "mail", "instant"})

# which task moves are events (start is not: nobody waits on it)
MOVE_EVENTS = {
    "rectify": "rectified",
    "reject": "rejected",
    "verify": "verified",
    "close": "closed",
    "reopen": "reopened",
    "withdraw": "withdrawn",
}


def default_mode(notify_email: bool, digest: bool) -> Mode:
    """What a user who never chose hears: their general mail settings decide."""
    if not notify_email:
        return "inbox"
    return "digest" if digest else "mail"


def mode_for(prefs: Mapping[str, str] | None, kind: str, notify_email: bool, digest: bool) -> Mode:
    """The user's mode for one event kind."""
    chosen = (prefs or {}).get(kind)
    return chosen if chosen in MODES else default_mode(notify_email, digest)


def modes_of(prefs: Mapping[str, str] | None, notify_email: bool, digest: bool) -> dict[str, Mode]:
    """The mode in force for every kind."""
    return {kind: mode_for(prefs, kind, notify_email, digest) for kind in EVENT_KINDS}
