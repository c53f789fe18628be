"""My work (the home page's boxes and the count in the header) and acting on a selection
of tasks from the list (verify, close, 催办, export), each with its own result."""

from __future__ import annotations

from flask import g, jsonify, render_template, request, url_for

from app.http import attachment
from app.schemas import db_int
from app.services import bulk, inbox, queue
from app.web import back, bp, lang, local_path, login_required, rt, say
from app.web.i18n import translate

# Each box of my work: its heading, and the list page showing all of it (when it is longer)
BOX_LABELS = {
    "to_acknowledge": "待签收",
    "to_start": "待开始整改",
    "to_rectify": "整改中，待提交",
    "sent_back": "退回整改",
    "due_soon": "3日内到期",
    "reports_owed": "待报送事项",
    "declined": "已拒收，待决定",
    "to_check": "待核实",
    "extensions": "延期待审批",
    "reports_to_review": "报送待审核",
    "lookbacks": "回头看待复核",
    "overdue": "逾期任务（按督办级别）",
}


def box_link(key: str) -> str:
    """Where the whole of a box is listed (the task list with its filter, or the reports)."""
    unit = g.user.unit_id
    links = {
        "to_acknowledge": url_for("web.task_list", unit_id=unit, receipt="pending"),
        "to_start": url_for("web.task_list", unit_id=unit, state="identified"),
        "to_rectify": url_for("web.task_list", unit_id=unit, state="in_progress"),
        "sent_back": url_for("web.task_list", unit_id=unit, state="in_progress"),
        "due_soon": url_for("web.task_list", unit_id=unit, due_within_days=3),
        "reports_owed": url_for("web.submission_list"),
        "declined": url_for("web.task_list", receipt="declined"),
        "to_check": url_for("web.task_list", state="rectified"),
        "extensions": url_for("web.task_list", state="in_progress"),
        "reports_to_review": url_for("web.submission_list"),
        "lookbacks": url_for("web.task_list", state="closed"),
        "overdue": url_for("web.task_list", overdue="true", sort="state"),
    }
    return links[key]


def item_link(item) -> str:
    if item.record == "submission":
        return url_for("web.submission_list", plan_id=item.plan_id)
    anchor = {"extension": "#extensions", "lookback": "#lookback"}.get(item.record, "")
    return url_for("web.task_detail", task_id=item.task_id) + anchor


@bp.app_context_processor
def _work_helpers():
    return {
        "box_labels": BOX_LABELS,
        "box_link": box_link,
        "item_link": item_link,
    }


@bp.get("/header-counts")
@login_required
def header_counts():
    """The header's counts, fetched by every page but my work once it is shown (app.js):
    ``waiting`` ("12", "1000+" or "0"), what waits for the person to act on, and
    ``unread``, their inbox's unread messages. Counting every box is the dearest part of
    a page, and a list or a form need not wait for it; my work counts its boxes anyway
    and prints both itself."""
    r = rt()
    resp = jsonify(waiting=str(queue.header_total(r.db, g.user, r.clock())), unread=inbox.unread_count(r.db, g.user))
    resp.headers["Cache-Control"] = "no-store"
    return resp


ACTIONS = {"verify": "核实通过", "close": "销号", "urge": "催办", "export": "导出"}


@bp.post("/tasks/bulk")
@login_required
def task_bulk():
    """The tasks ticked in the list, each through its own guards; the page that follows
    lists every one: done, or refused and why."""
    r = rt()
    action = request.form.get("action", "")
    ids = list(dict.fromkeys(request.form.getlist("task_id", type=db_int)))
    if action not in ACTIONS:
        say("请选择要执行的操作。", "error")
        return back(url_for("web.task_list"))
    if not ids:
        say("请先勾选任务。", "error")
        return back(url_for("web.task_list"))
    if len(ids) > bulk.MAX_SELECTION:
        say("一次最多选择 {n} 项任务。", "error", n=bulk.MAX_SELECTION)
        return back(url_for("web.task_list"))
    now = r.clock()
    if action == "export":
        return attachment(bulk.export_selection(r.db, g.user, ids, now))
    if action == "urge":
        outcomes = bulk.urge_each(r.db, g.user, ids, request.form.get("comment", "").strip()[:5000], now)
    else:
        picked = [(tid, request.form.get(f"version_{tid}", type=db_int) or 0) for tid in ids]
        outcomes = bulk.move_each(r.db, g.user, picked, action, now)
    done = sum(o.done for o in outcomes)
    if action == "urge" and done:
        say("已催办 {n} 项任务。", n=done)
    else:
        say(
            "{action}：完成 {done} 项，未办理 {refused} 项。",
            action=translate(ACTIONS[action], lang()),
            done=done,
            refused=len(outcomes) - done,
        )
    return render_template(
        "bulk_result.html",
        action=ACTIONS[action],
        outcomes=outcomes,
        titles=bulk.titles(r.db, g.user, ids),
        back_to=nxt if local_path(nxt := request.form.get("next", "")) else url_for("web.task_list"),
    )
