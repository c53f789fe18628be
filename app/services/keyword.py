"""Keyword search over the task list: which tasks a word names, through their problem's
title, description and measures, their rectification account, or their unit's name.

It sits apart from :mod:`app.services.tasks` because its form depends on what the word
matched (a few keys, read through the tasks' indexes, or a subquery), and the list chooses
how to read its page from that (see :class:`Keyword`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy.orm import Session

from app.db import on_sqlite
from app.domain.workflow import State
from app.models import Problem, Task, TaskEvent, Unit

# SQLite's keyword indexes (migration 0028): FTS5 tables with the trigram tokenizer, rowid =
# problems.id (title, description, measures) and task_events.id (the 'rectified' entries'
# accounts), kept by triggers, each text with every character tripled (see tripled).
# Contentless: a hit is checked again against its own row.
_FTS_PROBLEMS = table("keyword_problems", column("rowid"), column("keyword_problems"))
_FTS_ACCOUNTS = table("keyword_accounts", column("rowid"), column("keyword_accounts"))


def tripled(word: str) -> str:
    """``word`` with each character written three times, as one FTS5 phrase: how SQLite's
    keyword indexes hold their texts (migration 0028), so that a word of one or two
    characters (县, 护栏) has trigrams to look up as well."""
    return '"' + "".join(ch * 3 for ch in word).replace('"', '""') + '"'


TRIGRAM = 3  # pg_trgm has no trigram for a shorter word
SORT_ROWS = 20_000  # a long list of a keyword whose named keys hold up to this many tasks sorts them
# ... when they are this few problems and units: a word in more has its tasks spread over many
# deadlines, which the walk finds soon (and is not made to count up to SORT_ROWS first)
SORT_KEYS = 50


def tripled_text(text_: ColumnElement) -> ColumnElement:
    """PostgreSQL: ``text_`` with each character written three times, the expression of
    migration 0030's indexes (written out, not bound, so that the planner matches it)."""
    args = (literal_column("'(.)'"), literal_column("'\\1\\1\\1'"), literal_column("'g'"))
    return func.regexp_replace(text_, *args, type_=String)


@dataclass
class Keyword:
    """A keyword's three parts (the problems, the units, the accounts), each by its keys
    (problem ids, unit ids, task ids) when it matched no more than :data:`KEYWORD_IDS`
    of them, or by its subquery when it matched more.

    :meth:`clause` gives the filter in two forms. ``walk=False`` (the count, and the page
    of a list no longer than the count's cap): the keys are read through the tasks'
    indexes (uq_tasks_problem_id_unit_id, ix_tasks_unit_order, the primary key), so a
    rare title's thousand tasks cost what a thousand rows do at any size of the ledger.
    ``walk=True`` (the page of a longer list): the keys are checked on each row as the
    order's index is walked (``+ 0`` keeps both databases off the keys' indexes: read
    through them, a word every task matches would read and sort the whole ledger)."""

    parts: list[tuple[ColumnElement, Select | set[int]]]
    tasks: int = SORT_ROWS + 1  # the tasks of the named keys, counted up to one past SORT_ROWS

    @property
    def sortable(self) -> bool:
        """Whether a long list's page is read by the keys and sorted rather than walked:
        a word in a few titles matches tasks that share their deadlines and sit together
        somewhere down the order's index (the walk passed 52,637 rows at 1,000,000 tasks
        for eleven problems), while reading them by key costs what they number."""
        return self.tasks <= SORT_ROWS

    def clause(self, walk: bool = False) -> ColumnElement[bool]:
        tests = []
        for column_, keys in self.parts:
            if isinstance(keys, set):
                if keys:
                    tests.append((column_ + 0 if walk else column_).in_(sorted(keys)))
            else:
                tests.append(column_.in_(keys))
        return or_(*tests) if tests else false()


