"""督办单: the supervision notice of an overdue task, and its 督办编号.

A notice is numbered per issuing unit and year (三建督〔2026〕7号) in the order the
supervising side first opens it to print; the number is stored with the task and never
given again, so reprinting shows the same number and date, and the same chain head: the
task's history as of the moment it was numbered (app.services.chain)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.db import Database
from app.domain import permissions
from app.domain.deadlines import CHINA
from app.models import Evidence, NoticeNumber, Plan, Unit, User
from app.services.chain import ChainHead, head_as_of
from app.services.tasks import TaskView, get_overdue_task

ATTEMPTS = 3  # two supervisors numbering at the same instant: the loser takes the next number


@dataclass(frozen=True)
class Notice:
    view: TaskView
    plan: Plan
    issuer: Unit
    number: str | None  # None until the supervising side first opens it
    issued_on: date | None
    files: list[Evidence]
    chain: ChainHead  # the task's chain head as of the notice's issue (as of now before it is issued)


def number_text(prefix: str, year: int, seq: int) -> str:
    """三建督〔2026〕7号: the issuing unit's prefix, the year in 〔〕, the running number."""
    return f"{prefix}〔{year}〕{seq}号"


def open_notice(db: Database, viewer: User, task_id: int, now: datetime) -> Notice:
    view = get_overdue_task(db, viewer, task_id, now)
    s = db.session()
    plan = s.get(Plan, view.task.plan_id)
    issuer = plan.issuing_unit
    row = s.scalar(select(NoticeNumber).where(NoticeNumber.task_id == view.task.id))
    if row is None and permissions.may_number_notice(view.actor):
        row = _number(db, view.task.id, issuer.id, viewer.id, now)
    files = list(s.scalars(select(Evidence).where(Evidence.task_id == view.task.id).order_by(Evidence.id)))
    as_of = (row.issued_at if row is not None else now).replace(microsecond=0)
    chain = head_as_of(s, as_of=as_of, task_ids=[view.task.id])
    if row is None:
        return Notice(view, plan, issuer, None, None, files, chain)
    return Notice(
        view,
        plan,
        issuer,
        number_text(issuer.notice_prefix or issuer.name, row.year, row.seq),
        row.issued_at.astimezone(CHINA).date(),
        files,
        chain,
    )


def _number(db: Database, task_id: int, unit_id: int, user_id: int, now: datetime) -> NoticeNumber:
    year = now.astimezone(CHINA).year
    attempts = ATTEMPTS
    while True:
        try:
            with db.transaction() as s:
                row = s.scalar(select(NoticeNumber).where(NoticeNumber.task_id == task_id))
                if row is not None:
                    return row
                last = s.scalar(
                    select(func.max(NoticeNumber.seq)).where(NoticeNumber.unit_id == unit_id, NoticeNumber.year == year)
                )
                row = NoticeNumber(
                    task_id=task_id,
                    unit_id=unit_id,
                    year=year,
                    seq=(last or 0) + 1,
                    issued_at=now,
                    issued_by_id=user_id,
                )
                s.add(row)
            return row
        except IntegrityError:
            attempts -= 1
            if not attempts:
                raise
