"""Reporting obligations (报送): a plan says what each unit must submit and when; each
unit × occurrence becomes a submission that is reminded and escalated like a task."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import insert, select, update
from sqlalchemy.orm import joinedload

from app.db import Database
from app.domain import permissions
from app.domain import submissions as flow
from app.domain.deadlines import CHINA, end_of_day_utc
from app.domain.recurrence import RecurrenceError, occurrences, parse_recurrence
from app.domain.reminders import ladder_columns
from app.domain.submissions import SubmissionState
from app.domain.workflow import TransitionError
from app.models import Obligation, Plan, Submission, Unit, User
from app.schemas import ObligationIn, ReviewIn
from app.services import drafts
from app.services.calendar import load_calendar
from app.services.errors import Conflict, Invalid, NotFound, refusal
from app.services.events import notify, submission_event
from app.services.files import save_upload
from app.services.scope import (
    facts,
    get_visible_plan,
    get_visible_submission,
    require,
    submission_visible,
    unit_facts,
)
from app.services.tasks import cancel_pending


def create_obligation(db: Database, actor: User, plan_id: int, data: ObligationIn, now: datetime) -> Obligation:
    """Declare an obligation and create every submission it implies, up to ``ends_on``
    (default: the end of the plan's last phase, else a year after issue)."""
    with db.transaction() as s:
        plan = get_visible_plan(s, actor, plan_id)
        who, plan_f, _ = facts(actor, plan)
        require(permissions.supervises(who, plan_f), "只有方案下发单位的督办人员可以设置报送要求。")
        cal = load_calendar(s)
        try:
            rec = parse_recurrence(data.schedule, plan.issued_on, cal)
        except RecurrenceError as err:
            raise Invalid(err.template, [{"field": "schedule", "message": str(err)}], **err.params) from None
        ends_on = data.ends_on or _plan_end(plan)
        starts_on = max(plan.issued_on, now.astimezone(CHINA).date()) if rec.kind != "once" else plan.issued_on
        dates = [rec.on] if rec.kind == "once" else occurrences(rec, starts_on, ends_on)
        if not dates:
            raise Invalid(
                "在 {start} 至 {end} 之间没有应报送的日期，请检查报送时间或截止日期。", start=starts_on, end=ends_on
            )
        if data.unit_ids is not None:
            wanted = list(dict.fromkeys(data.unit_ids))
            found = list(s.scalars(select(Unit).where(Unit.id.in_(wanted))))
        else:
            parent = s.get(Unit, data.all_units_under or plan.issuing_unit_id)
            wanted = [parent.id if parent else data.all_units_under]
            found = [parent] if parent else []
        ok = {u.id for u in found if permissions.may_declare_obligation(who, plan_f, [unit_facts(u)])}
        bad = sorted(set(wanted) - ok)
        if bad:
            field = "unit_ids" if data.unit_ids is not None else "all_units_under"
            raise Invalid(
                "报送单位 {ids} 不存在或不在方案下发单位「{issuer}」之下。",
                [{"field": field, "message": f"unknown or out of scope: {bad}"}],
                ids=bad,
                issuer=plan.issuing_unit.name,
            )
        if data.unit_ids is not None:
            units = wanted
        else:
            units = list(s.scalars(select(Unit.id).where(Unit.parent_id == found[0].id).order_by(Unit.id)))
        if not units:
            raise Invalid("没有需要报送的单位。")
        ob = Obligation(
            plan_id=plan.id,
            title=data.title,
            schedule_text=data.schedule,
            kind=rec.kind,
            starts_on=starts_on,
            ends_on=ends_on,
            ledger_layout=data.from_ledger,
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
                    "state": SubmissionState.PENDING.value,
                    "note": "",
                    "decision_comment": "",
                    "version": 1,
                    "active_since": now,
                    "swept_until": now,
                    "next_action_at": now,
                    **ladder_columns(0),
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
    """The submissions the viewer sees; with ``plan_id``, those of a plan they see (404
    for any other)."""
    s = db.session()
    q = select(Submission).where(submission_visible(viewer))
    if plan_id is not None:
        q = q.where(Submission.plan_id == get_visible_plan(s, viewer, plan_id).id)
    q = q.options(joinedload(Submission.obligation), joinedload(Submission.unit))  # pages show both
    return list(s.scalars(q.order_by(Submission.due_on, Submission.unit_id)))


def _actor(s, user: User, sub: Submission) -> permissions.Actor:
    f = facts(user, s.get(Plan, sub.plan_id), sub.unit)
    return permissions.actor(f.who, f.plan, f.unit)


def _check(name: str, s, user: User, sub: Submission, comment: str = "", has_content: bool = True) -> flow.Move:
    try:
        return flow.check(name, SubmissionState(sub.state), _actor(s, user, sub), comment, has_content)
    except TransitionError as err:
        raise refusal(err) from None


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
    answer_plan_id: int | None = None,
    draft: bool = False,
) -> Submission:
    """The unit hands in its report (a note and, usually, the document), or, for a report
    such as 「整改方案及台账」, its answering plan to the plan the report is owed in: the
    supervisor opens it as a plan page and its ledger export, nothing is typed again.
    Without a file or a plan, a report owed from the ledger, or one handed in with
    ``draft``, carries the document drafted from the ledger
    (:func:`app.services.drafts.draft_submission`), the note in it."""
    if file is None and answer_plan_id is None:
        sub = get_visible_submission(db.session(), actor, submission_id)
        if draft or sub.obligation.ledger_layout:
            file = drafts.drafted_upload(db, actor, submission_id, now, note)
    with db.transaction() as s:
        user = s.get(User, actor.id)
        sub = get_visible_submission(s, user, submission_id)
        content = bool(note.strip()) or file is not None or answer_plan_id is not None
        move = _check("submit", s, user, sub, has_content=content)
        if answer_plan_id is not None:
            _check_answer(s, sub, answer_plan_id)
        stored = save_upload(upload_dir, max_bytes, file[0], file[1]) if file else None
        values = {
            "state": move.target.value,
            "note": note,
            "submitted_by_id": user.id,
            "submitted_at": now,
            "answer_plan_id": answer_plan_id,
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
        s.refresh(sub)
        notify(s, [submission_event(s, "report_submitted", sub, user, note)], now)
    return db.session().get(Submission, submission_id)


def _check_answer(s, sub: Submission, plan_id: int) -> None:
    """The plan handed in is the unit's own answering plan to the plan the report is owed in."""
    plan = s.get(Plan, plan_id)
    if plan is None or (plan.answers_plan_id, plan.issuing_unit_id) != (sub.plan_id, sub.unit_id):
        message = f"整改方案 {plan_id} 不是本单位答复该方案的整改方案，不能作为本次报送。"
        raise Invalid(message, [{"field": "answer_plan_id", "message": message}])


def answer_plans_for(db: Database, viewer: User, sub: Submission) -> list[Plan]:
    """The answering plans the unit may hand in for this report (its own, to the report's plan)."""
    q = select(Plan).where(Plan.answers_plan_id == sub.plan_id, Plan.issuing_unit_id == sub.unit_id)
    return list(db.session().scalars(q.order_by(Plan.id)))


def review(db: Database, actor: User, submission_id: int, data: ReviewIn, now: datetime) -> Submission:
    """The supervisor accepts the report, or returns it with a reason (it is due again)."""
    with db.transaction() as s:
        user = s.get(User, actor.id)
        sub = get_visible_submission(s, user, submission_id)
        move = _check("accept" if data.accept else "return", s, user, sub, data.comment)
        values = {
            "state": move.target.value,
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
        s.refresh(sub)
        kind = "report_accepted" if data.accept else "report_returned"
        notify(s, [submission_event(s, kind, sub, user, data.comment)], now)
    return db.session().get(Submission, submission_id)


def visible_submission(db: Database, viewer: User, submission_id: int) -> Submission:
    """One submission the viewer sees (404 for any other): where a reminder's link leads."""
    return get_visible_submission(db.session(), viewer, submission_id)


def open_report_file(db: Database, upload_dir: Path, viewer: User, submission_id: int) -> tuple[Submission, Path]:
    """The file handed in with a report, for whoever sees the report (404 if none)."""
    sub = get_visible_submission(db.session(), viewer, submission_id)
    if not sub.file_stored:
        raise NotFound("报送事项 {id} 没有附带文件。", id=submission_id)
    return sub, upload_dir / sub.file_stored


def offers(db: Database, viewer: User, subs: list[Submission]) -> dict[int, set[str]]:
    """The moves (submit, accept, return) a page may offer the viewer on each submission."""
    s = db.session()
    return {
        sub.id: {
            m.name for m in flow.TABLE.moves if flow.may(m.name, SubmissionState(sub.state), _actor(s, viewer, sub))
        }
        for sub in subs
    }
