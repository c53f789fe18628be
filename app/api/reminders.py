"""Reporting obligations and submissions, extensions, the inbox and plan reminder policy."""

from __future__ import annotations

from flask import g, request

from app.api import bp, message_lang, now, rt, spec
from app.domain.events import modes_of
from app.schemas import (
    ExtensionDecisionIn,
    ExtensionIn,
    ExtensionOut,
    FailedNotificationOut,
    InboxPage,
    NotificationOut,
    ObligationIn,
    ObligationOut,
    PolicyIn,
    PolicyOut,
    PreferencesIn,
    PreferencesOut,
    ReviewIn,
    RobotIn,
    SubmissionOut,
    UnitOut,
    UrgeIn,
    UrgeOut,
    UrgeSkipped,
    db_int,
)
from app.services import extensions, inbox, obligations, org, policy, urges
from app.services.errors import Invalid
from app.web.i18n import refusal


@spec.route(
    bp,
    "/plans/<int:plan_id>/obligations",
    "POST",
    summary="Declare a reporting obligation (报送)",
    body=ObligationIn,
    response=ObligationOut,
    status=201,
)
def create_obligation(plan_id: int, body: ObligationIn):
    return ObligationOut.model_validate(obligations.create_obligation(rt().db, g.user, plan_id, body, now()))


@spec.route(
    bp,
    "/plans/<int:plan_id>/submissions",
    "GET",
    summary="Submissions owed under a plan",
    response=SubmissionOut,
    many=True,
)
def list_submissions(plan_id: int):
    return [SubmissionOut.model_validate(x) for x in obligations.list_submissions(rt().db, g.user, plan_id)]


@spec.route(
    bp,
    "/submissions/<int:submission_id>/submit",
    "POST",
    summary="Hand in a report (multipart: note, version, optional file; or answer_plan_id, your answering plan; "
    "draft=1 attaches the drafted report when no file is sent, as a report owed from the ledger always does)",
    response=SubmissionOut,
    form_file=True,
)
def submit(submission_id: int):
    try:
        version = db_int(request.form.get("version", ""))
        answer = request.form.get("answer_plan_id", "").strip()
        answer_plan_id = db_int(answer) if answer else None
    except ValueError:
        raise Invalid("请提供 version（整数，您读取时的版本号）；answer_plan_id 如有须为整数。") from None
    upload = request.files.get("file")
    file = (upload.stream, upload.filename) if upload and upload.filename else None
    runtime = rt()
    sub = obligations.submit(
        runtime.db,
        runtime.config.UPLOAD_DIR,
        runtime.config.MAX_UPLOAD_BYTES,
        g.user,
        submission_id,
        request.form.get("note", ""),
        version,
        file,
        now(),
        answer_plan_id,
        draft=request.form.get("draft") == "1",
    )
    return SubmissionOut.model_validate(sub)


@spec.route(
    bp,
    "/submissions/<int:submission_id>/review",
    "POST",
    summary="Accept or return a submission",
    body=ReviewIn,
    response=SubmissionOut,
)
def review(submission_id: int, body: ReviewIn):
    return SubmissionOut.model_validate(obligations.review(rt().db, g.user, submission_id, body, now()))


@spec.route(
    bp,
    "/tasks/<int:task_id>/extensions",
    "GET",
    summary="Extension requests of a task",
    response=ExtensionOut,
    many=True,
)
def list_extensions(task_id: int):
    return [ExtensionOut.model_validate(x) for x in extensions.list_extensions(rt().db, g.user, task_id)]


@spec.route(
    bp,
    "/tasks/<int:task_id>/extensions",
    "POST",
    summary="Ask for a later deadline (延期)",
    body=ExtensionIn,
    response=ExtensionOut,
    status=201,
)
def request_extension(task_id: int, body: ExtensionIn):
    return ExtensionOut.model_validate(extensions.request_extension(rt().db, g.user, task_id, body, now()))


@spec.route(
    bp,
    "/extensions/<int:request_id>/decision",
    "POST",
    summary="Approve or deny an extension",
    body=ExtensionDecisionIn,
    response=ExtensionOut,
)
def decide_extension(request_id: int, body: ExtensionDecisionIn):
    return ExtensionOut.model_validate(extensions.decide_extension(rt().db, g.user, request_id, body, now()))


