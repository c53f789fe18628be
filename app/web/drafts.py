"""Drafted documents in the browser: the 整改情况报告 of a plan as of a day, a report
owed (its draft and, from the ledger, the period's changes), the 通报 draft, and the
unit's templates (download, edit in Word or WPS, upload)."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from app.domain.deadlines import CHINA
from app.http import attachment, http_status
from app.services import drafts
from app.services.errors import ServiceError
from app.web import bp, login_required, rt, say


@bp.get("/plans/<int:plan_id>/report.docx")
@login_required
def draft_report(plan_id: int):
    r = rt()
    day = drafts.parse_day(request.args.get("as_of", ""), r.clock().astimezone(CHINA).date())
    return attachment(drafts.draft_report(r.db, g.user, plan_id, day))


@bp.get("/plans/<int:plan_id>/notice-draft.docx")
@login_required
def draft_notice(plan_id: int):
    return attachment(drafts.draft_notice_list(rt().db, g.user, plan_id, rt().clock()))


@bp.get("/submissions/<int:submission_id>/draft.docx")
@login_required
def submission_draft(submission_id: int):
    return attachment(drafts.draft_submission(rt().db, g.user, submission_id, rt().clock()))


@bp.get("/submissions/<int:submission_id>/changes")
@login_required
def submission_changes(submission_id: int):
    report = drafts.period_report(rt().db, g.user, submission_id, rt().clock())
    return render_template("period_changes.html", report=report, sub=report.submission)


@bp.get("/report-templates")
@login_required
def report_templates():
    return render_template("report_templates.html", statuses=drafts.template_statuses(rt().db, g.user), error=None)


@bp.get("/report-templates/<kind>.docx")
@login_required
def report_template_file(kind: str):
    return attachment(drafts.template_file(rt().db, g.user, kind, default=request.args.get("default") == "1"))


@bp.post("/report-templates/<kind>/upload")
@login_required
def report_template_upload(kind: str):
    """A refused template comes back on the page with what is wrong (422), naming the tag."""
    r = rt()
    upload = request.files.get("file")
    try:
        drafts.upload_template(
            r.db, g.user, kind, upload.stream if upload else None, upload.filename if upload else "", r.clock()
        )
    except ServiceError as err:
        page = render_template(
            "report_templates.html", statuses=drafts.template_statuses(r.db, g.user), error=(kind, err.message)
        )
        return page, http_status(err)[0]
    say("模板已上传，今后起草将使用该模板。")
    return redirect(url_for("web.report_templates"))
