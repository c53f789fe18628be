"""Who may see or do what: every permission question of Rectify, answered in one place.

Pure rules over plain facts, which :func:`app.services.scope.facts` loads:

- the actor (:class:`Who`): user id, unit id, the unit's path and the role;
- a plan (:class:`PlanFacts`): the issuing unit's id and path (the path lists the
  issuer's ancestors: ``/1/4/`` is unit 4 under unit 1);
- a record's unit (:class:`UnitFacts`): the unit a task or a submission belongs to.

"A lies under B" is ``A.path.startswith(B.path)``, a unit lying under itself.

Seeing (anything else answers 404, as if it did not exist)

- units: the actor's own unit and every unit under it;
- tasks (with their history, evidence and extension requests) and submissions: those
  of a unit the actor sees;
- a plan: its **issuing side** (the issuer's unit and every unit above it) sees all of
  it: every problem, the plan-wide figures, every submission, its spot checks. Any other
  unit sees a plan only while it (or a unit under it) has a task or owes a report in it,
  and then only those parts: the problems it has a task for, figures counted over its own
  tasks, never the spot checks;
- figures, lists and exports count only what the actor may see.

Doing

- **acting for a unit** (the responsible side): an official or a supervisor of exactly
  that unit acknowledges (签收) or declines (拒收, with a reason) its tasks, one by one or
  all of a plan's at once, starts and rectifies them, uploads their evidence (while the task is
  still in its hands), asks for extensions and hands in its reports; its messages go to
  these people;
- **supervising a plan** (the supervising side): a supervisor of the issuing unit or of a
  unit above it decides a declined task (insists on it, narrows it, reassigns it),
  reassigns (转办) or splits (分办) a task no unit has started, sends back, verifies,
  closes and reopens tasks, urges them, decides
  extensions, accepts and returns reports, draws spot checks and records their results,
  numbers an overdue task's 督办单 (the first time one of them opens it), sets the
  reminder policy, imports ledgers for any units under the issuer and declares
  reporting obligations for them; its messages go to these people. A unit never
  supervises its own record, and nobody verifies or closes what they rectified
  themselves (the states, and these guards, are the tables in workflow.py, receipt.py,
  extensions.py, submissions.py and rechecks.py);
- **issuing a plan**: a supervisor, for their own unit or a unit under it;
- **answering a plan** (各县…制定整改方案): a supervisor of a unit that received tasks in it
  issues an answering plan for that unit; its problems may each answer one of the unit's
  received tasks (举一反三). Those above the answering unit see the answering plan whole
  (they are on its issuing side) but only read it: they supervise it only if the answering
  plan opens its supervision to them (``supervised_above``; a plain plan always does);
- **adding a problem**, one at a time or by importing a ledger file (its preview
  included): whoever supervises the plan, for units under the issuer; or a unit under
  the issuer reporting problems it found itself (自查), for itself only;
- **drafting** a document from the ledger (整改情况报告, a report from the ledger) is
  reading: whoever sees the plan drafts over what they see; the 通报 draft is the
  supervising side's; an official or a supervisor keeps their unit's templates;
- a **viewer** sees what their unit sees and does nothing.

The administrator (``admin``) sees every unit, plan and record, so that they can help
anyone, and alone administers the organisation: units, users, the holiday table, group
robots and messages that failed for good. An administrator never takes a side in the
work itself (issuing, assigning, importing, moving tasks, deciding, reviewing, spot
checks, reminder policy): every step in the history must name a person of the
responsible or the supervising unit, never a system account signing for them (代签).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    OFFICIAL = "official"
    VIEWER = "viewer"


WORKERS = (Role.OFFICIAL, Role.SUPERVISOR)  # those who may act for their own unit


class Side(StrEnum):
    RESPONSIBLE = "responsible"  # the unit that does the work
    SUPERVISING = "supervising"  # the issuing unit and those above it


@dataclass(frozen=True)
class Who:
    """The acting user."""

    user_id: int
    unit_id: int
    unit_path: str
    role: Role


@dataclass(frozen=True)
class UnitFacts:
    id: int
    path: str


@dataclass(frozen=True)
class PlanFacts:
    issuer_id: int
    issuer_path: str
    supervised_above: bool = True  # False: an answering plan that units above only read


@dataclass(frozen=True)
class Actor:
    """The user relative to one record (a task, an extension request, a submission)."""

    user_id: int
    role: str
    responsible: bool  # the user belongs to the record's own unit
    supervising: bool  # the user's unit issued the plan, or is above the issuer


def under(path: str, ancestor_path: str) -> bool:
    """True if the unit at ``path`` is the one at ``ancestor_path`` or lies under it."""
    return path.startswith(ancestor_path)


# ---- seeing ------------------------------------------------------------------------------
def sees_everything(who: Who) -> bool:
    return who.role == Role.ADMIN


def seen_subtree(who: Who) -> str | None:
    """The path whose subtree holds every unit, task and submission the actor sees, or
    None for everything. The SQL form of the seeing rules is built from this alone."""
    return None if sees_everything(who) else who.unit_path


def sees_unit(who: Who, unit: UnitFacts) -> bool:
    return sees_everything(who) or under(unit.path, who.unit_path)


def issuing_side(who: Who, plan: PlanFacts) -> bool:
    """The actor's unit issued the plan or lies above the issuer: they see all of it."""
    return sees_everything(who) or under(plan.issuer_path, who.unit_path)


