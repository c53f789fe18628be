"""三色督办: the list filter, the dashboard tiles and each task's own colour agree."""

from datetime import UTC, datetime

from sqlalchemy import select, update

from app.models import Task, User
from app.services import dashboard

# 2022-06-18 10:00 China time: 6月20日 tasks are due within 3 days (blue), Yuzhou 6月10日 ones overdue
JUNE_18 = datetime(2022, 6, 18, 2, 0, tzinfo=UTC)


def test_filter_tiles_and_task_colours_agree(api, rt, clock):
    clock.now = JUNE_18
    with rt.db.transaction() as s:
        red = s.scalars(select(Task.id).where(Task.due_at < JUNE_18).order_by(Task.id).limit(2)).all()  # overdue too
        s.execute(update(Task).where(Task.id.in_(red)).values(public_notice=True, escalation_level=3))
    everything = api.get("/tasks", "admin", query_string={"per_page": 200}).get_json()["items"]
    by_colour = {c: {t["id"] for t in everything if t["colour"] == c} for c in ("blue", "yellow", "red")}
    assert by_colour["red"] == set(red) and by_colour["blue"] and by_colour["yellow"]
    sup = rt.db.session().scalar(select(User).where(User.username == "admin"))
    tiles = dashboard.build(rt.db, sup, clock.now).colours
    for c, ids in by_colour.items():
        listed = api.get("/tasks", "admin", query_string={"colour": c, "per_page": 200}).get_json()["items"]
        assert {t["id"] for t in listed} == ids, c
        assert tiles[c] == len(ids), c
