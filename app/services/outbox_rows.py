"""Writing outbox rows: who hears of a step, on which channels, under which unique key.

The key is (item, schedule epoch, step, channel, recipient). The epoch is the item's
``active_since``, so an extension starts a fresh ladder whose "remind:7d" is a new
message, while a repeated sweep of the same ladder collides with its own rows and adds
nothing (INSERT … ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

from sqlalchemy import JSON, UniqueConstraint, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import copy_rows
from app.domain import permissions
from app.domain.reminders import Step
from app.models import Notification, Unit, User
from app.services import scope

REMINDER_LIKE = ("remind", "daily", "nag")


def insert_ignoring_duplicates(s: Session, rows: Sequence[dict]) -> int:
    """Insert outbox rows; a row whose key exists already is skipped. Returns rows added.

    On PostgreSQL one JSON statement, or COPY for a large batch (:func:`_insert_pg`).
    Elsewhere a Core executemany. RETURNING counts what was really added (drivers give no rowcount).
    """
    if not rows:
        return 0
    if s.get_bind().dialect.name == "postgresql":
        return _insert_pg(s, rows)
    full = [ROW_DEFAULTS | r for r in rows]
    stmt = sqlite_insert(Notification.__table__).on_conflict_do_nothing(index_elements=["key"])
    stmt = stmt.returning(Notification.__table__.c.id)
    conn = s.connection()
    return sum(len(conn.execute(stmt, full[i : i + 1000]).all()) for i in range(0, len(full), 1000))


_COLUMNS = [c.name for c in Notification.__table__.columns if c.name != "id"]
_JSON_COLUMNS = {c.name for c in Notification.__table__.columns if isinstance(c.type, JSON)}
_PG_INSERT = text(
    f"INSERT INTO notifications ({', '.join(_COLUMNS)}) "
    f"SELECT {', '.join(_COLUMNS)} FROM json_populate_recordset(NULL::notifications, CAST(:rows AS json)) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
COPY_FROM = 1000  # rows: below, one statement (one round trip); from here, COPY (three, but far less work)
_INCOMING = (  # the columns' types only: no key, no default (no id drawn from the sequence)
    f"CREATE TEMP TABLE IF NOT EXISTS outbox_incoming AS SELECT {', '.join(_COLUMNS)} FROM notifications WITH NO DATA"
)
_FROM_INCOMING = text(
    f"INSERT INTO notifications ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} FROM outbox_incoming "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)


def _instant(value: datetime) -> str:
    """json's hook for the one type it does not know here (called only for datetimes)."""
    return value.isoformat()


def _insert_pg(s: Session, rows: list[dict]) -> int:
    """A small batch travels as one JSON parameter expanded by json_populate_recordset:
    one short statement instead of thousands of bound values. A large one (a sweep's)
    goes by COPY (:func:`app.db.copy_rows`), PostgreSQL's fast way in, where parsing one
    large JSON document was most of the sweep's time: straight into the outbox inside a
    savepoint, since its rows are new but for a repeat; if any key is there already,
    back to the savepoint and the same rows by COPY into a temporary table of the
    session, then one INSERT … SELECT … ON CONFLICT DO NOTHING (the unique key still
    decides), and the table is emptied."""
    if len(rows) < COPY_FROM:
        payload = json.dumps([ROW_DEFAULTS | r for r in rows], default=_instant, ensure_ascii=False)
        return len(s.execute(_PG_INSERT, {"rows": payload}).all())
    from psycopg.errors import UniqueViolation

    values = _copy_values(rows)
    with s.connection().connection.driver_connection.cursor() as cur:
        cur.execute("SAVEPOINT outbox_copy")
        try:
            copy_rows(s, "notifications", _COLUMNS, values)
        except UniqueViolation as err:
            if err.diag.constraint_name != _KEY:
                raise
            cur.execute("ROLLBACK TO SAVEPOINT outbox_copy")
        else:
            cur.execute("RELEASE SAVEPOINT outbox_copy")
            return len(values)
        cur.execute(_INCOMING)
    copy_rows(s, "outbox_incoming", _COLUMNS, values)
    added = len(s.execute(_FROM_INCOMING).all())
    s.execute(text("TRUNCATE outbox_incoming"))
    return added


