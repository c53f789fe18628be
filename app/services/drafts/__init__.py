"""Documents drafted from the ledger (.docx, from a template an office may replace):

- the 整改情况报告 of a unit on a plan as of a date (:func:`draft_report`): totals and
  rates, each problem with the unit's accounts of its rectification and its evidence,
  what remains open and why, the next steps, and the ledger as the annex;
- a recurring report "from the ledger" (:func:`draft_submission` for an obligation with a
  ``ledger_layout``): what changed in the unit's part of the ledger in the period, in the
  plan's ledger layout, with a summary and the unit's note; :func:`period_report` gives
  the same data to the API and the pages;
- the 通报 draft (:func:`draft_notice_list`): the items at the top of the ladder, by
  unit, with how many working days each is overdue.

Everything is read from the append-only history, so a report as of a past date says
what the ledger said that day.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database
from app.domain import drafts as words
from app.domain import permissions
from app.domain.deadlines import CHINA, end_of_day_utc
from app.domain.ledger_layouts import (
    LAYOUTS,
    ExportProblem,
    chinese_number,
    export_table,
)
from app.domain.reminders import on_notice_list
from app.domain.workflow import OPEN_STATES, STATE_LABELS, State
from app.models import Evidence, Obligation, Plan, Problem, ReportTemplate, Submission, Task, TaskEvent, Unit, User
from app.services.calendar import load_calendar
from app.services.chain import head_as_of
from app.services.drafts import templates
from app.services.drafts.layout import default_template
from app.services.errors import Invalid
from app.services.files import clean_name
from app.services.ledger import Export
from app.services.plans import make_figures
from app.services.scope import facts, get_visible_plan, get_visible_submission, plan_facts, require, task_visible

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
KINDS = {"report": "整改情况报告", "period": "从台账生成的定期报告", "notice": "通报（草稿）"}


# ---- the ledger as of an instant --------------------------------------------------------
@dataclass
class Item:
    task: Task
    problem: Problem
    unit: Unit
    steps: list[words.Step] = field(default_factory=list)
    evidence_at: list[datetime] = field(default_factory=list)


def _items(s: Session, plan: Plan, scope, until: datetime) -> list[Item]:
    """The tasks of the plan in ``scope`` that existed at ``until``, with their history and
    evidence up to it, in the ledger's order."""
    rows = s.execute(
        select(Task, Problem, Unit)
        .join(Problem, Task.problem_id == Problem.id)
        .join(Unit, Task.unit_id == Unit.id)
        .where(Task.plan_id == plan.id, scope)
        .order_by(Problem.seq, Unit.id)
    ).all()
    items = {t.id: Item(t, p, u) for t, p, u in rows}
    ids = list(items)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for ev in s.scalars(
            select(TaskEvent).where(TaskEvent.task_id.in_(chunk), TaskEvent.at <= until).order_by(TaskEvent.seq)
        ):
            move = (ev.data or {}).get("move") if ev.kind == "transition" else None
            items[ev.task_id].steps.append(words.Step(ev.at, ev.kind, ev.from_state, ev.to_state, move, ev.comment))
        for task_id, at in s.execute(
            select(Evidence.task_id, Evidence.uploaded_at).where(
                Evidence.task_id.in_(chunk), Evidence.uploaded_at <= until
            )
        ):
            items[task_id].evidence_at.append(at)
    return [it for it in items.values() if it.steps]


def _overdue_workdays(cal, item: Item, state: State, until: datetime) -> int | None:
    due = item.task.due_at
    if state not in OPEN_STATES or due is None or due >= until:
        return None
    return max(cal.workdays_between(due.astimezone(CHINA).date(), until.astimezone(CHINA).date()), 1)


# ---- templates ------------------------------------------------------------------------
def _template_row(s: Session, unit_id: int, kind: str) -> ReportTemplate | None:
    return s.scalar(
        select(ReportTemplate)
        .where(ReportTemplate.unit_id == unit_id, ReportTemplate.kind == kind)
        .order_by(ReportTemplate.id.desc())
        .limit(1)
    )


def _template(s: Session, unit_id: int, kind: str) -> bytes:
    row = _template_row(s, unit_id, kind)
    return row.content if row else default_template(kind)


@dataclass(frozen=True)
class TemplateStatus:
    kind: str
    name: str  # 整改情况报告 …
    custom: ReportTemplate | None  # None: the default is in use


