"""The figures read from the database's running tallies (app.services.tally, kept by the
triggers of migration 0026) are exactly what counting the tasks one by one says, for
every kind of viewer, at any ``now``, after the messy paths a campaign takes: a ledger
imported and its export re-imported with edits and a new problem, tasks closed and
reopened, 转办, a problem withdrawn, a deadline edited, an extension granted, the sweep
putting tasks on the 通报 list, a look-back's rebound."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from app import create_app, jobs
from app.demo import SMX_COUNTIES
from app.domain.deadlines import CHINA
from app.domain.supervision import colour
from app.domain.workflow import OFF_THE_BOOKS, State
from app.models import Problem, Task, TaskEvent, User
from app.services import dashboard, tally, tasks
from app.services.scope import task_visible
from tests import conftest
from tests.integration.test_authoring_pages import unit_id
from tests.integration.test_edit_problem import as_json, form_of
from tests.integration.test_ledger_io import SMX_PLAN_NO, edited, export, fixture, imported, new_plan, preview
from tests.integration.test_withdraw_problem import close, problem_for

pytestmark = pytest.mark.presigned

VIEWERS = ("admin", "smx_head", "smx_viewer", "lushi_head", "lushi_handler", "yz_head", "lushi_sup", "gucheng_handler")
_OFF = {st.value for st in OFF_THE_BOOKS}


def recount(s, viewer: User, now: datetime, by: str) -> dict[tuple, list[int]]:
    """Each visible task asked on its own: its key, whether overdue, whether blue."""
    out: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for t, category in s.execute(
        select(Task, Problem.category).join(Problem, Task.problem_id == Problem.id).where(task_visible(viewer))
    ):
        group = {"plan": (t.plan_id,), "problem": (t.plan_id, t.problem_id), "category": (t.plan_id, category)}
        c = out[(*group[by], t.state, bool(t.public_notice))]
        c[0] += 1
        c[1] += tasks.is_overdue(t, now)
        c[2] += colour(t.state, t.due_at, t.public_notice, now) == "blue"
    return dict(out)


def fast(s, viewer: User, now: datetime, by: str) -> dict[tuple, list[int]]:
    found = tally.counts(s, tally.seen(s, viewer), now, by)
    return {
        (*k[:-1], bool(k[-1])): [c.n, c.overdue, c.blue]
        for k, c in found.items()
        if (c.n, c.overdue, c.blue) != (0, 0, 0)
    }


def open_per_day(s, viewer: User, days: list) -> list[int]:
    """The open count at the end of each China day, from each task's history replayed."""
    events = s.scalars(
        select(TaskEvent)
        .join(Task, TaskEvent.task_id == Task.id)
        .where(task_visible(viewer), TaskEvent.kind.in_(["created", "transition"]))
        .order_by(TaskEvent.task_id, TaskEvent.seq)
    ).all()
    counts = []
    for d in days:
        end = datetime.combine(d + timedelta(days=1), time(), CHINA)
        state: dict[int, str] = {}
        for e in events:
            if e.at < end:
                state[e.task_id] = e.to_state
        counts.append(sum(st not in _OFF for st in state.values()))
    return counts