def sees_plan(who: Who, plan: PlanFacts, owes_in_it: bool) -> bool:
    """``owes_in_it``: a unit the actor sees has a task or a report owed in the plan."""
    return issuing_side(who, plan) or owes_in_it


def sees_problem(who: Who, plan: PlanFacts, visible_tasks: int) -> bool:
    return issuing_side(who, plan) or visible_tasks > 0


def sees_spot_checks(who: Who, plan: PlanFacts) -> bool:
    return issuing_side(who, plan)


# ---- doing -------------------------------------------------------------------------------
def supervising_unit(unit_id: int, unit_path: str, plan: PlanFacts) -> bool:
    """The one who-supervises rule: the plan's issuing unit or a unit above it, except that
    above an answering plan that keeps its supervision to itself, units only read."""
    return under(plan.issuer_path, unit_path) and (plan.supervised_above or unit_id == plan.issuer_id)


def actor(who: Who, plan: PlanFacts, unit: UnitFacts) -> Actor:
    """The actor's relation to one record of ``plan`` belonging to ``unit``."""
    return Actor(
        user_id=who.user_id,
        role=who.role,
        responsible=who.unit_id == unit.id,
        supervising=supervising_unit(who.unit_id, who.unit_path, plan),
    )


def on_side(actor: Actor, side: Side) -> bool:
    if side is Side.RESPONSIBLE:
        return actor.responsible and actor.role in WORKERS
    return actor.supervising and not actor.responsible and actor.role == Role.SUPERVISOR


def acts_for(who: Who, unit: UnitFacts) -> bool:
    """The actor works for ``unit`` itself (the responsible side of its records)."""
    return who.unit_id == unit.id and who.role in WORKERS


def supervises(who: Who, plan: PlanFacts) -> bool:
    """A supervisor of the issuing unit or a unit above it (for one record, see
    :func:`actor`: a unit never supervises its own)."""
    return who.role == Role.SUPERVISOR and supervising_unit(who.unit_id, who.unit_path, plan)


def may_number_notice(actor: Actor) -> bool:
    """督办单: the supervising side gives a task's notice its 督办编号 (the first time one
    of them opens it to print); anyone who sees the task reads the notice."""
    return on_side(actor, Side.SUPERVISING)


def acting_unit(who: Who) -> int | None:
    """The one unit whose records the actor works (:func:`acts_for`), or None for a role
    that acts for none. The SQL form of "my unit's work" is built from this alone."""
    return who.unit_id if who.role in WORKERS else None