def template_statuses(db: Database, viewer: User) -> list[TemplateStatus]:
    s = db.session()
    return [TemplateStatus(k, name, _template_row(s, viewer.unit_id, k)) for k, name in KINDS.items()]


def template_file(db: Database, viewer: User, kind: str, default: bool = False) -> Export:
    """The template of ``kind`` the viewer's unit drafts with (its own upload, or the
    default), to edit in Word or WPS."""
    _kind(kind)
    row = None if default else _template_row(db.session(), viewer.unit_id, kind)
    name = row.file_name if row else f"{KINDS[kind]}模板.docx"
    return Export(name, f"template-{kind}.docx", row.content if row else default_template(kind), DOCX_MIME)


def upload_template(
    db: Database, viewer: User, kind: str, stream: BinaryIO | None, filename: str, now: datetime
) -> ReportTemplate:
    """Check an edited template (:func:`templates.check`) and use it for the unit's drafts."""
    _kind(kind)
    require(permissions.may_keep_templates(facts(viewer).who), "只读账号不能上传模板。")
    content = stream.read(templates.MAX_TEMPLATE_BYTES + 1) if stream else b""
    if not content:
        raise Invalid("请选择要上传的 .docx 模板文件。")
    templates.check(content, SAMPLES[kind]())
    with db.transaction() as s:
        row = ReportTemplate(
            unit_id=viewer.unit_id,
            kind=kind,
            file_name=clean_name(filename or "template.docx"),
            content=content,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            uploaded_by_id=viewer.id,
            uploaded_at=now,
        )
        s.add(row)
    return row


def _kind(kind: str) -> None:
    if kind not in KINDS:
        raise Invalid("模板种类应为 {kinds} 之一，而不是「{kind}」。", kinds="、".join(KINDS), kind=kind)


def parse_day(text: str, today: date) -> date:
    """A day typed as YYYY-MM-DD (a date field), or today when left empty."""
    if not text.strip():
        return today
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid("日期「{text}」应写作 YYYY-MM-DD，如 2022-06-20。", text=text) from None


def _export(content: bytes, name: str, ascii_name: str) -> Export:
    return Export(clean_name(name), ascii_name, content, DOCX_MIME)


# ---- 整改情况报告 -------------------------------------------------------------------------
def _units_under(unit: Unit):
    """Tasks of ``unit`` and the units under it: the scope a chain head names with ``unit_id``."""
    return Task.unit_id.in_(select(Unit.id).where(Unit.path.startswith(unit.path)))


def report_context(s: Session, plan: Plan, unit: Unit, as_of: date, whole: bool = False) -> dict:
    """The 整改情况报告 of ``unit`` on ``plan`` as of the end of ``as_of``: over the tasks
    of the unit and those under it, or with ``whole`` over the plan's (its issuing side)."""
    until = end_of_day_utc(as_of)
    scope = Task.plan_id == plan.id if whole else _units_under(unit)
    cal = load_calendar(s)
    by_state = {st.value: 0 for st in State}
    overdue = 0
    problems, annex, open_items, steps_next = [], [], [], []
    for n, item in enumerate(_items(s, plan, scope, until), start=1):
        state = words.state_as_of(item.steps, until)
        by_state[state.value] += 1
        late = _overdue_workdays(cal, item, state, until)
        overdue += late is not None
        accounts = words.accounts(item.steps, until)
        account = "；".join(accounts) or ("尚未提交整改说明。" if state is not State.WITHDRAWN else "已撤销。")
        title = item.problem.title
        label = STATE_LABELS[state]
        why = ""
        if words.is_open(state):
            why = words.why_open(state, item.task.deadline_text, late, words.last_reason(item.steps, until))
            open_items.append({"title": title, "unit": item.unit.name, "why_open": why})
            steps_next.append(words.next_step(title, state, item.task.deadline_text))
        problems.append(
            {
                "number_cn": chinese_number(n),
                "seq": item.problem.seq,
                "title": title,
                "unit": item.unit.name,
                "measures": item.problem.measures,
                "account": account,
                "evidence": len(item.evidence_at),
                "state": label,
            }
        )
        annex.append(
            {
                "seq": n,
                "category": item.problem.category,
                "title": title,
                "unit": item.unit.name,
                "deadline": item.task.deadline_text,
                "account": account,
                "evidence": len(item.evidence_at),
                "state": label,
                "why_open": why,
            }
        )
    figures = make_figures(by_state, overdue)
    done = sum(by_state[st] for st in words.DONE)
    return {
        "issuer": unit.name,
        "doc_number": f"〔{as_of.year}〕　号",
        "title": f"{unit.name}关于{plan.title.removeprefix('关于')}整改情况的报告",
        "recipient": plan.issuing_unit.name if plan.issuing_unit_id != unit.id else "",
        "plan_title": plan.title,
        "plan_doc_number": plan.doc_number,
        "as_of": words.china_date(as_of),
        "date": words.china_date(as_of),
        "totals": {
            "total": figures.total,
            "done": done,
            "closed": by_state[State.CLOSED],
            "verified": by_state[State.VERIFIED],
            "rectified": by_state[State.RECTIFIED],
            "open": sum(by_state[st] for st in OPEN_STATES),
            "overdue": overdue,
            "completion_rate": words.percent(figures.completion_rate),
            "rectified_rate": words.percent(figures.rectified_rate),
        },
        "problems": problems,
        "open_items": open_items,
        "next_steps": [*steps_next, words.CLOSING_STEP],
        "annex": annex,
        "annex_title": f"{plan.title}问题整改台账（截至{words.china_date(as_of)}）",
        **_chain(s, until, plan, None if whole else unit),
    }


