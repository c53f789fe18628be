"""The burn-down (挂账清零) counts each task open from its creation until it is closed, and
again after a reopening, however long after; entries that keep the state do not move it."""

from sqlalchemy import select

from app.models import Task, User
from app.services import dashboard, history
from tests.integration.test_spotchecks import _close_one


def _board(rt, clock):
    viewer = rt.db.session().scalar(select(User).where(User.username == "smx_head"))
    return dashboard.build(rt.db, viewer, clock.now)


def test_a_task_reopened_months_after_its_closing_counts_as_open_again_from_that_day(api, rt, clock):
    start = _board(rt, clock)
    open_before = start.figures.total - start.figures.by_state["closed"]
    first = _close_one(api, "lushi_handler")
    second = _close_one(api, "hubin_handler")
    assert _board(rt, clock).burndown[-1][1] == open_before - 2
    clock.advance(days=75)  # past the 60 days the chart shows
    reopen = {"to": "in_progress", "comment": "复查发现反弹", "version": 5}
    r = api.post(f"/tasks/{first}/transitions", "smx_head", json=reopen)
    assert r.status_code == 200
    with rt.db.transaction() as s:  # a note on the closed task leaves it closed
        history.add_event(s, s.get(Task, second), "urged", None, clock.now, "仍需巩固", {})
    series = _board(rt, clock).burndown
    assert len(series) == 61
    assert [n for _, n in series[:-1]] == [open_before - 2] * 60
    assert series[-1][1] == open_before - 1
