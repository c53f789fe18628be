"""Answering plans (a unit's own plan answering a plan it received tasks in), the progress
below a plan, and look-backs (回头看)."""

from __future__ import annotations

from flask import g

from app.api import bp, now, rt, spec
from app.api.plans import plan_out
from app.schemas import AnswerIn, AnswerOut, BelowProblemOut, BelowTaskOut, BranchOut, LookbackIn, LookbackOut, PlanOut
from app.services import answers, lookbacks, plans


def _tasks(rows) -> list[BelowTaskOut]:
    return [BelowTaskOut(task_id=tid, unit_name=unit, state=state) for tid, unit, state in rows]


def _flatten(branches, depth: int = 1) -> list[BranchOut]:
    out = []
    for b in branches:
        problems = [
            BelowProblemOut(
                problem_id=r.problem.id,
                seq=r.problem.seq,
                title=r.problem.title,
                answers_task_id=r.answers_task_id,
                tasks=_tasks(r.tasks),
            )
            for r in b.rows
        ]
        p = b.plan
        out.append(
            BranchOut(
                plan_id=p.id,
                answers_plan_id=p.answers_plan_id,
                depth=depth,
                unit_name=b.unit_name,
                doc_number=p.doc_number,
                title=p.title,
                figures=b.figures,
                problems=problems,
            )
        )
        out += _flatten(b.below, depth + 1)
    return out


@spec.route(
    bp,
    "/plans/<int:plan_id>/answer",
    "POST",
    summary="Answer a plan with your unit's own plan, carrying received tasks to the units under it (举一反三)",
    body=AnswerIn,
    response=PlanOut,
    status=201,
)
def answer_plan(plan_id: int, body: AnswerIn):
    plan = answers.answer_plan(rt().db, g.user, plan_id, body, now())
    return plan_out(*plans.get_plan(rt().db, g.user, plan.id, now()))


@spec.route(
    bp,
    "/plans/<int:plan_id>/below",
    "GET",
    summary="Progress below a plan: its answering plans level by level, their problems and tasks",
    response=BranchOut,
    many=True,
)
def plan_below(plan_id: int):
    return _flatten(answers.tree(rt().db, g.user, plan_id, now()))


@spec.route(
    bp,
    "/tasks/<int:task_id>/answers",
    "GET",
    summary="The problems answering a received task, and where their tasks stand",
    response=AnswerOut,
    many=True,
)
def task_answers(task_id: int):
    return [
        AnswerOut(
            plan_id=a.plan.id,
            doc_number=a.plan.doc_number,
            problem_id=a.problem.id,
            seq=a.problem.seq,
            title=a.problem.title,
            done=a.done,
            tasks=_tasks(a.tasks),
        )
        for a in answers.answers_of(rt().db, g.user, task_id)
    ]


@spec.route(
    bp,
    "/plans/<int:plan_id>/lookbacks",
    "GET",
    summary="Look-backs (回头看) of a plan's closed tasks",
    response=LookbackOut,
    many=True,
)
def plan_lookbacks(plan_id: int):
    return [LookbackOut.model_validate(v.lookback) for v in lookbacks.plan_lookbacks(rt().db, g.user, plan_id)]


@spec.route(
    bp,
    "/lookbacks/<int:lookback_id>/result",
    "POST",
    summary="Record a look-back: confirm the fix held, or reopen the task as a rebound (问题反弹) with what was found",
    body=LookbackIn,
    response=LookbackOut,
)
def lookback_result(lookback_id: int, body: LookbackIn):
    return LookbackOut.model_validate(lookbacks.record(rt().db, g.user, lookback_id, body, now()))
