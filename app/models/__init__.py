"""SQLAlchemy tables. Models never commit: services own the transaction."""

from app.models.base import Base, UTCDateTime
from app.models.ledger import Evidence, Milestone, Phase, Plan, Problem, Task, TaskEvent
from app.models.org import POSITIONS, ROLES, CalendarOverride, Unit, User

__all__ = [
    "POSITIONS",
    "ROLES",
    "Base",
    "CalendarOverride",
    "Evidence",
    "Milestone",
    "Phase",
    "Plan",
    "Problem",
    "Task",
    "TaskEvent",
    "UTCDateTime",
    "Unit",
    "User",
]
