"""The burn-down (挂账清零) counts each task open from its creation until it is closed, and
again after a reopening, however long after; entries that keep the state do not move it."""

from collections import Counter

from sqlalchemy import select

from app.domain.supervision import colour
from app.domain.workflow import OFF_THE_BOOKS, OPEN_STATES, State
from app.models import Task, User
from app.services import dashboard, history, scope, tasks
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


def test_the_boards_figures_and_units_are_what_the_tasks_say_counted_one_by_one(api, rt, clock):
    """States, overdue, colours and the units' bars (most overdue first, then by name),
    read by the board in one grouped scan, against each visible task's own answers."""
    _close_one(api, "lushi_handler")
    clock.advance(days=40)  # the 6月20日 items are overdue now
    board = _board(rt, clock)
    s = rt.db.session()
    viewer = s.scalar(select(User).where(User.username == "smx_head"))
    seen = list(s.scalars(select(Task).where(scope.task_visible(viewer))))
    by_state = Counter(t.state for t in seen)
    assert board.figures.by_state == {st.value: by_state.get(st.value, 0) for st in State}
    assert board.figures.overdue == sum(tasks.is_overdue(t, clock.now) for t in seen) > 0
    tiles = Counter(colour(t.state, t.due_at, t.public_notice, clock.now) for t in seen)
    assert board.colours == {c: tiles.get(c, 0) for c in ("red", "yellow", "blue")}
    units: dict[str, list[int]] = {}
    for t in seen:
        if State(t.state) in OPEN_STATES:
            counts = units.setdefault(t.unit.name, [0, 0])
            counts[0] += tasks.is_overdue(t, clock.now)
            counts[1] += 1
    expected = sorted(((name, o, n) for name, (o, n) in units.items()), key=lambda u: (-u[1], u[0]))
    assert board.overdue_by_unit == expected and len({o for _, o, _ in expected}) > 1


def test_a_withdrawn_task_leaves_the_open_count_on_the_day_it_is_withdrawn_and_not_before(api, rt, clock):
    start = _board(rt, clock)
    open_now = sum(n for st, n in start.figures.by_state.items() if State(st) not in OFF_THE_BOOKS)
    assert start.burndown[-1][1] == open_now
    task = api.get("/tasks", "smx_head", query_string={"per_page": 1}).get_json()["items"][0]
    clock.advance(days=1)
    move = {"to": "withdrawn", "comment": "重复录入，撤销", "version": task["version"]}
    assert api.post(f"/tasks/{task['id']}/transitions", "smx_head", json=move).status_code == 200
    series = _board(rt, clock).burndown
    assert [n for _, n in series[-2:]] == [open_now, open_now - 1], "withdrawn counts off the books from that day"
    assert all(n <= open_now for _, n in series), "a withdrawn task was never counted twice"
