"""Reporting obligations (报送): a plan says what each unit must submit and when; each
unit × occurrence becomes a submission that is reminded and escalated like a task."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import insert, select, update

from app.db import Database
from app.domain.deadlines import CHINA, end_of_day_utc
from app.domain.recurrence import RecurrenceError, occurrences, parse_recurrence
from app.models import Obligation, Plan, Submission, Unit, User
from app.schemas import ObligationIn, ReviewIn
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.files import save_upload
from app.services.scope import get_visible_plan, supervises, units_under
from app.services.tasks import cancel_pending


def create_obligation(db: Database, actor: User, plan_id: int, data: ObligationIn, now: datetime) -> Obligation:
    """Declare an obligation and create every submission it implies, up to ``ends_on``
    (default: the end of the plan's last phase, else a year after issue)."""
    with db.transaction() as s:
        plan = get_visible_plan(s, actor, plan_id)
        if not supervises(actor, plan):
            raise Forbidden("只有方案下发单位的督办人员可以设置报送要求。")
        cal = load_calendar(s)
        try:
            rec = parse_recurrence(data.schedule, plan.issued_on, cal)
        except RecurrenceError as err:
            raise Invalid(str(err), [{"field": "schedule", "message": str(err)}]) from None
        ends_on = data.ends_on or _plan_end(plan)
        starts_on = max(plan.issued_on, now.astimezone(CHINA).date()) if rec.kind != "once" else plan.issued_on
        dates = [rec.on] if rec.kind == "once" else occurrences(rec, starts_on, ends_on)
        if not dates:
            raise Invalid(f"在 {starts_on} 至 {ends_on} 之间没有应报送的日期，请检查报送时间或截止日期。")
        parent_id = data.all_units_under or plan.issuing_unit_id
        units = list(s.scalars(select(Unit.id).where(Unit.parent_id == parent_id).order_by(Unit.id)))
        if data.unit_ids is not None:
            allowed = set(s.scalars(select(Unit.id).where(Unit.path.startswith(plan.issuing_unit.path))))
            bad = sorted(set(data.unit_ids) - allowed)
            if bad:
                raise Invalid(f"报送单位 {bad} 不存在或不在方案下发单位之下。")
            units = list(dict.fromkeys(data.unit_ids))
        if not units:
            raise Invalid("没有需要报送的单位。")
        ob = Obligation(
            plan_id=plan.id,
            title=data.title,
            schedule_text=data.schedule,
            kind=rec.kind,
            starts_on=starts_on,
            ends_on=ends_on,
            created_by_id=actor.id,
        )
        s.add(ob)
        s.flush()
        s.execute(
            insert(Submission),
            [
                {
                    "obligation_id": ob.id,
                    "plan_id": plan.id,
                    "unit_id": uid,
                    "due_on": d,
                    "due_at": end_of_day_utc(d),
                    "state": "pending",
                    "note": "",
                    "decision_comment": "",
                    "version": 1,
                    "active_since": now,
                    "swept_until": now,
                    "next_action_at": now,
                    "escalation_level": 0,
                    "public_notice": False,
                }
                for uid in units
                for d in dates
            ],
        )
    return ob


def _plan_end(plan: Plan) -> date:
    ends = [p.ends_on for p in plan.phases if p.ends_on]
    return max(ends) if ends else plan.issued_on.replace(year=plan.issued_on.year + 1)


def list_submissions(db: Database, viewer: User, plan_id: int | None = None) -> list[Submission]:
    s = db.session()
    q = select(Submission).join(Plan, Submission.plan_id == Plan.id)
    if viewer.role != "admin":
        q = q.where(Submission.unit_id.in_(units_under(viewer)) | Plan.issuing_unit_id.in_(units_under(viewer)))
    if plan_id is not None:
        q = q.where(Submission.plan_id == plan_id)
    return list(s.scalars(q.order_by(Submission.due_on, Submission.unit_id)))


def _visible_submission(s, viewer: User, submission_id: int) -> tuple[Submission, Plan]:
    sub = s.get(Submission, submission_id)
    plan = s.get(Plan, sub.plan_id) if sub else None
    if sub is None or not (
        viewer.role == "admin" or sub.unit.is_within(viewer.unit) or plan.issuing_unit.is_within(viewer.unit)
    ):
        raise NotFound(f"报送事项 {submission_id} 不存在或不在您的权限范围内。")
    return sub, plan


def submit(
    db: Database,
    upload_dir: Path,
    max_bytes: int,
    actor: User,
    submission_id: int,
    note: str,
    version: int,
    file: tuple[BinaryIO, str] | None,
    now: datetime,
) -> Submission:
    """The unit hands in its report (a note and, usually, the document)."""
    with db.transaction() as s:
        user = s.get(User, actor.id)
        sub, _plan = _visible_submission(s, user, submission_id)
        if user.unit_id != sub.unit_id or user.role not in ("official", "supervisor"):
            raise Forbidden("只有责任单位的人员可以报送。")
        if sub.state not in ("pending", "returned"):
            raise Conflict(f"该报送事项当前为「{sub.state}」，不能再次报送。")
        if not note.strip() and file is None:
            raise Invalid("报送需要附上文件或填写说明。")
        stored = save_upload(upload_dir, max_bytes, file[0], file[1]) if file else None
        values = {
            "state": "submitted",
            "note": note,
            "submitted_by_id": user.id,
            "submitted_at": now,
            "next_action_at": None,
            "version": Submission.version + 1,
        }
        if stored:
            values |= {
                "file_name": stored.original_name,
                "file_stored": stored.stored_name,
                "file_type": stored.content_type,
                "file_size": stored.size,
                "file_sha256": stored.sha256,
            }
        changed = s.execute(
            update(Submission).where(Submission.id == sub.id, Submission.version == version).values(**values)
        ).rowcount
        if changed != 1:
            if stored:
                stored.discard()
            raise Conflict("该报送事项已被他人修改，请刷新后重试。")
        cancel_pending(s, "submission", sub.id)
    return db.session().get(Submission, submission_id)


def review(db: Database, actor: User, submission_id: int, data: ReviewIn, now: datetime) -> Submission:
    """The supervisor accepts the report, or returns it with a reason (it is due again)."""
    with db.transaction() as s:
        user = s.get(User, actor.id)
        sub, plan = _visible_submission(s, user, submission_id)
        if not supervises(user, plan) or user.unit_id == sub.unit_id:
            raise Forbidden("只有方案下发单位的督办人员可以审核报送。")
        if sub.state != "submitted":
            raise Conflict("只能审核已报送的事项。")
        if not data.accept and not data.comment.strip():
            raise Invalid("退回需要填写理由。")
        values = {
            "state": "accepted" if data.accept else "returned",
            "decided_by_id": user.id,
            "decided_at": now,
            "decision_comment": data.comment,
            "version": Submission.version + 1,
        }
        if not data.accept:
            values |= {"next_action_at": now, "swept_until": now}
        changed = s.execute(
            update(Submission).where(Submission.id == sub.id, Submission.version == data.version).values(**values)
        ).rowcount
        if changed != 1:
            raise Conflict("该报送事项已被他人修改，请刷新后重试。")
    return db.session().get(Submission, submission_id)