def _chain(s: Session, until: datetime, plan: Plan, unit: Unit | None) -> dict:
    """The chain head of what a document covers, as of its moment (``flask verify-history``
    recomputes it from the printed line)."""
    head = head_as_of(s, as_of=until.replace(microsecond=0), plan_id=plan.id, unit_id=unit.id if unit else None)
    return {"chain_head": head.value, "chain_line": head.line()}


def draft_report(db: Database, viewer: User, plan_id: int, as_of: date) -> Export:
    """The viewer's unit's 整改情况报告 on a plan it sees, as of the end of ``as_of``
    (China time), over the tasks it sees there, from its own template."""
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    whole = permissions.issuing_side(facts(viewer).who, plan_facts(plan))
    ctx = report_context(s, plan, viewer.unit, as_of, whole)
    content = templates.render(_template(s, viewer.unit_id, "report"), ctx)
    return _export(
        content, f"{viewer.unit.name}_整改情况报告_{as_of:%Y%m%d}.docx", f"report-{plan.id}-{as_of:%Y%m%d}.docx"
    )


# ---- reports from the ledger -----------------------------------------------------------
@dataclass(frozen=True)
class PeriodReport:
    submission: Submission
    layout: str
    starts_after: datetime  # the period is (starts_after, ends_at]
    ends_at: datetime
    columns: list[str]
    rows: list[list[str]]  # the changed problems in the layout, with 本期变化 last
    summary: str


def period_bounds(s: Session, sub: Submission, plan: Plan) -> tuple[datetime, datetime]:
    """(the previous report's due instant, or the start of the plan's issue day; this
    report's due instant)."""
    before = s.scalar(
        select(Submission.due_at)
        .where(
            Submission.obligation_id == sub.obligation_id,
            Submission.unit_id == sub.unit_id,
            Submission.due_on < sub.due_on,
        )
        .order_by(Submission.due_on.desc())
        .limit(1)
    )
    start = before or datetime.combine(plan.issued_on, time(), CHINA)
    return start, sub.due_at


def _period(s: Session, sub: Submission, now: datetime) -> PeriodReport:
    ob = s.get(Obligation, sub.obligation_id)
    plan = s.get(Plan, sub.plan_id)
    layout = LAYOUTS[ob.ledger_layout or "sanmenxia"]
    start, end = period_bounds(s, sub, plan)
    until = min(end, now)
    problems, changes, states = [], [], []
    for item in _items(s, plan, _units_under(sub.unit), until):
        state = words.state_as_of(item.steps, until)
        states.append(state)
        change = words.period_change(item.steps, item.evidence_at, start, until)
        if change.empty:
            continue
        changes.append(change)
        counts = Counter({state.value: 1})
        problems.append(ExportProblem.of(item.problem, plan.id, item.unit.name, counts))
    table = export_table(layout, problems)
    rows = [[*row, change.text()] for row, change in zip(table.rows, changes, strict=True)]
    return PeriodReport(
        sub, layout.key, start, end, [*table.header, "本期变化"], rows, words.period_summary(changes, states)
    )