def nows(s, now: datetime) -> list[datetime]:
    """Now, weeks before and after, and the instants either side of deadlines and of
    the UTC midnight the tallies' days turn at."""
    due = sorted({d for d in s.scalars(select(Task.due_at).where(Task.due_at.is_not(None)))})
    picks = [now, now - timedelta(days=30), now + timedelta(days=5), now + timedelta(days=400)]
    for d in (due[0], due[len(due) // 2], due[-1]):
        midnight = datetime.combine(d.astimezone(UTC).date(), time(), UTC)
        picks += [
            d,
            d - timedelta(microseconds=1),
            d + timedelta(microseconds=1),
            midnight,
            midnight - timedelta(hours=3),
        ]
    return picks


def check(s, now: datetime, history_until: datetime) -> None:
    for name in VIEWERS:
        viewer = s.scalar(select(User).where(User.username == name))
        if viewer is None:
            continue
        for at in nows(s, now):
            for by in ("plan", "problem", "category"):
                assert fast(s, viewer, at, by) == recount(s, viewer, at, by), (name, at, by)
        for at in (now, now + timedelta(days=3)):  # the burn-down reads history up to now
            assert at >= history_until
            series = dashboard._burndown(
                s,
                tally.seen(s, viewer),
                at,
                sum(c[0] for k, c in recount(s, viewer, at, "plan").items() if k[-2] not in _OFF),
            )
            days = [datetime.fromisoformat(d).date() for d, _ in series]
            assert [n for _, n in series] == open_per_day(s, viewer, days), (name, at)


def _edit(ws) -> None:
    """An exported 禹州-style ledger as an office edits it before importing it again."""
    foot = next(r for r in range(1, ws.max_row + 1) if str(ws.cell(r, 1).value or "").startswith("备注："))
    for merged in [m for m in ws.merged_cells.ranges if m.min_row == foot]:
        ws.unmerge_cells(str(merged))
    ws.cell(4, 5, f"{ws.cell(4, 5).value}，并逐户建档")
    ws.cell(5, 8, "已完成排查")  # the 进展 column: a progress note, no change of state
    added = [str(foot - 3), "新增问题类", "个性问题", "再次导入时新增的问题", "立即整改", "6月30日"]
    for col, value in enumerate(added, start=1):
        ws.cell(foot, col, value)
    ws.cell(foot, 7, f"{SMX_COUNTIES['lushi']}、{SMX_COUNTIES['hubin']}")


def test_the_tallies_agree_with_a_recount_after_import_reopening_reassigning_withdrawing_and_deadline_edits(
    app, api, clock
):
    pid = new_plan(api, "smx_deputy", "2022-06-07", SMX_PLAN_NO + "-导入")
    body = preview(api, pid, "smx_deputy", fixture("sanmenxia.xlsx")).get_json()
    imported(api, pid, "smx_deputy", body["token"])
    # the office re-imports its own export, edited: one measure reworded, a new problem
    # typed over the footnote for two counties, a progress note on another row
    before = len(api.get("/tasks", "admin", query_string={"plan_id": pid, "per_page": 200}).get_json()["items"])
    body = preview(api, pid, "smx_deputy", edited(export(api, pid, "smx_deputy", "yuzhou").data, _edit)).get_json()
    assert body["errors_count"] == 0 and body["counts"]["add"] == 1, body["counts"]
    assert imported(api, pid, "smx_deputy", body["token"])["created_problems"] == 1
    after = api.get("/tasks", "admin", query_string={"plan_id": pid, "per_page": 200}).get_json()["items"]
    assert len(after) == before + 2, "the new problem's two tasks are in"
    problem, by_unit = problem_for(api, ["lushi", "hubin", "mianchi", "yima"])
    close(api, by_unit["mianchi"], "mianchi_handler")
    clock.advance(days=2)
    reopen = {"to": "in_progress", "comment": "复查发现反弹", "version": 5}
    assert api.post(f"/tasks/{by_unit['mianchi']}/transitions", "smx_head", json=reopen).status_code == 200
    move = {"unit_id": unit_id(api, SMX_COUNTIES["lingbao"]), "reason": "属地调整", "version": 1}
    assert api.post(f"/tasks/{by_unit['lushi']}/reassign", "smx_deputy", json=move).status_code == 200
    gone, _ = problem_for(api, ["shanzhou", "hubin"], deadline="7月底")
    withdraw = {"reason": "重复录入"}
    assert api.post(f"/problems/{gone}/withdraw", "smx_deputy", json=withdraw).status_code == 200
    form = form_of(api, problem, ["lingbao", "hubin", "mianchi", "yima"], deadline="7月10日")
    r = api.call("PUT", f"/problems/{problem}", "smx_deputy", json=as_json(form))
    assert r.status_code == 200, r.get_json()
    clock.now = datetime(2022, 7, 20, 1, 5, tzinfo=UTC)  # past 6月20日 and 7月10日: the sweep climbs
    with app.app_context():  # (requests inside an outer app context would not start their jobs)
        rt = app.extensions["rectify"]
        jobs.tick(rt, clock.now)
        rt.db.remove()
        s = rt.db.session()
        assert s.scalar(select(Task.id).where(Task.public_notice.is_(True)).limit(1)), "the sweep put tasks on the list"
        check(s, clock.now, clock.now)


def test_the_tallies_agree_with_a_recount_over_the_campaign_demo(campaign_sqlite):
    """The demo as `make run` loads it: weeks of real steps, extensions, 转办 after a
    decline, a spot check's reopening and a look-back's rebound."""
    url, instance = campaign_sqlite
    application = create_app(conftest.TestConfig(url, instance), clock=lambda: conftest.CAMPAIGN_NOW)
    try:
        with application.app_context():
            db = application.extensions["rectify"].db
            s = db.session()
            last = s.scalar(select(TaskEvent.at).order_by(TaskEvent.at.desc()).limit(1))
            assert s.scalar(select(TaskEvent.id).where(TaskEvent.from_state == State.CLOSED.value).limit(1))
            check(s, max(conftest.CAMPAIGN_NOW, last), last)
    finally:
        application.extensions["rectify"].db.dispose()
