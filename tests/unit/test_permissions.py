"""app/domain/permissions.py against a table written here from the README's "Who may do
what": a city (/1/) with two counties (/1/2/, /1/3/), a township under the first
(/1/2/4/), and another city (/9/). The plan is the city's."""

from __future__ import annotations

import pytest

from app.domain import permissions as p
from app.domain.permissions import PlanFacts, Role, Side, UnitFacts, Who

CITY, COUNTY, SIBLING, TOWN, OTHER_CITY = (
    UnitFacts(1, "/1/"),
    UnitFacts(2, "/1/2/"),
    UnitFacts(3, "/1/3/"),
    UnitFacts(4, "/1/2/4/"),
    UnitFacts(9, "/9/"),
)
PLAN = PlanFacts(CITY.id, CITY.path)
COUNTY_PLAN = PlanFacts(COUNTY.id, COUNTY.path)


def who(unit: UnitFacts, role: Role, uid: int = 100) -> Who:
    return Who(uid, unit.id, unit.path, role)


CITY_SUP = who(CITY, Role.SUPERVISOR)
CITY_VIEWER = who(CITY, Role.VIEWER)
ADMIN = who(CITY, Role.ADMIN)
COUNTY_OFFICIAL = who(COUNTY, Role.OFFICIAL)
COUNTY_SUP = who(COUNTY, Role.SUPERVISOR)
COUNTY_VIEWER = who(COUNTY, Role.VIEWER)
SIBLING_OFFICIAL = who(SIBLING, Role.OFFICIAL)
OTHER_SUP = who(OTHER_CITY, Role.SUPERVISOR)

# actor -> (sees the county's record, issuing side of the city plan, supervises it, imports into it)
SEEING = {
    CITY_SUP: (True, True, True, True),
    CITY_VIEWER: (True, True, False, False),
    ADMIN: (True, True, False, False),
    COUNTY_OFFICIAL: (True, False, False, True),  # its own findings
    COUNTY_SUP: (True, False, False, True),
    COUNTY_VIEWER: (True, False, False, False),
    SIBLING_OFFICIAL: (False, False, False, True),
    OTHER_SUP: (False, False, False, False),
}


@pytest.mark.parametrize("actor", SEEING, ids=lambda w: f"{w.role}@{w.unit_path}")
def test_who_sees_the_countys_records_the_whole_plan_and_who_supervises_and_imports(actor):
    sees_record, issuing, supervising, imports = SEEING[actor]
    assert p.sees_unit(actor, COUNTY) is sees_record
    assert p.issuing_side(actor, PLAN) is issuing
    assert p.sees_spot_checks(actor, PLAN) is issuing
    assert p.supervises(actor, PLAN) is supervising
    assert p.may_import(actor, PLAN) is imports


def test_a_plan_is_seen_by_its_issuing_side_and_by_units_owing_something_in_it():
    assert p.sees_plan(CITY_VIEWER, PLAN, owes_in_it=False)
    assert p.sees_plan(SIBLING_OFFICIAL, PLAN, owes_in_it=True)
    assert not p.sees_plan(SIBLING_OFFICIAL, PLAN, owes_in_it=False)
    assert not p.sees_plan(OTHER_SUP, PLAN, owes_in_it=False)


def test_a_problem_is_seen_by_the_issuing_side_or_with_a_task_one_sees():
    assert p.sees_problem(CITY_VIEWER, PLAN, visible_tasks=0)
    assert p.sees_problem(COUNTY_OFFICIAL, PLAN, visible_tasks=1)
    assert not p.sees_problem(SIBLING_OFFICIAL, PLAN, visible_tasks=0)


def test_only_the_admin_sees_everything_and_administers():
    assert p.seen_subtree(ADMIN) is None and p.may_administer(ADMIN)
    assert p.seen_subtree(CITY_SUP) == "/1/" and not p.may_administer(CITY_SUP)
    assert p.sees_unit(ADMIN, OTHER_CITY)


@pytest.mark.parametrize(
    "actor, responsible, supervising",
    [
        (COUNTY_OFFICIAL, True, False),
        (COUNTY_SUP, True, False),  # a unit never supervises its own record
        (COUNTY_VIEWER, False, False),  # viewers change nothing
        (CITY_SUP, False, True),
        (CITY_VIEWER, False, False),
        (ADMIN, False, False),  # the admin takes no side
        (SIBLING_OFFICIAL, False, False),
        (OTHER_SUP, False, False),
        (who(TOWN, Role.OFFICIAL), False, False),  # under the unit, but not the unit
    ],
)
def test_the_sides_of_one_record_of_the_county(actor, responsible, supervising):
    a = p.actor(actor, PLAN, COUNTY)
    assert p.on_side(a, Side.RESPONSIBLE) is responsible
    assert p.on_side(a, Side.SUPERVISING) is supervising
    assert p.acts_for(actor, COUNTY) is responsible