_KEY = next(c.name for c in Notification.__table__.constraints if isinstance(c, UniqueConstraint))


def _copy_values(rows: Sequence[dict]) -> list[list]:
    """Each row's values in column order, with the defaults of the columns it leaves out
    and JSON as text. The rows of one message share one ``data`` dict (:func:`addressed`
    copies the message shallowly), so each is dumped once, not once per recipient."""
    dumped: dict[int, str | None] = {}
    out = []
    for r in rows:
        values = list(_ROW(_BLANK | r))
        for i in _JSON_AT:
            value = values[i]
            if id(value) not in dumped:
                dumped[id(value)] = _json(value)
            values[i] = dumped[id(value)]
        out.append(values)
    return out


def _json(value) -> str | None:
    return None if value is None else json.dumps(value, default=_instant, ensure_ascii=False)


# Every row carries every optional column, so executemany sees one shape of row.
ROW_DEFAULTS = {
    "sent_at": None,
    "read_at": None,
    "lease_until": None,
    "claimed_by": None,
    "claim_token": None,
    "in_flight_at": None,
    "unconfirmed": 0,
    "possibly_sent_twice": False,
}
_BLANK = dict.fromkeys(_COLUMNS) | ROW_DEFAULTS  # every column, so a row's values are one lookup
_ROW = itemgetter(*_COLUMNS)
_JSON_AT = [i for i, c in enumerate(_COLUMNS) if c in _JSON_COLUMNS]


@dataclass
class People:
    """The users of a set of units, by unit and position, loaded once per sweep batch."""

    by_unit: dict[int, list[User]]
    units: dict[int, Unit]
    _audiences: dict[tuple, list[User]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, s: Session, unit_ids: Iterable[int]) -> People:
        ids = set(unit_ids)
        by_unit: dict[int, list[User]] = defaultdict(list)
        for user in s.scalars(select(User).where(User.unit_id.in_(ids), User.active).order_by(User.id)):
            by_unit[user.unit_id].append(user)
        units = {u.id: u for u in s.scalars(select(Unit).where(Unit.id.in_(ids)))}
        return cls(by_unit, units)

    def audience(self, who: str, unit_id: int, issuer_id: int, owner_id: int | None) -> list[User]:
        """The item's supervising side, or people of its unit by position ("handler" is
        the task's owner when it has one): only those who may act for the unit. Asked
        once per (position, unit, issuer, owner) in a batch."""
        key = (who, unit_id, issuer_id, owner_id)
        if key not in self._audiences:
            self._audiences[key] = self._audience(who, unit_id, issuer_id, owner_id)
        return self._audiences[key]

    def _audience(self, who: str, unit_id: int, issuer_id: int, owner_id: int | None) -> list[User]:
        if who == "supervisor":
            plan = scope.issued_by(self.units[issuer_id])
            return [u for u in self.by_unit[issuer_id] if permissions.supervises(scope.who(u), plan)]
        unit = scope.unit_facts(self.units[unit_id])
        workers = [u for u in self.by_unit[unit_id] if permissions.acts_for(scope.who(u), unit)]
        owner = [u for u in workers if u.id == owner_id]
        if who == "handler" and owner:
            return owner
        return [u for u in workers if u.position == who]


@dataclass(frozen=True)
class Target:
    """The item a step belongs to, as the outbox rows need it."""

    item_type: str  # task | submission
    item_id: int
    epoch: int
    plan_id: int
    unit_id: int
    issuer_id: int
    owner_id: int | None
    data: dict  # its ``title`` is the rows' stored subject: each reader renders the wording
    supervising: bool = False  # the step is the supervising side's work (a look-back): only they hear it


def message(
    item: tuple[str, int, int | None],
    step: str,
    kind: str,
    level: int,
    text: tuple[str, str],
    data: dict,
    now: datetime,
    at: datetime,
) -> dict:
    """What every outbox row of one message shares: the item (type, id, plan), the step,
    the words (subject, body) and when it may go (``at``). The one constructor of outbox
    rows; :func:`addressed` adds who hears it, on which channel, under which key."""
    item_type, item_id, plan_id = item
    subject, body = text
    return {
        "item_type": item_type,
        "item_id": item_id,
        "plan_id": plan_id,
        "step": step,
        "kind": kind,
        "level": level,
        "subject": subject,
        "body": body,
        "data": data,
        "created_at": now,
        "next_attempt_at": at,
        "attempts": 0,
        "last_error": "",
    }