def period_report(db: Database, viewer: User, submission_id: int, now: datetime) -> PeriodReport:
    """What changed in the unit's part of the ledger in the report's period (for a report
    owed "from the ledger"), for the unit and for its supervisor alike."""
    s = db.session()
    sub = get_visible_submission(s, viewer, submission_id)
    if s.get(Obligation, sub.obligation_id).ledger_layout is None:
        raise Invalid("该报送事项不是“从台账生成”的定期报告。")
    return _period(s, sub, now)


def _period_context(s: Session, rep: PeriodReport, note: str, now: datetime) -> dict:
    sub = rep.submission
    plan = s.get(Plan, sub.plan_id)
    ob = s.get(Obligation, sub.obligation_id)
    start_day = rep.starts_after.astimezone(CHINA).date()
    end_day = rep.ends_at.astimezone(CHINA).date()
    return {
        "issuer": sub.unit.name,
        "recipient": plan.issuing_unit.name,
        "title": f"{sub.unit.name}{ob.title}",
        "obligation_title": ob.title,
        "plan_title": plan.title,
        "plan_doc_number": plan.doc_number,
        "period_from": words.china_date(start_day),
        "period_to": words.china_date(end_day),
        "summary": rep.summary,
        "note": note,
        "columns": rep.columns,
        "rows": rep.rows,
        "annex_title": f"{LAYOUTS[rep.layout].name}：本期变化",
        "date": words.china_date(end_day),
        **_chain(s, min(rep.ends_at, now), plan, sub.unit),
    }


def draft_submission(db: Database, viewer: User, submission_id: int, now: datetime, note: str = "") -> Export:
    """The drafted document of a report owed: for an obligation from the ledger, the
    period's changes; otherwise the unit's 整改情况报告 as of its due day (or today, if
    that is earlier). From the owing unit's template."""
    s = db.session()
    sub = get_visible_submission(s, viewer, submission_id)
    ob = s.get(Obligation, sub.obligation_id)
    day = min(sub.due_on, now.astimezone(CHINA).date())
    if ob.ledger_layout:
        ctx = _period_context(s, _period(s, sub, now), note, now)
        kind = "period"
    else:
        plan = s.get(Plan, sub.plan_id)
        ctx = report_context(s, plan, sub.unit, day)
        kind = "report"
    content = templates.render(_template(s, sub.unit_id, kind), ctx)
    return _export(content, f"{sub.unit.name}_{ob.title}_{sub.due_on:%Y%m%d}.docx", f"submission-{sub.id}.docx")


def drafted_upload(db: Database, viewer: User, submission_id: int, now: datetime, note: str) -> tuple[BinaryIO, str]:
    """The drafted document as the file of a submission (what :func:`obligations.submit` takes)."""
    doc = draft_submission(db, viewer, submission_id, now, note)
    return io.BytesIO(doc.content), doc.filename


def from_ledger(db: Database, submission_ids: list[int]) -> set[int]:
    """Which of these submissions are owed "from the ledger"."""
    if not submission_ids:
        return set()
    return set(
        db.session().scalars(
            select(Submission.id)
            .join(Obligation, Submission.obligation_id == Obligation.id)
            .where(Submission.id.in_(submission_ids), Obligation.ledger_layout.is_not(None))
        )
    )


# ---- the 通报 draft ------------------------------------------------------------------------
def notice_context(s: Session, plan: Plan, viewer: User, now: datetime) -> dict:
    cal = load_calendar(s)
    today = now.astimezone(CHINA).date()
    rows = s.execute(
        select(Task, Problem, Unit)
        .join(Problem, Task.problem_id == Problem.id)
        .join(Unit, Task.unit_id == Unit.id)
        .where(Task.plan_id == plan.id, task_visible(viewer), Task.state.in_([st.value for st in OPEN_STATES]))
        .order_by(Unit.id, Problem.seq)
    ).all()
    items, by_unit = [], defaultdict(list)
    for task, problem, unit in rows:
        if not on_notice_list(task.escalation_level):
            continue
        due = task.due_at.astimezone(CHINA).date() if task.due_at else today
        late = cal.workdays_between(due, today) if due < today else 0
        item = {
            "seq": len(items) + 1,
            "unit": unit.name,
            "title": problem.title,
            "deadline": task.deadline_text,
            "overdue_workdays": late,
            "state": STATE_LABELS[State(task.state)],
        }
        items.append(item)
        by_unit[unit.name].append(item)
    units = [
        {
            "number_cn": chinese_number(n),
            "name": name,
            "count": len(its),
            "longest": max(i["overdue_workdays"] for i in its),
        }
        for n, (name, its) in enumerate(by_unit.items(), start=1)
    ]
    issuer = plan.issuing_unit
    return {
        "issuer": issuer.name,
        "doc_number": f"{issuer.notice_prefix or ''}〔{today.year}〕　号",
        "title": f"关于{plan.title.removeprefix('关于')}逾期未整改问题的通报",
        "recipients": "、".join(u["name"] for u in units) or "各有关单位",
        "plan_title": plan.title,
        "plan_doc_number": plan.doc_number,
        "as_of": words.china_date(today),
        "date": words.china_date(today),
        "count": len(items),
        "units": units,
        "items": items,
        "annex_title": "逾期未整改问题清单",
        **_chain(s, now, plan, None),
    }