def supervised_subtree(who: Who) -> str | None:
    """The path under which every plan the actor supervises was issued (:func:`supervises`),
    or None for a role that supervises nothing. With :func:`on_side`, a record of the
    actor's own unit is never among those supervised, and with :func:`supervising_unit`
    an answering plan closed to those above is supervised only by its issuer's people."""
    return who.unit_path if who.role == Role.SUPERVISOR else None


def may_issue_plans(who: Who) -> bool:
    return who.role == Role.SUPERVISOR


def may_issue_plan(who: Who, issuer: UnitFacts) -> bool:
    return may_issue_plans(who) and under(issuer.path, who.unit_path)


def may_answer_plan(who: Who, plan: PlanFacts, receives: bool) -> bool:
    """Answering a plan with one's own: a supervisor of a unit with tasks received in it
    (``receives``), other than its issuer."""
    return may_issue_plans(who) and receives and who.unit_id != plan.issuer_id


def may_assign(plan: PlanFacts, units: Iterable[UnitFacts]) -> bool:
    """Records of a plan go only to units under its issuer."""
    return all(under(u.path, plan.issuer_path) for u in units)


def reports_own_findings(who: Who, plan: PlanFacts) -> bool:
    """A unit under the issuer may add the problems it found itself (自查), for itself."""
    return who.role in WORKERS and under(who.unit_path, plan.issuer_path)


def problem_side(who: Who, plan: PlanFacts, units: list[UnitFacts]) -> Side | None:
    """On which side the actor adds a problem for ``units``: SUPERVISING (assigned by the
    plan's supervisor), RESPONSIBLE (a unit's own finding, for itself only), or None
    (refused). Units outside the issuer are refused either way."""
    if not may_assign(plan, units):
        return None
    if supervises(who, plan):
        return Side.SUPERVISING
    if [u.id for u in units] == [who.unit_id] and reports_own_findings(who, plan):
        return Side.RESPONSIBLE
    return None


def may_add_problems(who: Who, plan: PlanFacts) -> bool:
    """Adding problems to a plan at all (its form, a ledger import and its preview):
    whoever supervises it or may report their own findings in it; each problem is then
    held to :func:`problem_side` (a unit's own problems name itself only)."""
    return supervises(who, plan) or reports_own_findings(who, plan)


def may_import(who: Who, plan: PlanFacts) -> bool:
    """Importing (and so previewing) a ledger file into a plan: whoever may add problems."""
    return may_add_problems(who, plan)


def may_declare_obligation(who: Who, plan: PlanFacts, units: Iterable[UnitFacts]) -> bool:
    return supervises(who, plan) and may_assign(plan, units)


def may_edit_plan(who: Who, plan: PlanFacts) -> bool:
    """Editing a plan's wording, evidence waiver and phases: its supervisors."""
    return supervises(who, plan)


def may_edit_problem(who: Who, plan: PlanFacts) -> bool:
    """Editing a problem (its words, deadline and responsible units, which adds, withdraws
    and re-dates tasks): the plan's supervisors, like withdrawing it."""
    return supervises(who, plan)


def may_withdraw_problem(who: Who, plan: PlanFacts) -> bool:
    """Withdrawing a problem (each task leaves the ledger with the reason in its history)."""
    return supervises(who, plan)


def may_set_policy(who: Who, plan: PlanFacts) -> bool:
    return supervises(who, plan)


def may_spot_check(who: Who, plan: PlanFacts) -> bool:
    return supervises(who, plan)


def may_keep_templates(who: Who) -> bool:
    """An official or a supervisor keeps their own unit's templates of drafted documents
    (整改情况报告, reports from the ledger, 通报); anyone who sees a plan may draft from it."""
    return who.role in WORKERS


def may_administer(who: Who) -> bool:
    """Units, users, the holiday table, group robots, failed messages."""
    return who.role == Role.ADMIN
