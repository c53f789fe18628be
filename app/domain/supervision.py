"""三色督办: the colour a supervisor sees beside an open task.

red    escalated to the top level (on the public-notice list) and still not rectified
yellow overdue
blue   due within three days
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.domain.workflow import OPEN_STATES

BLUE_WITHIN = timedelta(days=3)


def colour(state: str, due_at: datetime | None, public_notice: bool, now: datetime) -> str | None:
    if state not in OPEN_STATES:
        return None
    if public_notice:
        return "red"
    if due_at is None:
        return None
    if due_at < now:
        return "yellow"
    if due_at - now <= BLUE_WITHIN:
        return "blue"
    return None