def addressed(
    common: dict, key: str, channel: str, status: str, recipient_id: int | None, unit_id: int | None, **more
) -> dict:
    """One outbox row: a :func:`message` to one recipient (or a unit's robot) on one channel."""
    row = common | {"key": key, "recipient_id": recipient_id, "unit_id": unit_id, "channel": channel}
    return row | {"status": status} | more


def rows_for_step(target: Target, step: Step, people: People, channels: frozenset[str], now: datetime) -> list[dict]:
    """The messages of one step of one item, to the step's audience in the item's unit.
    Their data name the step's message (``message``: its rows' key without the channel
    and recipient), which its e-mail to several of the unit's people goes as (delivery)."""
    base = f"{target.item_type}:{target.item_id}:{target.epoch}:{step.key}"
    common = message(
        (target.item_type, target.item_id, target.plan_id),
        step.key,
        step.kind,
        step.level,
        listed([target.data["title"]]),
        target.data | {"step_at": step.at.isoformat(), "message": base},
        now,
        step.at,
    )
    users: list[User] = []
    for who in step.audience:
        users += [u for u in people.audience(who, target.unit_id, target.issuer_id, target.owner_id) if u not in users]
    if target.supervising:
        supervisors = people.audience("supervisor", target.unit_id, target.issuer_id, None)
        users = [u for u in users if u in supervisors]
    held = step.kind in REMINDER_LIKE
    return fan_out(base, common, users, people.units.get(target.unit_id), channels, now, held)


def fan_out(
    base: str,
    common: dict,
    users: Sequence[User],
    unit: Unit | None,
    channels: frozenset[str],
    now: datetime,
    digestible: bool,
) -> list[dict]:
    """One inbox row per person (shown at once), one e-mail per person (held for the
    digest when they asked for one and the message is ``digestible``), one group-robot
    message for ``unit`` if it has a robot, and one generic-webhook message."""
    rows: list[dict] = []
    for user in users:
        rows.append(addressed(common, f"{base}:inbox:{user.id}", "inbox", "sent", user.id, user.unit_id, sent_at=now))
        if "email" in channels and user.notify_email and user.email:
            status = "held" if user.digest and digestible else "pending"
            rows.append(addressed(common, f"{base}:email:{user.id}", "email", status, user.id, user.unit_id))
    if "robot" in channels and unit is not None and unit.robot_kind and unit.robot_url:
        rows.append(
            addressed(common, f"{base}:{unit.robot_kind}:unit{unit.id}", unit.robot_kind, "pending", None, unit.id)
        )
    if "webhook" in channels:
        rows.append(
            addressed(common, f"{base}:webhook", "webhook", "pending", None, unit.id if unit is not None else None)
        )
    return rows


def folded_row(target: Target, steps: Sequence[Step], into: str | None, now: datetime) -> dict:
    """One record per item and sweep that stale steps were handled without messages of
    their own (after downtime there may be hundreds: they are counted, not listed)."""
    last = steps[-1]
    data = {
        "folded_into": into,
        "count": len(steps),
        "first": steps[0].key,
        "last": last.key,
        "first_at": steps[0].at.isoformat(),
        "last_at": last.at.isoformat(),
    }
    item = (target.item_type, target.item_id, target.plan_id)
    common = message(item, last.key, last.kind, last.level, (listed([target.data["title"]])[0], ""), data, now, last.at)
    key = f"{target.item_type}:{target.item_id}:{target.epoch}:{last.key}:folded"
    return addressed(common, key, "none", "folded", None, target.unit_id)


def listed(titles: Sequence[str]) -> tuple[str, str]:
    """The stored (subject, body) of a sweep's or digest's row: the titles of what it is
    about, no wording. Every reader renders the subject from the row's kind and data in
    their language (app.services.delivery.subject_of); this is what a failed template shows."""
    return "；".join(titles)[:300], "\n".join(titles)