@spec.route(
    bp,
    "/inbox",
    "GET",
    summary="Your notifications, newest first, 50 a page (?before=), and the unread count",
    response=InboxPage,
)
def list_inbox():
    unread_only = request.args.get("unread") in ("1", "true")
    return _inbox_page(unread_only, before=request.args.get("before", type=db_int))


def _inbox_page(unread_only: bool = False, before: int | None = None) -> InboxPage:
    db = rt().db
    found, next_before = inbox.list_inbox(db, g.user, unread_only, before=before)
    items = [NotificationOut.model_validate(n) for n in found]
    return InboxPage(items=items, unread=inbox.unread_count(db, g.user), next_before=next_before)


@spec.route(bp, "/inbox/<int:notification_id>/read", "POST", summary="Mark one notification read", response=InboxPage)
def read_one(notification_id: int):
    inbox.mark_read(rt().db, g.user, notification_id, now())
    return _inbox_page()


@spec.route(bp, "/inbox/read-all", "POST", summary="Mark all notifications read", response=InboxPage)
def read_all():
    inbox.mark_read(rt().db, g.user, None, now())
    return _inbox_page()


@spec.route(bp, "/plans/<int:plan_id>/policy", "GET", summary="The plan's reminder policy", response=PolicyOut)
def get_policy(plan_id: int):
    effective, overrides = policy.get_policy(rt().db, g.user, plan_id, rt().config.REMINDER_DEFAULTS)
    return PolicyOut(effective=effective.to_dict(), overrides=overrides)


@spec.route(
    bp,
    "/plans/<int:plan_id>/policy",
    "PUT",
    summary="Override the plan's reminder policy",
    body=PolicyIn,
    response=PolicyOut,
)
def set_policy(plan_id: int, body: PolicyIn):
    runtime = rt()
    effective = policy.set_policy(runtime.db, g.user, plan_id, body, runtime.config.REMINDER_DEFAULTS, now())
    return PolicyOut(effective=effective.to_dict(), overrides=body.model_dump(exclude_none=True))


def _preferences(me) -> PreferencesOut:
    modes = modes_of(me.event_prefs, me.notify_email, me.digest)
    return PreferencesOut(notify_email=me.notify_email, digest=me.digest, events=modes, lang=me.lang)


@spec.route(bp, "/me/preferences", "GET", summary="Your notification preferences", response=PreferencesOut)
def get_preferences():
    return _preferences(g.user)


@spec.route(
    bp, "/me/preferences", "PUT", summary="Your notification preferences", body=PreferencesIn, response=PreferencesOut
)
def set_preferences(body: PreferencesIn):
    return _preferences(org.set_preferences(rt().db, g.user, body.notify_email, body.digest, body.events, body.lang))


@spec.route(
    bp,
    "/urges",
    "POST",
    summary="催办: urge one task or a selection (at most once per task per working day)",
    body=UrgeIn,
    response=UrgeOut,
)
def urge(body: UrgeIn):
    result = urges.urge_tasks(rt().db, g.user, body.task_ids, body.comment, now())
    skipped = [UrgeSkipped(task_id=tid, reason=refusal(why, message_lang())) for tid, why in result.skipped]
    return UrgeOut(urged=result.urged, skipped=skipped)


@spec.route(
    bp,
    "/units/<int:unit_id>/robot",
    "PUT",
    summary="Set a unit's WeCom/DingTalk group robot (admin)",
    body=RobotIn,
    response=UnitOut,
)
def set_robot(unit_id: int, body: RobotIn):
    return UnitOut.model_validate(org.set_robot(rt().db, g.user, unit_id, body.kind, body.url, body.secret))


@spec.route(
    bp,
    "/admin/failed-notifications",
    "GET",
    summary="Messages to look at (admin): failed for good, unconfirmed (may not have arrived), possibly sent twice",
    response=FailedNotificationOut,
    many=True,
)
def failed_notifications():
    return [FailedNotificationOut.model_validate(n) for n in inbox.failed_deliveries(rt().db, g.user)]
