"""The seeing rules exist twice by necessity: as app.domain.permissions' functions (for
one record) and as SQL clauses in app.services.scope (for lists and figures). For every
demo user and every unit, plan, problem, task and submission, both must give the same
answer."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import select

from app.domain import permissions
from app.models import Plan, Problem, Submission, Task, Unit, User
from app.services import scope

pytestmark = pytest.mark.presigned


def test_the_sql_and_the_domain_module_agree_on_what_each_user_sees(api, app):
    for sup, plan in (("smx_deputy", 1), ("yz_deputy", 2)):  # reports owed too, some by units without tasks
        units = api.get("/units", sup).get_json()
        body = {"title": "周报", "schedule": "每周五", "unit_ids": [u["id"] for u in units]}
        assert api.post(f"/plans/{plan}/obligations", sup, json=body).status_code == 201
    with app.app_context():
        s = app.extensions["rectify"].db.session()
        units = {u.id: u for u in s.scalars(select(Unit))}
        plans = list(s.scalars(select(Plan)))
        problems = list(s.scalars(select(Problem)))
        tasks = list(s.scalars(select(Task)))
        subs = list(s.scalars(select(Submission)))
        for user in s.scalars(select(User)):
            f = scope.facts(user)
            sees = {uid for uid, u in units.items() if permissions.sees_unit(f.who, scope.unit_facts(u))}
            assert set(s.scalars(select(Unit.id).where(scope.unit_visible(user)))) == sees, user.username
            assert set(s.scalars(select(Task.id).where(scope.task_visible(user)))) == {
                t.id for t in tasks if t.unit_id in sees
            }, user.username
            assert set(s.scalars(select(Submission.id).where(scope.submission_visible(user)))) == {
                x.id for x in subs if x.unit_id in sees
            }, user.username
            owes: dict[int, bool] = defaultdict(bool)
            for rec in [*tasks, *subs]:
                owes[rec.plan_id] |= rec.unit_id in sees
            assert set(s.scalars(select(Plan.id).where(scope.plan_visible(user)))) == {
                p.id for p in plans if permissions.sees_plan(f.who, scope.plan_facts(p), owes[p.id])
            }, user.username
            seen_tasks = defaultdict(int)
            for t in tasks:
                seen_tasks[t.problem_id] += t.unit_id in sees
            by_id = {p.id: p for p in plans}
            assert set(s.scalars(select(Problem.id).join(Plan).where(scope.problem_visible(user)))) == {
                p.id
                for p in problems
                if permissions.sees_problem(f.who, scope.plan_facts(by_id[p.plan_id]), seen_tasks[p.id])
            }, user.username
