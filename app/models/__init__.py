"""SQLAlchemy tables. Models never commit: services own the transaction."""

from app.models.base import Base, UTCDateTime
from app.models.drafts import ReportTemplate
from app.models.ledger import LedgerImport
from app.models.notice import NoticeNumber
from app.models.org import POSITIONS, ROLES, CalendarOverride, OfficialYear, ThrottleCounter, Unit, User, WebSession
from app.models.plans import Evidence, Lookback, Milestone, Phase, Plan, Problem, Task, TaskEvent
from app.models.schedule import (
    DeliveryGate,
    ExtensionRequest,
    Notification,
    Obligation,
    SchedulerLock,
    Submission,
)
from app.models.spotcheck import SpotCheck, SpotCheckItem
from app.models.tally import OpenDelta, TaskTally

__all__ = [
    "POSITIONS",
    "ROLES",
    "Base",
    "CalendarOverride",
    "DeliveryGate",
    "Evidence",
    "ExtensionRequest",
    "LedgerImport",
    "Lookback",
    "Milestone",
    "NoticeNumber",
    "Notification",
    "Obligation",
    "OfficialYear",
    "OpenDelta",
    "Phase",
    "Plan",
    "Problem",
    "ReportTemplate",
    "SchedulerLock",
    "SpotCheck",
    "SpotCheckItem",
    "Submission",
    "Task",
    "TaskEvent",
    "TaskTally",
    "ThrottleCounter",
    "UTCDateTime",
    "Unit",
    "User",
    "WebSession",
]
