"""Ledger files in the browser: upload → preview → confirm (with a progress bar),
and export in either seed layout."""

from __future__ import annotations

from flask import current_app, g, jsonify, redirect, render_template, request, url_for

from app import jobs
from app.http import attachment, http_status
from app.services import ledger, plans
from app.services.errors import ServiceError
from app.web import bp, form_failed, lang, login_required, rt, say
from app.web.i18n import worded_status


@bp.route("/plans/<int:plan_id>/import", methods=["GET", "POST"])
@login_required
def ledger_import(plan_id: int):
    r = rt()
    plan = ledger.importable_plan(r.db, g.user, plan_id)
    preview = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            say("请选择要导入的 .xlsx 台账文件。", "error")
        else:
            try:
                preview = ledger.preview_import(
                    r.db, g.user, plan_id, upload.stream, r.config.MAX_UPLOAD_BYTES, r.clock()
                )
            except ServiceError as err:
                form_failed(err)
                return render_template("import.html", plan=plan, preview=None), http_status(err)[0]
    return render_template("import.html", plan=plan, preview=preview)


@bp.post("/plans/<int:plan_id>/import/<token>")
@login_required
def ledger_commit(plan_id: int, token: str):
    """Queue the import and hand it to a job; the page that follows shows its progress
    and then its result. The progress-bar script asks for JSON instead of a redirect."""
    r = rt()
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        ledger.commit_import(r.db, g.user, plan_id, token, r.clock())
    except ServiceError as err:
        form_failed(err)
        target = url_for("web.ledger_import", plan_id=plan_id)
    else:
        jobs.submit_import(r, current_app.extensions, ledger.import_id(r.db, token))
        target = url_for("web.ledger_import_page", plan_id=plan_id, token=token)
    return jsonify(redirect=target) if wants_json else redirect(target)


@bp.get("/plans/<int:plan_id>/import/<token>")
@login_required
def ledger_import_page(plan_id: int, token: str):
    """An import's progress while its job runs (the page reloads itself), then its result
    or its error, kept for the user."""
    r = rt()
    plan, _ = plans.get_plan(r.db, g.user, plan_id, r.clock())
    return render_template("import_status.html", plan=plan, status=_import_status(plan_id, token), token=token)


@bp.get("/plans/<int:plan_id>/import/<token>/status")
@login_required
def ledger_import_progress(plan_id: int, token: str):
    return jsonify(_import_status(plan_id, token))


def _import_status(plan_id: int, token: str) -> dict:
    """An import's status as the page and its poll show it: a refusal in the page's language."""
    r = rt()
    status = ledger.import_status(r.db, jobs.import_progress(r), g.user, plan_id, token, r.clock())
    return worded_status(status, lang())


@bp.get("/plans/<int:plan_id>/export.<fmt>")
@login_required
def ledger_export(plan_id: int, fmt: str):
    layout = request.args.get("layout", "sanmenxia")
    if fmt not in ("xlsx", "csv") or layout not in ("sanmenxia", "yuzhou"):
        say("导出格式应为 xlsx 或 csv，版式应为 sanmenxia 或 yuzhou。", "error")
        return redirect(url_for("web.plan_detail", plan_id=plan_id))
    return attachment(ledger.export_ledger(rt().db, g.user, plan_id, layout, fmt, rt().clock()))
