"""Documents drafted from the ledger: the 整改情况报告, a report owed from the ledger
(its .docx and its data), the 通报 draft, and the unit's templates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from flask import g, request
from pydantic import BaseModel, ConfigDict, Field

from app.api import bp, now, rt, spec
from app.domain.deadlines import CHINA
from app.http import attachment
from app.schemas import Out
from app.services import drafts
from app.services.errors import Invalid

DocKind = Literal["report", "period", "notice"]


class AsOfQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: date | None = Field(default=None, description="the day the report speaks of (China time); default today")


class TemplateOut(Out):
    kind: DocKind
    name: str = Field(description="整改情况报告, 从台账生成的定期报告, 通报（草稿）")
    custom: bool = Field(description="false: the default template is in use")
    file_name: str | None = None
    uploaded_at: datetime | None = None


class PeriodReportOut(Out):
    submission_id: int
    layout: Literal["sanmenxia", "yuzhou"]
    starts_after: datetime = Field(
        description="the period is (starts_after, ends_at]: from the previous report's due time"
    )
    ends_at: datetime
    columns: list[str] = Field(description="the plan's ledger layout, then 进展, 是否销号 and 本期变化")
    rows: list[list[str]] = Field(description="each problem of the unit that changed in the period")
    summary: str


def _status_out(st: drafts.TemplateStatus) -> TemplateOut:
    c = st.custom
    return TemplateOut(
        kind=st.kind,
        name=st.name,
        custom=c is not None,
        file_name=c.file_name if c else None,
        uploaded_at=c.uploaded_at if c else None,
    )


@spec.route(
    bp,
    "/plans/<int:plan_id>/report.docx",
    "GET",
    summary="Draft your unit's 整改情况报告 on the plan as of a day (.docx, from your unit's template)",
    query=AsOfQuery,
    raw_response=drafts.DOCX_MIME,
)
def draft_report(plan_id: int, query: AsOfQuery):
    day = query.as_of or now().astimezone(CHINA).date()
    return attachment(drafts.draft_report(rt().db, g.user, plan_id, day))


@spec.route(
    bp,
    "/plans/<int:plan_id>/notice-draft.docx",
    "GET",
    summary="The 通报 draft: items at the top of the ladder, by unit, with working days overdue (supervisors)",
    raw_response=drafts.DOCX_MIME,
)
def draft_notice(plan_id: int):
    return attachment(drafts.draft_notice_list(rt().db, g.user, plan_id, now()))


@spec.route(
    bp,
    "/submissions/<int:submission_id>/draft.docx",
    "GET",
    summary="The drafted document of a report owed (from the ledger: the period's changes; else the 整改情况报告)",
    raw_response=drafts.DOCX_MIME,
)
def draft_submission(submission_id: int):
    return attachment(drafts.draft_submission(rt().db, g.user, submission_id, now()))


@spec.route(
    bp,
    "/submissions/<int:submission_id>/changes",
    "GET",
    summary="What changed in the unit's part of the ledger in a report's period (reports owed from the ledger)",
    response=PeriodReportOut,
)
def period_changes(submission_id: int):
    rep = drafts.period_report(rt().db, g.user, submission_id, now())
    return PeriodReportOut(
        submission_id=rep.submission.id,
        layout=rep.layout,
        starts_after=rep.starts_after,
        ends_at=rep.ends_at,
        columns=rep.columns,
        rows=rep.rows,
        summary=rep.summary,
    )


@spec.route(
    bp,
    "/report-templates",
    "GET",
    summary="Your unit's templates of drafted documents",
    response=TemplateOut,
    many=True,
)
def list_templates():
    return [_status_out(st) for st in drafts.template_statuses(rt().db, g.user)]


@spec.route(
    bp,
    "/report-templates/<kind>.docx",
    "GET",
    summary="The template your unit drafts with (its upload, or the default), to edit in Word or WPS",
    raw_response=drafts.DOCX_MIME,
)
def template_file(kind: str):
    return attachment(drafts.template_file(rt().db, g.user, kind, default=request.args.get("default") == "1"))


@spec.route(
    bp,
    "/report-templates/<kind>/upload",
    "POST",
    summary="Upload an edited .docx template (multipart, field 'file'); a broken one is refused (422) naming the tag",
    response=TemplateOut,
    status=201,
    form_file=True,
)
def upload_template(kind: str):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("请以 multipart/form-data 上传，字段名为 file。")
    drafts.upload_template(rt().db, g.user, kind, upload.stream, upload.filename, now())
    return next(_status_out(st) for st in drafts.template_statuses(rt().db, g.user) if st.kind == kind)
