"""Ledger (台账) files: import an .xlsx with a preview first, export .xlsx or .csv."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import g, request
from pydantic import BaseModel, ConfigDict, Field

from app.api import bp, now, rt, spec
from app.domain.deadlines import Basis
from app.http import attachment
from app.schemas import BASIS_DOC, Out, Strict
from app.services import ledger
from app.services.errors import Invalid

LayoutKey = Literal["sanmenxia", "yuzhou"]


class LedgerRowOut(Out):
    row: int = Field(description="row number in the spreadsheet")
    seq: int = Field(description="the problem number it will get")
    category: str
    nature: Literal["common", "individual"] | None
    title: str
    deadline_text: str
    due_at: datetime | None
    deadline_basis: Basis | None = Field(default=None, description=BASIS_DOC)
    units: list[str] = Field(description="responsible units as resolved")
    errors: list[str]


class LedgerPreviewOut(Out):
    token: str = Field(description="pass to /ledger/commit within an hour")
    layout: LayoutKey
    rows: list[LedgerRowOut]
    errors_count: int


class LedgerCommitIn(Strict):
    token: str = Field(min_length=1, max_length=100)


class LedgerCommitOut(Out):
    created_problems: int
    created_tasks: int


class ImportStatusOut(Out):
    state: Literal["previewed", "running", "done", "failed"]
    done: int
    total: int
    error: str | None = None


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
    result = ledger.preview_import(
        runtime.db, runtime.config.INSTANCE_DIR, g.user, plan_id, upload.stream, runtime.config.MAX_UPLOAD_BYTES, now()
    )
    return LedgerPreviewOut.model_validate(result)


@spec.route(
    bp,
    "/plans/<int:plan_id>/ledger/commit",
    "POST",
    summary="Add all previewed rows in one transaction (all or nothing)",
    body=LedgerCommitIn,
    response=LedgerCommitOut,
    status=201,
)
def commit_ledger(plan_id: int, body: LedgerCommitIn):
    runtime = rt()
    return LedgerCommitOut.model_validate(
        ledger.commit_import(runtime.db, runtime.config.INSTANCE_DIR, g.user, plan_id, body.token, now())
    )


_STATUS_RULE = "/plans/<int:plan_id>/ledger/imports/<token>"


@spec.route(bp, _STATUS_RULE, "GET", summary="Progress of an import (rows done of total)", response=ImportStatusOut)
def ledger_import_status(plan_id: int, token: str):
    return ImportStatusOut.model_validate(ledger.import_status(rt().config.INSTANCE_DIR, g.user, plan_id, token, now()))


@spec.route(
    bp,
    "/plans/<int:plan_id>/ledger.xlsx",
    "GET",
    summary="The ledger as .xlsx in a seed layout, with progress of the tasks you can see",
    query=ExportQuery,
    raw_response=ledger.XLSX_MIME,
)
def export_ledger_xlsx(plan_id: int, query: ExportQuery):
    return attachment(ledger.export_ledger(rt().db, g.user, plan_id, query.layout, "xlsx"))


@spec.route(
    bp,
    "/plans/<int:plan_id>/ledger.csv",
    "GET",
    summary="The ledger as CSV (UTF-8 with BOM for Excel) in a seed layout",
    query=ExportQuery,
    raw_response="text/csv",
)
def export_ledger_csv(plan_id: int, query: ExportQuery):
    return attachment(ledger.export_ledger(rt().db, g.user, plan_id, query.layout, "csv"))
