"""The state tables of extension requests, submissions and spot-check items, checked
against the rules written out here (README "Who may do what", DOMAIN.md)."""

from __future__ import annotations

import pytest

from app.domain import extensions, rechecks, submissions
from app.domain.extensions import ExtensionState as E
from app.domain.permissions import Actor
from app.domain.rechecks import RecheckState as R
from app.domain.submissions import SubmissionState as S
from app.domain.workflow import State, TransitionError

UNIT = Actor(1, "official", responsible=True, supervising=False)
SUPERVISOR = Actor(2, "supervisor", responsible=False, supervising=True)
VIEWER = Actor(3, "viewer", responsible=False, supervising=True)
ADMIN = Actor(4, "admin", responsible=False, supervising=True)
OUTSIDER = Actor(5, "supervisor", responsible=False, supervising=False)
ACTORS = {"unit": UNIT, "supervisor": SUPERVISOR, "viewer": VIEWER, "admin": ADMIN, "outsider": OUTSIDER}

# (table, move, from state) -> (who may make it, reaches, needs a reason)
RULES = {
    (extensions.TABLE, "request", None): ("unit", E.PENDING, True),
    (extensions.TABLE, "approve", E.PENDING): ("supervisor", E.APPROVED, False),
    (extensions.TABLE, "deny", E.PENDING): ("supervisor", E.DENIED, True),
    (submissions.TABLE, "submit", S.PENDING): ("unit", S.SUBMITTED, False),
    (submissions.TABLE, "submit", S.RETURNED): ("unit", S.SUBMITTED, False),
    (submissions.TABLE, "accept", S.SUBMITTED): ("supervisor", S.ACCEPTED, False),
    (submissions.TABLE, "return", S.SUBMITTED): ("supervisor", S.RETURNED, True),
    (rechecks.TABLE, "pass", R.PENDING): ("supervisor", R.PASSED, False),
    (rechecks.TABLE, "fail", R.PENDING): ("supervisor", R.FAILED, True),
}
CASES = [
    (table, name, state, actor)
    for table, states in (
        (extensions.TABLE, [None, *E]),
        (submissions.TABLE, list(S)),
        (rechecks.TABLE, list(R)),
    )
    for name in sorted({m.name for m in table.moves})
    for state in states
    for actor in ACTORS
]


def _kind(fn) -> str | None:
    try:
        fn()
    except TransitionError as err:
        return err.kind
    return None


@pytest.mark.parametrize("table, name, state, actor", CASES, ids=lambda v: getattr(v, "record", str(v)))
def test_each_move_from_each_state_by_each_party(table, name, state, actor):
    rule = next((r for (t, n, st), r in RULES.items() if t is table and n == name and st == state), None)
    named_side = next(r[0] for (t, n, _), r in RULES.items() if t is table and n == name)
    if actor != named_side:
        expected = "forbidden"  # the wrong party is told so whatever the state
    elif rule is None:
        expected = "conflict"  # someone was first, or it was never there
    else:
        expected = None
    assert _kind(lambda: table.check(name, state, ACTORS[actor], "理由")) == expected
    assert table.may(name, state, ACTORS[actor]) is (expected is None)
    if expected is None:
        assert table.check(name, state, ACTORS[actor], "理由").target == rule[1]
        assert _kind(lambda: table.check(name, state, ACTORS[actor], " ")) == ("invalid" if rule[2] else None)


@pytest.mark.parametrize("task_state", list(State))
@pytest.mark.parametrize("name, state, actor", [("request", None, UNIT), ("approve", E.PENDING, SUPERVISOR)])
def test_an_extension_is_asked_and_decided_only_while_its_task_is_open(task_state, name, state, actor):
    is_open = task_state in (State.IDENTIFIED, State.IN_PROGRESS)
    assert _kind(lambda: extensions.check(name, state, task_state, actor, "理由")) == (None if is_open else "conflict")
    assert extensions.may(name, state, task_state, actor) is is_open


def test_a_second_request_while_one_is_pending_is_a_conflict():
    assert _kind(lambda: extensions.check("request", E.PENDING, State.IN_PROGRESS, UNIT, "再申请")) == "conflict"


def test_a_report_needs_a_note_or_a_file():
    assert _kind(lambda: submissions.check("submit", S.PENDING, UNIT, has_content=False)) == "invalid"
    assert submissions.check("submit", S.PENDING, UNIT, has_content=True).target == S.SUBMITTED
    assert submissions.OWED == (S.PENDING, S.RETURNED)