def test_the_issuing_supervisor_never_supervises_a_record_of_its_own_unit():
    assert p.supervises(COUNTY_SUP, COUNTY_PLAN)
    assert not p.on_side(p.actor(COUNTY_SUP, COUNTY_PLAN, COUNTY), Side.SUPERVISING)
    assert p.on_side(p.actor(COUNTY_SUP, COUNTY_PLAN, TOWN), Side.SUPERVISING)
    assert p.on_side(p.actor(CITY_SUP, COUNTY_PLAN, TOWN), Side.SUPERVISING), "a unit above the issuer too"


def test_plans_are_issued_by_supervisors_for_their_own_unit_or_below():
    assert p.may_issue_plan(CITY_SUP, COUNTY) and p.may_issue_plan(CITY_SUP, CITY)
    assert not p.may_issue_plan(COUNTY_SUP, CITY)
    assert not p.may_issue_plan(OTHER_SUP, COUNTY)
    assert not p.may_issue_plans(ADMIN) and not p.may_issue_plans(COUNTY_OFFICIAL)


@pytest.mark.parametrize(
    "actor, units, side",
    [
        (CITY_SUP, [COUNTY, SIBLING], Side.SUPERVISING),
        (CITY_SUP, [OTHER_CITY], None),  # outside the issuer, whoever asks
        (COUNTY_OFFICIAL, [COUNTY], Side.RESPONSIBLE),  # its own finding (自查)
        (COUNTY_OFFICIAL, [COUNTY, SIBLING], None),  # not for the county beside it
        (COUNTY_OFFICIAL, [SIBLING], None),
        (COUNTY_VIEWER, [COUNTY], None),
        (ADMIN, [COUNTY], None),
        (OTHER_SUP, [OTHER_CITY], None),
    ],
)
def test_who_adds_a_problem_for_which_units(actor, units, side):
    assert p.problem_side(actor, PLAN, units) is side


def test_obligations_are_declared_by_the_plans_supervisor_for_units_under_the_issuer_only():
    assert p.may_declare_obligation(CITY_SUP, PLAN, [COUNTY, TOWN])
    assert not p.may_declare_obligation(CITY_SUP, PLAN, [COUNTY, OTHER_CITY])
    assert not p.may_declare_obligation(COUNTY_OFFICIAL, PLAN, [COUNTY])
    assert not p.may_declare_obligation(ADMIN, PLAN, [COUNTY])


def test_ledgers_are_imported_by_whoever_may_add_problems():
    assert p.may_import(CITY_SUP, PLAN) and p.may_import(COUNTY_OFFICIAL, PLAN)
    assert not p.may_import(CITY_VIEWER, PLAN) and not p.may_import(ADMIN, PLAN)
    assert not p.may_import(OTHER_SUP, PLAN) and not p.may_import(COUNTY_OFFICIAL, PlanFacts(9, "/9/"))


# an answering plan: the county answers the city's plan for its township
ANSWERING = PlanFacts(COUNTY.id, COUNTY.path, supervised_above=False)
OPENED = PlanFacts(COUNTY.id, COUNTY.path, supervised_above=True)


def test_the_city_reads_a_county_answering_plan_but_supervises_it_only_if_the_county_opens_it():
    assert p.issuing_side(CITY_SUP, ANSWERING) and p.issuing_side(COUNTY_SUP, ANSWERING)
    assert p.supervises(COUNTY_SUP, ANSWERING) and not p.supervises(CITY_SUP, ANSWERING)
    assert p.supervises(CITY_SUP, OPENED) and p.supervises(CITY_SUP, COUNTY_PLAN)
    town_task = {plan: p.actor(CITY_SUP, plan, TOWN) for plan in (ANSWERING, OPENED)}
    assert not p.on_side(town_task[ANSWERING], Side.SUPERVISING) and p.on_side(town_task[OPENED], Side.SUPERVISING)
    assert p.on_side(p.actor(COUNTY_SUP, ANSWERING, TOWN), Side.SUPERVISING)


def test_a_supervisor_of_a_unit_with_received_tasks_answers_a_plan_and_nobody_else_does():
    assert p.may_answer_plan(COUNTY_SUP, PLAN, receives=True)
    assert not p.may_answer_plan(COUNTY_SUP, PLAN, receives=False)
    assert not p.may_answer_plan(COUNTY_OFFICIAL, PLAN, receives=True)
    assert not p.may_answer_plan(CITY_SUP, PLAN, receives=True)  # the issuer does not answer itself
