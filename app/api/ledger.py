"""Ledger (台账) files: import an .xlsx with a preview first, export .xlsx or .csv."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import current_app, g, request
from pydantic import BaseModel, ConfigDict, Field

from app import jobs
from app.api import bp, message_lang, now, rt, spec
from app.domain.deadlines import Basis
from app.http import attachment
from app.schemas import BASIS_DOC, Out, Strict
from app.services import ledger
from app.services.errors import Invalid
from app.web.i18n import worded_status

LayoutKey = Literal["sanmenxia", "yuzhou"]


class LedgerRowOut(Out):
    row: int = Field(description="row number in the spreadsheet")
    seq: int = Field(description="the problem number it will get, or has (a changed or unchanged row)")
    action: Literal["add", "change", "same"] = Field(
        description="add a problem; change the problem its hidden 台账编号 names; or nothing (unchanged)"
    )
    changes: list[str] = Field(description="for a changed row: the fields that change")
    note: str | None = Field(default=None, description="进展 typed in the file, to be recorded as a progress note")
    category: str
    nature: Literal["common", "individual"] | None
    title: str
    deadline_text: str
    due_at: datetime | None
    deadline_basis: Basis | None = Field(default=None, description=BASIS_DOC)
    units: list[str] = Field(description="responsible units as resolved")
    errors: list[str]
    warnings: list[str] = Field(description="e.g. a formula cell, read as the value it shows")


class MissingProblemOut(Out):
    seq: int
    title: str


class LedgerCountsOut(Out):
    add: int
    change: int
    same: int
    missing: int


class LedgerPreviewOut(Out):
    token: str = Field(description="pass to /ledger/commit within an hour")
    layout: LayoutKey
    rows: list[LedgerRowOut]
    errors_count: int
    counts: LedgerCountsOut
    missing: list[MissingProblemOut] = Field(
        description="the plan's problems a re-imported ledger of this plan no longer lists (nothing is done to them)"
    )


class LedgerCommitIn(Strict):
    token: str = Field(min_length=1, max_length=100)


class ImportResultOut(Out):
    created_problems: int
    created_tasks: int
    changed_problems: int
    progress_notes: int


class ImportStatusOut(Out):
    state: Literal["previewed", "queued", "running", "done", "failed"]
    done: int = Field(description="rows written so far")
    total: int
    error: str | None = Field(None, description="why it failed, in the language of Accept-Language (as `message`)")
    result: ImportResultOut | None = None


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layout: LayoutKey = Field(default="sanmenxia", description="sanmenxia: the annex; yuzhou: the look-back template")


@spec.route(
    bp,
    "/plans/<int:plan_id>/ledger/preview",
    "POST",
    summary="Upload a ledger .xlsx (multipart, field 'file'); nothing is written until commit",
    response=LedgerPreviewOut,
    form_file=True,
)
def preview_ledger(plan_id: int):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("请以 multipart/form-data 上传，字段名为 file。")
    runtime = rt()
    result = ledger.preview_import(runtime.db, g.user, plan_id, upload.stream, runtime.config.MAX_UPLOAD_BYTES, now())
    return LedgerPreviewOut.model_validate(result)


@spec.route(
    bp,
    "/plans/<int:plan_id>/ledger/commit",
    "POST",
    summary="Queue the previewed import; a job writes all its rows in one transaction (all or nothing). "
    "Poll /ledger/imports/<token> for progress and the result.",
    body=LedgerCommitIn,
    response=ImportStatusOut,
    status=202,
)
def commit_ledger(plan_id: int, body: LedgerCommitIn):
    runtime = rt()
    status = ledger.commit_import(runtime.db, g.user, plan_id, body.token, now())
    jobs.submit_import(runtime, current_app.extensions, ledger.import_id(runtime.db, body.token))
    return ImportStatusOut.model_validate(status)


_STATUS_RULE = "/plans/<int:plan_id>/ledger/imports/<token>"


@spec.route(
    bp,
    _STATUS_RULE,
    "GET",
    summary="Progress of an import (rows done of total), then its result or error",
    response=ImportStatusOut,
)
def ledger_import_status(plan_id: int, token: str):
    runtime = rt()
    status = ledger.import_status(runtime.db, jobs.import_progress(runtime), g.user, plan_id, token, now())
    return ImportStatusOut.model_validate(worded_status(status, message_lang()))


@spec.route(
    bp,
    "/plans/<int:plan_id>/ledger.xlsx",
    "GET",
    summary="The ledger as .xlsx in a seed layout, with progress of the tasks you can see",
    query=ExportQuery,
    raw_response=ledger.XLSX_MIME,
)
def export_ledger_xlsx(plan_id: int, query: ExportQuery):
    return attachment(ledger.export_ledger(rt().db, g.user, plan_id, query.layout, "xlsx", now()))


@spec.route(
    bp,
    "/plans/<int:plan_id>/ledger.csv",
    "GET",
    summary="The ledger as CSV (UTF-8 with BOM for Excel) in a seed layout",
    query=ExportQuery,
    raw_response="text/csv",
)
def export_ledger_csv(plan_id: int, query: ExportQuery):
    return attachment(ledger.export_ledger(rt().db, g.user, plan_id, query.layout, "csv", now()))