def keyword_clause(s: Session, word: str) -> Keyword:
    """Tasks whose problem (title, description, measures), rectification account or unit
    name contains ``word``. A case-insensitive substring match with % and _ escaped: it
    needs no word boundaries, so it works for Chinese on SQLite and PostgreSQL alike.

    The text is looked up in trigram indexes. PostgreSQL: pg_trgm's (models.keyword_index,
    migration 0014) for a word of three characters or more, and for a shorter one (pg_trgm
    has no trigram for it) migration 0030's over the texts with every character tripled,
    the word tripled alike (matched there, which is exact). SQLite: FTS5's (migration 0028),
    which hold every character tripled, so that a word of any length has trigrams; each hit
    is checked again with the same LIKE on the text itself. Every path gives what the scan
    gave.

    The look-up is one statement: each part's keys, up to one past :data:`KEYWORD_IDS`
    (:data:`KEYWORD_IDS_POSTGRESQL` there). A part with more (a word in every county's
    name, in more than a thousand problems or accounts) stays a subquery (see
    :class:`Keyword`)."""
    found = [Problem.title, Problem.description, Problem.measures]
    account = TaskEvent.comment
    contains = word
    if s.get_bind().dialect.name == "postgresql" and len(word) < TRIGRAM:
        # the tripled text holds the tripled word exactly where the text holds the word (out
        # of step only in a run of one character, which holds the word too)
        found, account = [tripled_text(c) for c in found], tripled_text(account)
        contains = "".join(ch * 3 for ch in word)
    problems = select(Problem.id).where(or_(*[c.icontains(contains, autoescape=True) for c in found]))
    units = select(Unit.id).where(Unit.name.icontains(word, autoescape=True))
    accounts = select(TaskEvent.task_id).where(
        TaskEvent.to_state == State.RECTIFIED.value, account.icontains(contains, autoescape=True)
    )
    if on_sqlite(s):
        phrase = tripled(word)
        hit_problems = select(_FTS_PROBLEMS.c.rowid).where(_FTS_PROBLEMS.c.keyword_problems.match(phrase))
        hit_accounts = select(_FTS_ACCOUNTS.c.rowid).where(_FTS_ACCOUNTS.c.keyword_accounts.match(phrase))
        problems = problems.where(Problem.id.in_(hit_problems))
        accounts = accounts.where(TaskEvent.id.in_(hit_accounts))
    parts = ((Task.problem_id, problems), (Task.unit_id, units), (Task.id, accounts))
    named = KEYWORD_IDS if on_sqlite(s) else min(KEYWORD_IDS, KEYWORD_IDS_POSTGRESQL)
    looked_up = union_all(
        *[select(literal(n), part.limit(named + 1).subquery().c[0]) for n, (_, part) in enumerate(parts)]
    )
    keys: list[set[int]] = [set() for _ in parts]
    rows = [0] * len(parts)
    for n, key in s.execute(looked_up):
        keys[n].add(key)
        rows[n] += 1
    tasks = SORT_ROWS + 1
    if all(counted <= named for counted in rows) and len(keys[0]) + len(keys[1]) <= SORT_KEYS:
        # how many tasks the problems and units named hold, up to one past SORT_ROWS (their
        # indexes alone; a second statement, so that the look-up's text is not matched again)
        held = [
            select(func.count()).select_from(
                select(column_).where(column_.in_(sorted(ids))).limit(SORT_ROWS + 1).subquery()
            )
            for (column_, _), ids in zip(parts[:2], keys[:2], strict=True)
            if ids
        ]
        tasks = len(keys[2]) + (sum(s.execute(select(*[h.scalar_subquery() for h in held])).one()) if held else 0)
    return Keyword(
        [
            (column_, part if counted > named else ids)
            for (column_, part), ids, counted in zip(parts, keys, rows, strict=True)
        ],
        tasks,
    )


KEYWORD_IDS = 1000  # a part of a keyword matching up to this many keys names them (a long IN list costs more)
# PostgreSQL plans each listed key (a thousand unit ids, as 县 names, cost about 10 ms to plan,
# in the count and again in the page): past this many it takes the part's subquery
KEYWORD_IDS_POSTGRESQL = 200
