"""The inbox and reports owed (报送): submit, accept, return."""

from __future__ import annotations

from flask import abort, g, redirect, render_template, request, url_for
from pydantic import ValidationError

from app.schemas import ReviewIn, db_int
from app.services import drafts, inbox, obligations
from app.services.errors import ServiceError
from app.web import back, bp, form_failed, login_required, rt, say, switched_lang

INBOX_PAGE = 50  # messages per page of the inbox


@bp.get("/inbox")
@login_required
def inbox_page():
    before = request.args.get("before", type=db_int)
    items, older = inbox.list_inbox(rt().db, g.user, limit=INBOX_PAGE, lang=switched_lang(), before=before)
    return render_template("inbox.html", items=items, older=older, paged=before is not None)


@bp.post("/inbox/read")
@login_required
def inbox_read():
    nid = request.form.get("id", type=db_int)
    if nid is None and "id" in request.form:
        abort(404)  # one notification was meant, and no such one exists
    inbox.mark_read(rt().db, g.user, nid, rt().clock())
    return back(url_for("web.inbox_page"))


@bp.get("/submissions")
@login_required
def submission_list():
    subs = obligations.list_submissions(rt().db, g.user, request.args.get("plan_id", type=db_int))
    offers = obligations.offers(rt().db, g.user, subs)
    plans = {s.id: obligations.answer_plans_for(rt().db, g.user, s) for s in subs if "submit" in offers[s.id]}
    ledger = drafts.from_ledger(rt().db, [s.id for s in subs])
    return render_template("submissions.html", subs=subs, offers=offers, answer_plans=plans, ledger=ledger)


@bp.get("/submissions/<int:submission_id>")
@login_required
def submission_page(submission_id: int):
    """What a 报送 reminder, escalation or event links to (in the inbox and in mail): the
    report's row on its plan's list of reports, where it is handed in or reviewed."""
    sub = obligations.visible_submission(rt().db, g.user, submission_id)
    return redirect(url_for("web.submission_list", plan_id=sub.plan_id, _anchor=f"submission-{sub.id}"))


@bp.post("/submissions/<int:submission_id>/submit")
@login_required
def submission_submit(submission_id: int):
    r = rt()
    upload = request.files.get("file")
    file = (upload.stream, upload.filename) if upload and upload.filename else None
    try:
        obligations.submit(
            r.db,
            r.config.UPLOAD_DIR,
            r.config.MAX_UPLOAD_BYTES,
            g.user,
            submission_id,
            request.form.get("note", ""),
            request.form.get("version", type=db_int) or 0,
            file,
            r.clock(),
            request.form.get("answer_plan_id", type=db_int),
            draft=request.form.get("draft") == "1",
        )
    except ServiceError as err:
        form_failed(err)
    else:
        say("已报送。")
    return redirect(url_for("web.submission_list"))


@bp.post("/submissions/<int:submission_id>/review")
@login_required
def submission_review(submission_id: int):
    try:
        data = ReviewIn.model_validate(
            {
                "accept": request.form.get("accept") == "1",
                "comment": request.form.get("comment", ""),
                "version": request.form.get("version", ""),
            },
            strict=False,
        )
        obligations.review(rt().db, g.user, submission_id, data, rt().clock())
    except (ServiceError, ValidationError) as err:
        form_failed(err)
    else:
        say("已审核。")
    return redirect(url_for("web.submission_list"))
