"""Spot checks through the services: a recorded draw, and a failed re-check reopens."""

import io

import pytest
from sqlalchemy import select

from app.models import SpotCheck, User
from app.services import dashboard, spotchecks
from app.services.errors import Forbidden, NotFound

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _close_one(api, unit_user: str) -> int:
    tid = api.task_of(unit_user)["id"]
    api.post(f"/tasks/{tid}/transitions", unit_user, json={"to": "in_progress", "version": 1})
    api.post(f"/tasks/{tid}/evidence", unit_user, data={"file": (io.BytesIO(PNG), "a.png")})
    api.post(f"/tasks/{tid}/transitions", unit_user, json={"to": "rectified", "comment": "done", "version": 2})
    api.post(f"/tasks/{tid}/transitions", "smx_deputy", json={"to": "verified", "version": 3})
    r = api.post(f"/tasks/{tid}/transitions", "smx_head", json={"to": "closed", "version": 4})
    assert r.status_code == 200
    return tid


def test_a_draw_is_recorded_and_a_failed_recheck_reopens_the_task(api, rt, clock):
    closed = {_close_one(api, u) for u in ("lushi_handler", "hubin_handler")}
    s = rt.db.session()
    sup = s.scalar(select(User).where(User.username == "smx_deputy"))
    check = spotchecks.draw(rt.db, sup, 1, 5, seed=42, now=clock.now)
    assert {i.task_id for i in check.items} == closed and check.population == 2
    again = spotchecks.draw(rt.db, sup, 1, 1, seed=42, now=clock.now)
    assert len(rt.db.session().scalars(select(SpotCheck)).all()) == 2 and len(again.items) == 1
    item = check.items[0]
    spotchecks.record_result(rt.db, sup, item.id, False, "现场复核仍有危房住人", clock.now)
    task = api.get(f"/tasks/{item.task_id}", "smx_deputy").get_json()
    assert task["state"] == "in_progress"
    last = api.get(f"/tasks/{item.task_id}/history", "smx_deputy").get_json()[-1]
    assert (last["from_state"], last["to_state"]) == ("closed", "in_progress") and "抽查复核不通过" in last["comment"]


def test_a_county_official_cannot_draw_a_spot_check(api, rt, clock):
    _close_one(api, "lushi_handler")
    official = rt.db.session().scalar(select(User).where(User.username == "lushi_head"))
    with pytest.raises((Forbidden, NotFound)):  # refused, or (outside the issuing side) not even found
        spotchecks.draw(rt.db, official, 1, 3, seed=1, now=clock.now)


def test_the_burndown_falls_when_a_task_is_closed(api, rt, clock):
    sup = rt.db.session().scalar(select(User).where(User.username == "smx_deputy"))
    before = dashboard.build(rt.db, sup, clock.now, plan_id=1)
    _close_one(api, "lushi_handler")
    after = dashboard.build(rt.db, sup, clock.now, plan_id=1)
    assert after.burndown[-1][1] == before.burndown[-1][1] - 1
    assert after.figures.by_state["closed"] == before.figures.by_state["closed"] + 1