def draft_notice_list(db: Database, viewer: User, plan_id: int, now: datetime) -> Export:
    """The 通报 draft of a plan, for its supervising side."""
    s = db.session()
    plan = get_visible_plan(s, viewer, plan_id)
    f = facts(viewer, plan)
    require(permissions.supervises(f.who, f.plan), "只有方案下发单位的督办人员可以起草通报。")
    content = templates.render(_template(s, viewer.unit_id, "notice"), notice_context(s, plan, viewer, now))
    day = now.astimezone(CHINA).date()
    return _export(
        content,
        f"{plan.doc_number or plan.title[:20]}_通报草稿_{day:%Y%m%d}.docx",
        f"notice-{plan.id}-{day:%Y%m%d}.docx",
    )


# ---- what a template may use -------------------------------------------------------------
def _sample_report() -> dict:
    problem = {
        "number_cn": "一",
        "seq": 1,
        "title": "示例问题",
        "unit": "示例单位",
        "measures": "示例措施",
        "account": "示例整改说明",
        "evidence": 1,
        "state": "整改中",
    }
    annex_row = {
        "seq": 1,
        "category": "示例类型",
        "title": "示例问题",
        "unit": "示例单位",
        "deadline": "6月20日前",
        "account": "示例整改说明",
        "evidence": 1,
        "state": "整改中",
        "why_open": "正在整改。",
    }
    totals = dict.fromkeys(("total", "done", "closed", "verified", "rectified", "open", "overdue"), 1)
    return {
        "issuer": "示例单位",
        "doc_number": "〔2026〕　号",
        "title": "示例标题",
        "recipient": "示例主送单位",
        "plan_title": "示例方案",
        "plan_doc_number": "示〔2026〕1号",
        "as_of": "2026年1月1日",
        "date": "2026年1月1日",
        "totals": totals | {"completion_rate": "50.0%", "rectified_rate": "50.0%"},
        "problems": [problem],
        "open_items": [{"title": "示例问题", "unit": "示例单位", "why_open": "正在整改。"}],
        "next_steps": ["示例下一步"],
        "annex": [annex_row],
        "annex_title": "示例附件",
        **_SAMPLE_CHAIN,
    }


def _sample_period() -> dict:
    return {
        "issuer": "示例单位",
        "recipient": "示例主送单位",
        "title": "示例标题",
        "obligation_title": "周报",
        "plan_title": "示例方案",
        "plan_doc_number": "示〔2026〕1号",
        "period_from": "2026年1月1日",
        "period_to": "2026年1月8日",
        "summary": "示例摘要",
        "note": "示例说明",
        "columns": ["序号", "问题表述"],
        "rows": [["1", "示例"]],
        "annex_title": "示例附件",
        "date": "2026年1月8日",
        **_SAMPLE_CHAIN,
    }


def _sample_notice() -> dict:
    item = {
        "seq": 1,
        "unit": "示例单位",
        "title": "示例问题",
        "deadline": "6月20日",
        "overdue_workdays": 3,
        "state": "整改中",
    }
    return {
        "issuer": "示例单位",
        "doc_number": "〔2026〕　号",
        "title": "示例标题",
        "recipients": "示例单位",
        "plan_title": "示例方案",
        "plan_doc_number": "示〔2026〕1号",
        "as_of": "2026年1月1日",
        "date": "2026年1月1日",
        "count": 1,
        "units": [{"number_cn": "一", "name": "示例单位", "count": 1, "longest": 3}],
        "items": [item],
        "annex_title": "示例附件",
        **_SAMPLE_CHAIN,
    }


_SAMPLE_CHAIN = {"chain_head": "sm3:0", "chain_line": "记录链校验值（SM3）：sm3:0"}
SAMPLES = {"report": _sample_report, "period": _sample_period, "notice": _sample_notice}
