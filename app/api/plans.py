"""Plans and problems."""

from __future__ import annotations

from flask import g

from app.api import bp, now, rt, spec
from app.models import Plan, Problem
from app.schemas import (
    Figures,
    PhaseOut,
    PlanEditIn,
    PlanIn,
    PlanOut,
    ProblemEditIn,
    ProblemIn,
    ProblemOut,
    WithdrawIn,
    WithdrawOut,
)
from app.services import plans, tasks


def plan_out(plan: Plan, figures: Figures | None) -> PlanOut:
    return PlanOut(
        id=plan.id,
        title=plan.title,
        doc_number=plan.doc_number,
        issuing_unit_id=plan.issuing_unit_id,
        issued_on=plan.issued_on,
        evidence_required=plan.evidence_required,
        workdays_from=plan.workdays_from,
        phases=[PhaseOut.model_validate(p) for p in plan.phases],
        version=plan.version,
        answers_plan_id=plan.answers_plan_id,
        holds_received=plan.holds_received,
        supervised_above=plan.supervised_above,
        figures=figures,
    )


def problem_out(p: Problem, state, count: int) -> ProblemOut:
    out = ProblemOut.model_validate(p)
    return out.model_copy(update={"state": state, "task_count": count})


@spec.route(bp, "/plans", "GET", summary="Plans you can see, with roll-up figures", response=PlanOut, many=True)
def list_plans():
    return [plan_out(p, f) for p, f in plans.list_plans(rt().db, g.user, now())]


@spec.route(bp, "/plans", "POST", summary="Issue a plan (supervisor)", body=PlanIn, response=PlanOut, status=201)
def create_plan(body: PlanIn):
    plan = plans.create_plan(rt().db, g.user, body)
    return plan_out(*plans.get_plan(rt().db, g.user, plan.id, now()))


@spec.route(bp, "/plans/<int:plan_id>", "GET", summary="One plan with its figures", response=PlanOut)
def get_plan(plan_id: int):
    return plan_out(*plans.get_plan(rt().db, g.user, plan_id, now()))


@spec.route(
    bp,
    "/plans/<int:plan_id>",
    "PUT",
    summary="Edit a plan's title, 文号, evidence waiver and phases (its supervisors)",
    body=PlanEditIn,
    response=PlanOut,
)
def update_plan(plan_id: int, body: PlanEditIn):
    plans.update_plan(rt().db, g.user, plan_id, body)
    return plan_out(*plans.get_plan(rt().db, g.user, plan_id, now()))


@spec.route(
    bp,
    "/plans/<int:plan_id>/problems",
    "GET",
    summary="The problem list with rolled-up states",
    response=ProblemOut,
    many=True,
)
def list_problems(plan_id: int):
    return [problem_out(*row) for row in plans.list_problems(rt().db, g.user, plan_id)]


@spec.route(
    bp,
    "/plans/<int:plan_id>/problems",
    "POST",
    summary="Add a problem; it fans out to one task per responsible unit",
    body=ProblemIn,
    response=ProblemOut,
    status=201,
)
def create_problem(plan_id: int, body: ProblemIn):
    problem = plans.create_problem(rt().db, g.user, plan_id, body, now())
    return problem_out(*plans.get_problem(rt().db, g.user, problem.id))


@spec.route(bp, "/problems/<int:problem_id>", "GET", summary="One problem", response=ProblemOut)
def get_problem(problem_id: int):
    return problem_out(*plans.get_problem(rt().db, g.user, problem_id))


@spec.route(
    bp,
    "/problems/<int:problem_id>",
    "PUT",
    summary="Edit a problem (its supervisors): units added get a task, units left out have theirs withdrawn "
    "with the reason, a new deadline is counted again for the open tasks; guarded by its version",
    body=ProblemEditIn,
    response=ProblemOut,
)
def update_problem(problem_id: int, body: ProblemEditIn):
    tasks.update_problem(rt().db, g.user, problem_id, body, now())
    return problem_out(*plans.get_problem(rt().db, g.user, problem_id))


@spec.route(
    bp,
    "/problems/<int:problem_id>/withdraw",
    "POST",
    summary="Withdraw a problem (supervisor): its tasks not yet closed are withdrawn, the reason in their history",
    body=WithdrawIn,
    response=WithdrawOut,
)
def withdraw_problem(problem_id: int, body: WithdrawIn):
    withdrawn = tasks.withdraw_problem(rt().db, g.user, problem_id, body, now())
    return WithdrawOut(problem_id=problem_id, withdrawn=withdrawn)
