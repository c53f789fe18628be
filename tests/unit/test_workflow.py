"""The task state machine of app/domain/workflow.py, checked against a table written here.

The expected outcome of every (source, target, actor, guard) combination is derived from
the rules in DOMAIN.md ("The states of a task"), spelled out below as plain data, never
by asking the code under test.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.permissions import Actor
from app.domain.workflow import State, TaskFacts, TransitionError, allowed_moves, check_move, rollup_state

IDENTIFIED, IN_PROGRESS, RECTIFIED, VERIFIED, CLOSED, WITHDRAWN = (
    "identified",
    "in_progress",
    "rectified",
    "verified",
    "closed",
    "withdrawn",
)
ALL_STATES = (IDENTIFIED, IN_PROGRESS, RECTIFIED, VERIFIED, CLOSED, WITHDRAWN)

# ---- the rules, as an explicit table ---------------------------------------------------
# (source, target) -> (side, needs a comment, needs evidence, refused to the rectifier)
RULES: dict[tuple[str, str], tuple[str, bool, bool, bool]] = {
    (IDENTIFIED, IN_PROGRESS): ("responsible", False, False, False),  # start
    (IN_PROGRESS, RECTIFIED): ("responsible", True, True, False),  # rectify: account + evidence
    (RECTIFIED, IN_PROGRESS): ("supervising", True, False, True),  # reject, with a reason
    (RECTIFIED, VERIFIED): ("supervising", False, False, True),  # verify
    (VERIFIED, CLOSED): ("supervising", False, False, True),  # close (销号)
    (CLOSED, IN_PROGRESS): ("supervising", True, False, False),  # reopen (问题反弹), with a reason
    (VERIFIED, IN_PROGRESS): ("supervising", True, False, False),  # a failed spot check reopens it
    # the problem withdrawn (撤销), with a reason, from any state but closed; nothing leaves withdrawn
    (IDENTIFIED, WITHDRAWN): ("supervising", True, False, False),
    (IN_PROGRESS, WITHDRAWN): ("supervising", True, False, False),
    (RECTIFIED, WITHDRAWN): ("supervising", True, False, False),
    (VERIFIED, WITHDRAWN): ("supervising", True, False, False),
}

RECTIFIER_ID = 77  # the user who marked the task rectified, wherever the task has been rectified


@dataclass(frozen=True)
class ActorKind:
    """One kind of person relative to a task, with the sides it stands on by the rules."""

    name: str
    actor: Actor
    responsible_side: bool  # may make the responsible unit's moves
    supervising_side: bool  # may make the supervising side's moves


ACTOR_KINDS = [
    ActorKind("responsible official", Actor(1, "official", responsible=True, supervising=False), True, False),
    ActorKind("responsible supervisor", Actor(2, "supervisor", responsible=True, supervising=False), True, False),
    ActorKind("supervising supervisor", Actor(3, "supervisor", responsible=False, supervising=True), False, True),
    ActorKind(
        "supervising supervisor who is the rectifier",
        Actor(RECTIFIER_ID, "supervisor", responsible=False, supervising=True),
        False,
        True,
    ),
    ActorKind("supervising official", Actor(4, "official", responsible=False, supervising=True), False, False),
    ActorKind("viewer", Actor(5, "viewer", responsible=False, supervising=True), False, False),
    ActorKind("viewer of the responsible unit", Actor(6, "viewer", responsible=True, supervising=False), False, False),
    ActorKind("admin", Actor(7, "admin", responsible=False, supervising=True), False, False),
    ActorKind("unrelated user", Actor(8, "supervisor", responsible=False, supervising=False), False, False),
    # The issuing unit assigned a task to itself: its supervisor works it but may not check it.
    ActorKind(
        "issuing-unit supervisor whose own unit owns the task",
        Actor(9, "supervisor", responsible=True, supervising=True),
        True,
        False,
    ),
]


def rectified_by(state: str) -> int | None:
    """A task that never reached `rectified` has no rectifier; any other may have one."""
    return None if state == IDENTIFIED else RECTIFIER_ID


def expected_outcome(
    source: str, target: str, kind: ActorKind, comment: str, evidence: int, evidence_required: bool
) -> str:
    """'allowed', or the TransitionError kind. Precedence: a move that does not exist is a
    conflict; then who you are (forbidden); only then what you brought (invalid)."""
    rule = RULES.get((source, target))
    if rule is None:
        return "conflict"
    side, needs_comment, needs_evidence, not_by_rectifier = rule
    on_side = kind.responsible_side if side == "responsible" else kind.supervising_side
    if not on_side:
        return "forbidden"
    if not_by_rectifier and kind.actor.user_id == rectified_by(source):
        return "forbidden"
    if needs_comment and not comment.strip():
        return "invalid"
    if needs_evidence and evidence_required and evidence == 0:
        return "invalid"
    return "allowed"


def facts_for(source: str, evidence: int, evidence_required: bool) -> TaskFacts:
    return TaskFacts(State(source), rectified_by(source), evidence, evidence_required)


def _id(value) -> str:
    if isinstance(value, ActorKind):
        return value.name.replace(" ", "_")
    return str(value)


CASES = [
    pytest.param(
        src,
        dst,
        kind,
        comment,
        evidence,
        required,
        id=f"{src}->{dst}-{_id(kind)}-c{bool(comment):d}-e{evidence}-r{required:d}",
    )
    for src, dst, kind, comment, evidence, required in itertools.product(
        ALL_STATES, ALL_STATES, ACTOR_KINDS, ("", "已拆除旧房并拍照"), (0, 1), (True, False)
    )
]


# ---- the table test --------------------------------------------------------------------
@pytest.mark.parametrize(("source", "target", "kind", "comment", "evidence", "evidence_required"), CASES)
def test_every_move_by_every_kind_of_actor_has_the_outcome_the_rules_give(
    source, target, kind, comment, evidence, evidence_required
):
    expected = expected_outcome(source, target, kind, comment, evidence, evidence_required)
    facts = facts_for(source, evidence, evidence_required)
    if expected == "allowed":
        move = check_move(facts, kind.actor, State(target), comment)
        assert (move.source, move.target) == (State(source), State(target))
    else:
        with pytest.raises(TransitionError) as err:
            check_move(facts, kind.actor, State(target), comment)
        assert err.value.kind == expected
        assert err.value.message  # a person reads this: it must say something


def test_the_table_covers_all_six_by_six_pairs_and_every_outcome():
    outcomes = {expected_outcome(*c.values) for c in CASES}
    assert outcomes == {"allowed", "conflict", "forbidden", "invalid"}
    assert {(c.values[0], c.values[1]) for c in CASES} == set(itertools.product(ALL_STATES, ALL_STATES))


@pytest.mark.parametrize("comment", [" ", "\t\n", "　"], ids=["space", "tab-newline", "ideographic-space"])
@pytest.mark.parametrize(("source", "target"), [k for k, v in RULES.items() if v[1]])
def test_a_comment_of_only_whitespace_counts_as_no_comment(source, target, comment):
    kind = next(
        k
        for k in ACTOR_KINDS
        if k.name == ("responsible official" if target == RECTIFIED else "supervising supervisor")
    )
    with pytest.raises(TransitionError) as err:
        check_move(facts_for(source, 1, True), kind.actor, State(target), comment)
    assert err.value.kind == "invalid"


def test_a_rectifier_who_later_joined_the_supervising_side_may_still_reopen_a_closed_task():
    """Reopening is a spot-check finding, not a check of one's own work: DOMAIN.md bars the
    rectifier only from reject, verify and close."""
    rectifier = next(k for k in ACTOR_KINDS if k.actor.user_id == RECTIFIER_ID).actor
    move = check_move(facts_for(CLOSED, 0, True), rectifier, State.IN_PROGRESS, "抽查发现问题反弹")
    assert move.target is State.IN_PROGRESS
    with pytest.raises(TransitionError) as err:
        check_move(facts_for(VERIFIED, 0, True), rectifier, State.CLOSED, "")
    assert err.value.kind == "forbidden"


# ---- allowed_moves agrees with check_move ----------------------------------------------
@pytest.mark.parametrize("kind", ACTOR_KINDS, ids=_id)
@pytest.mark.parametrize("source", ALL_STATES)
def test_allowed_moves_lists_exactly_the_targets_check_move_does_not_refuse_for_who_you_are(source, kind):
    for evidence, required in itertools.product((0, 1), (True, False)):
        facts = facts_for(source, evidence, required)
        offered = {m.target.value for m in allowed_moves(facts, kind.actor)}
        # from the rules: the targets this actor could reach given the right comment and evidence
        by_rules = {dst for dst in ALL_STATES if expected_outcome(source, dst, kind, "理由", 1, required) == "allowed"}
        assert offered == by_rules, (source, kind.name, evidence, required)
        for dst, comment in itertools.product(ALL_STATES, ("", "理由")):
            try:
                check_move(facts, kind.actor, State(dst), comment)
                refused_as = None
            except TransitionError as err:
                refused_as = err.kind
            assert (dst in offered) == (refused_as in (None, "invalid")), (source, dst, kind.name, comment)


def test_allowed_moves_returns_moves_that_start_from_the_current_state():
    supervisor = ACTOR_KINDS[2].actor
    moves = allowed_moves(facts_for(RECTIFIED, 0, True), supervisor)
    assert sorted(m.target.value for m in moves) == [IN_PROGRESS, VERIFIED, WITHDRAWN]
    assert all(m.source is State.RECTIFIED for m in moves)


# ---- rollup_state ----------------------------------------------------------------------
RANK = {IDENTIFIED: 0, IN_PROGRESS: 1, RECTIFIED: 2, VERIFIED: 3, CLOSED: 4, WITHDRAWN: 5}


def test_a_problem_without_tasks_has_no_rolled_up_state():
    assert rollup_state([]) is None


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([CLOSED], CLOSED),
        ([CLOSED, CLOSED, CLOSED], CLOSED),
        ([CLOSED, VERIFIED, CLOSED], VERIFIED),
        ([CLOSED, IDENTIFIED], IDENTIFIED),
        ([RECTIFIED, IN_PROGRESS, VERIFIED], IN_PROGRESS),
        ([VERIFIED, RECTIFIED], RECTIFIED),
        ([IN_PROGRESS, IDENTIFIED, CLOSED], IDENTIFIED),
        ([WITHDRAWN, IN_PROGRESS], IN_PROGRESS),  # a withdrawn task does not hold a problem back
        ([WITHDRAWN, CLOSED], CLOSED),
        ([WITHDRAWN, WITHDRAWN], WITHDRAWN),
    ],
)
def test_a_problem_stands_where_its_least_advanced_task_stands(states, expected):
    assert rollup_state([State(s) for s in states]) == State(expected)


@given(st.lists(st.sampled_from(ALL_STATES), min_size=1, max_size=30))
def test_a_problem_is_closed_only_when_every_one_of_its_tasks_still_on_the_books_is_closed(states):
    rolled = rollup_state([State(s) for s in states])
    on_the_books = [s for s in states if s != WITHDRAWN]
    assert (rolled == State.CLOSED) == (bool(on_the_books) and all(s == CLOSED for s in on_the_books))
    assert (rolled == State.WITHDRAWN) == (not on_the_books)
    assert rolled.value in states
    assert all(RANK[rolled.value] <= RANK[s] for s in states)
