"""Delivery: claim due outbox rows, hand them to their channel, record the verdict.

What holds, and how:

* **Claims carry a token.** A guarded UPDATE … RETURNING claims a small batch (only
  rows still pending, or whose lease has run out, change; rows another worker has locked
  are skipped) under a fresh random token, and the same transaction reads the rows'
  recipients and units. Every later write for those rows (the in-flight marker, the
  verdict) matches that token, so a worker whose claim was taken over writes nothing and
  sends nothing more.
* **The lease holds while a message is in flight.** Before each message is handed over,
  one committed UPDATE marks it in flight, counts the attempt and renews its lease (and,
  past half the lease, the rest of the batch's); if that UPDATE finds the claim gone, the
  worker abandons the send before the hand-over (for mail: it hangs up before the final
  dot of DATA, so the server keeps nothing). The lease is longer than the transport's
  timeout (checked at start-up).
* **A step to several people is one mail.** An item's reminder or escalation to several
  of its unit's people (the handler, the deputy, the head) goes as one message with a
  RCPT each (:func:`_parts`): their rows are marked in flight together, each gets its
  own verdict (a refused recipient fails alone), and below "message" means all of its
  rows. The Message-ID is the step's, so a copy carries the one the first had.
* **The window is one message.** The in-flight marker is committed before the message
  goes and cleared with its verdict (which rides with the next message's marker, or is
  committed at the end of the batch), so a worker that dies, or loses its database,
  leaves at most one row that the far end may have taken without our knowing. Whoever
  claims it next counts that hand-over as unconfirmed; sending it again (same Message-ID,
  same idempotency key) marks the row ``possibly_sent_twice``.
* **Pipelined, not batched.** On PostgreSQL that one UPDATE (the previous message's
  "sent" and this one's marker, atomic by itself) is sent without waiting, and the mail
  channel says MAIL, RCPT and DATA while it commits; the answer is read before the data
  and its final dot go. So the commit's wait overlaps the server's replies, and still
  every verdict is committed before the next message is handed over. The statement is
  prepared once per database connection (a worker warms it up at process start,
  :func:`warm_up`) and finds its two rows by the primary key: per message the database
  does the update and the commit, not a parse, a plan and an index range scan.
* **One slow or failing message never fails the ones behind it.** A message that was
  never handed over uses no attempt. A timeout after the hand-over is ``unknown``: tried
  at most once more, then ``unconfirmed`` (not failed: it may well have arrived).
* **Each destination has a gate**: a rate (messages per window) and a block the platform
  announced. A message over the rate waits in the outbox, in order, until the gate opens.

What a kill (``kill -9`` of the worker, or the database stopped) at each point leads to,
for message *i* of a claim (message *i − 1* handed over and answered "250"):

1. *Before the UPDATE for i commits* (it was not sent, is on its way, or was refused by
   a dead database): i − 1's verdict and i's marker are one statement, so either both are
   in or neither is. Neither: i − 1 is still marked in flight, so its next claimer sends
   it again flagged ``possibly_sent_twice`` (the one copy the window allows); i is
   untouched and goes once. Nothing of i reached the server but MAIL/RCPT/DATA, and the
   session dies without the final dot, so the server discards it.
2. *After that commit, before i's final dot*: i − 1 is recorded sent (never again); i
   is marked in flight though the server never had it, so it is sent once, flagged as a
   possible duplicate that is not one. No loss, no duplicate.
3. *After i's final dot, before the next commit* (the server may have i): i is the one
   row in flight; its next claimer sends it again with the same Message-ID and flags it.
   At most one copy more, for this one message.
4. *Between claims*: a claim is one transaction; a claim whose worker died keeps its
   rows until the lease runs out, then any worker takes them as in 1–3.

So a kill costs at most one extra copy (flagged, same Message-ID) and loses nothing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import defaultdict, namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, cached_property, partial
from select import POLLIN, poll

import psycopg
from psycopg import pq
from sqlalchemy import Connection, Integer, and_, any_, bindparam, case, func, null, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from app.db import Database, ids_among
from app.domain.rates import Rate, admit
from app.models import DeliveryGate, Notification, Unit, User
from app.notify import ROBOT_KINDS, Outgoing, Result, defang, render, render_markdown, robot_for
from app.notify.base import Channel

log = logging.getLogger("rectify.delivery")

MAX_ATTEMPTS = 8
MAX_UNCONFIRMED = 2  # hand-overs without an answer: the first is retried once, the second is final
LEASE = timedelta(minutes=5)
CLAIM_BATCH = 100  # as many as a rectify.deliver task carries (workers.tasks.DELIVERY_CHUNK): one claim each
BUSY_RETRY = timedelta(seconds=1)  # a message waiting for another to the same rated destination
_KIND_TEMPLATE = {"remind": "reminder", "escalate": "escalation", "nag": "escalation", "daily": "daily"}


@dataclass(frozen=True)
class DeliverySettings:
    """``rates`` by channel name (email, webhook, wecom, dingtalk); a robot's rate holds
    for each robot, the mail relay's and the webhook's for the one destination."""

    lease: timedelta = LEASE
    batch: int = CLAIM_BATCH
    rates: Mapping[str, Rate] = field(default_factory=dict)


def delivery_settings(
    lease_seconds: float, batch: int, rates: Mapping[str, str], transport_timeouts: list[float]
) -> DeliverySettings:
    """Settings from the configuration, checked at start-up: the lease must outlast a
    message in flight (twice the longest transport timeout: the wait for the reply and
    the connection set-up before it)."""
    longest = max(transport_timeouts, default=0)
    if lease_seconds <= 2 * longest:
        raise ValueError(
            f"RECTIFY_DELIVERY_LEASE_SECONDS ({lease_seconds:g}) must be more than twice the longest transport "
            f"timeout ({longest:g} s), or a slow message could outlive its claim"
        )
    if batch < 1:
        raise ValueError(f"RECTIFY_DELIVERY_BATCH must be at least 1, not {batch}")
    parsed = {channel: Rate.parse(text, f"RECTIFY_RATE_{channel.upper()}") for channel, text in rates.items()}
    return DeliverySettings(timedelta(seconds=lease_seconds), batch, parsed)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most an hour: a mail server down for a while is retried,
    not hammered."""
    return timedelta(minutes=min(60, 2 ** max(attempts - 1, 0)))


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    unconfirmed: int = 0
    waiting: int = 0  # not handed over: the batch stopped, or the destination's gate was shut
    lost: int = 0  # the claim was taken over (our lease ran out): left to the new holder
    ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Claim:
    token: str
    ids: list[int]
    lease_until: datetime
    rows: list = field(default_factory=list)  # the claimed rows, read with the claim (plain rows: _CLAIMED_COLUMNS)
    users: dict[int, User] = field(default_factory=dict)  # their recipients (plain rows: _USER_COLUMNS)
    units: dict[int, Unit] = field(default_factory=dict)  # and units (plain rows: _UNIT_COLUMNS)


def claimable(now: datetime, by_id: bool = False):
    """Rows a worker may take: due and pending, or left "sending" by a worker whose lease ran out.

    ``by_id``: the same rows, for a query that names them by id (the primary key finds
    them), in a form the status index cannot serve (see :func:`_status_is`)."""
    status_is = _status_is if by_id else lambda status: Notification.status == status
    return and_(
        Notification.channel.not_in(("inbox", "none")),
        or_(
            and_(status_is("pending"), Notification.next_attempt_at <= now),
            and_(status_is("sending"), Notification.lease_until < now),
        ),
    )


def _status_is(status: str, t=None):
    """``status = …`` for a statement that names its rows by id, written IS NOT DISTINCT
    FROM (the same for a column that is never NULL) so that the planner never reads it
    from ix_notifications_due: that index's "sending" and "pending" ranges carry an entry
    for every version of every row a claim touched until VACUUM, and a bitmap scan of
    them (chosen over the primary key when the table has no fresh statistics) cost more
    than the UPDATE itself, at every message."""
    return (Notification.__table__ if t is None else t).c.status.is_not_distinct_from(status)


# what delivery reads of a recipient and of a unit (plain rows, attributes named as the models')
_USER_COLUMNS = (User.id, User.username, User.full_name, User.email, User.phone, User.lang)
_UNIT_COLUMNS = (Unit.id, Unit.robot_kind, Unit.robot_url, Unit.robot_secret)
# what delivery reads of a claimed row (wording, addressing, the attempt counts): RETURNING
# only these, not all 27 columns, spares the worker decoding the timestamps, token and
# error text of every row it claims (and the server writing them out)
_CLAIMED_COLUMNS = (
    "id",
    "key",
    "item_type",
    "item_id",
    "kind",
    "level",
    "recipient_id",
    "unit_id",
    "channel",
    "subject",
    "body",
    "data",
    "attempts",
    "unconfirmed",
)
# a recipient and a unit as the one-statement claim returns them (attributes named as the models')
_UserRow = namedtuple("_UserRow", [c.key for c in _USER_COLUMNS])
_UnitRow = namedtuple("_UnitRow", [c.key for c in _UNIT_COLUMNS])
_USER_AT, _UNIT_AT = len(_CLAIMED_COLUMNS), len(_CLAIMED_COLUMNS) + len(_USER_COLUMNS)  # where they are in its rows


def claim(
    db: Database,
    now: datetime,
    worker: str,
    limit: int,
    ids: list[int] | None = None,
    lease: timedelta = LEASE,
    known: tuple[dict[int, User], dict[int, Unit]] | None = None,
    fast: _Autocommit | None = None,
) -> Claim:
    """Claim up to ``limit`` due rows under a new token (rows another worker holds
    locked are skipped; a guarded UPDATE … RETURNING takes them), and read their
    recipients and units with them, added to ``known`` (the users and units earlier
    claims of the same run read). A row still marked in flight was with a worker that
    never recorded its verdict: that hand-over counts as unconfirmed. With ``fast``
    (PostgreSQL) all of it is one autocommit statement on delivery's own connection
    (:func:`_claimed`, which joins every row's recipient and unit); otherwise one
    transaction, which reads only those not known yet."""
    token = secrets.token_hex(16)
    users, units = known if known is not None else ({}, {})
    if fast is not None:
        params = {"now": now, "limit": limit, "worker": worker, "token": token, "until": now + lease}
        if ids is not None:
            params["ids"] = ids
        rows = fast.connection.execute(_claimed(ids is not None), params).all()
        users.update((r.u_id, _UserRow(*r[_USER_AT:_UNIT_AT])) for r in rows if r.u_id is not None)
        units.update((r.n_id, _UnitRow(*r[_UNIT_AT:])) for r in rows if r.n_id is not None)
        return Claim(token, [r.id for r in rows], now + lease, rows, users, units)
    with db.transaction() as s:
        among = partial(ids_among, sqlite=db.is_sqlite)
        among_ids = None if ids is None else among(Notification.id, ids)
        candidates = list(s.scalars(_candidates(now, limit, among_ids)))
        if not candidates:
            return Claim(token, [], now)
        t = Notification.__table__
        # plain rows (read only, their attributes named as the model's), not ORM objects:
        # building a hundred of those cost more than the claim's statements
        rows = s.execute(
            update(t)
            .where(among(t.c.id, candidates), claimable(now, by_id=True))
            .values(_claim_marks(t, worker, token, now + lease))
            .returning(*(t.c[name] for name in _CLAIMED_COLUMNS))
        ).all()
        if not rows:
            return Claim(token, [], now)
        rows.sort(key=lambda r: r.id)
        recipients = {r.recipient_id for r in rows if r.recipient_id} - users.keys()
        # as plain rows too, only what a message needs (building ORM objects cost more)
        if recipients:
            users.update((u.id, u) for u in s.execute(select(*_USER_COLUMNS).where(among(User.id, recipients))))
        unit_ids = {r.unit_id for r in rows if r.unit_id} - units.keys()
        if unit_ids:
            units.update((u.id, u) for u in s.execute(select(*_UNIT_COLUMNS).where(among(Unit.id, unit_ids))))
        return Claim(token, [r.id for r in rows], now + lease, rows, users, units)


def _candidates(now, limit, among_ids=None):
    """The rows a claim takes (among ``among_ids``, a condition on the id, if given),
    locked (skipping those another worker holds), in id order. Locked first, then updated
    by id: an UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED) may run its
    subquery again and take more than n rows."""
    q = select(Notification.id).where(claimable(now, by_id=among_ids is not None))
    if among_ids is not None:
        q = q.where(among_ids)
    return q.order_by(Notification.id).limit(limit).with_for_update(skip_locked=True)


def _claim_marks(t, worker, token, until) -> dict:
    return {
        "status": "sending",
        "claimed_by": worker,
        "claim_token": token,
        "lease_until": until,
        "unconfirmed": t.c.unconfirmed + case((t.c.in_flight_at.is_not(None), 1), else_=0),
        "in_flight_at": None,
    }


@cache
def _claimed(by_ids: bool):
    """The claim as one statement: the candidates locked in a materialized CTE (run
    once, so never more than ``limit`` rows), updated by id, and returned with their
    recipient's and unit's columns joined (``u_…``, ``n_…``, in _USER_COLUMNS' and
    _UNIT_COLUMNS' order, last). On delivery's autocommit connection that is one round
    trip where the transaction took six (BEGIN, the lock, the update, the users, the
    units, COMMIT), each through the ORM's session: a quarter of a deliverer's time for
    mails of three recipients. Built once (its values are parameters: ``now``, ``limit``,
    ``ids`` when ``by_ids``, ``worker``, ``token``, ``until``): building it took as long
    as running it."""
    t = Notification.__table__
    ts, ids = t.c.lease_until.type, ARRAY(t.c.id.type)
    among_ids = t.c.id == any_(bindparam("ids", type_=ids)) if by_ids else None
    now = bindparam("now", type_=ts)
    locked = _candidates(now, bindparam("limit", type_=Integer), among_ids).cte("candidates")
    locked = locked.prefix_with("MATERIALIZED")
    taken = (
        update(t)
        .where(t.c.id == locked.c.id, claimable(now, by_id=True))
        .values(_claim_marks(t, bindparam("worker"), bindparam("token"), bindparam("until", type_=ts)))
        .returning(*(t.c[name] for name in _CLAIMED_COLUMNS))
        .cte("taken")
    )
    u, n = User.__table__, Unit.__table__
    return (
        select(
            *(taken.c[name] for name in _CLAIMED_COLUMNS),
            *(u.c[c.key].label(f"u_{c.key}") for c in _USER_COLUMNS),
            *(n.c[c.key].label(f"n_{c.key}") for c in _UNIT_COLUMNS),
        )
        .select_from(taken.outerjoin(u, u.c.id == taken.c.recipient_id).outerjoin(n, n.c.id == taken.c.unit_id))
        .order_by(taken.c.id)
    )


@dataclass
class Channels:
    """The configured channels. Robots are per unit, so they are built per row."""

    email: Channel | None = None
    webhook: Channel | None = None
    robot_factory: Callable[[str, str, str | None], Channel] = robot_for

    def for_row(self, row: Notification, unit: Unit | None) -> Channel | None:
        if row.channel == "email":
            return self.email
        if row.channel == "webhook":
            return self.webhook
        if unit is not None and unit.robot_url and row.channel == unit.robot_kind:
            return self.robot_factory(unit.robot_kind, unit.robot_url, unit.robot_secret)
        return None


def destination(row: Notification, unit: Unit | None) -> str:
    """The gate a row passes: the mail relay, the webhook, or one robot (by its URL, so two
    units sharing a group robot share its limit)."""
    if row.channel in ROBOT_KINDS and unit is not None and unit.robot_url:
        return f"{row.channel}:{hashlib.sha256(unit.robot_url.encode()).hexdigest()[:24]}"
    return row.channel


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# items whose every step (reminder or escalation) is worded by one template of their own
_ITEM_TEMPLATE = {"submission": "obligation", "lookback": "lookback", "ack": "ack"}


def _days(template: str, data: dict) -> int:
    """The day count each template speaks of: days overdue, days since a 立行立改 item
    was assigned, or days left (negative once a report is late)."""
    overdue = data.get("overdue_days", 0)
    if template == "escalation":
        return overdue
    if template == "daily":
        return data.get("days_since_assigned", 0)
    return -overdue if overdue > 0 else data.get("days_left", 0)


def message_context(row: Notification, base_url: str = "") -> tuple[str, dict]:
    """The template (``templates/notify/<lang>/<kind>.txt``) of a row written by the
    sweep or a digest, and its context, from the row's kind and stored data: every reader
    (the mail, the robots, the inbox page and API) words it from here in their language."""
    data = row.data or {}
    if row.kind in ("digest", "notice_list", "summary", "escalation_notice"):
        items = [i | {"due_at": _instant(i.get("due_at"))} for i in data.get("items", [])]
        ctx = {"items": items, "url": base_url + data.get("url", "/inbox")}
        if row.kind == "notice_list":
            ctx["issuer"] = data.get("issuer", "")
        elif row.kind == "digest":
            ctx["events"] = [e | {"url": base_url + e["url"]} for e in data.get("events", [])]
        return row.kind, ctx
    kind = _ITEM_TEMPLATE.get(row.item_type) or _KIND_TEMPLATE.get(row.kind, "reminder")
    return kind, {
        "title": data.get("title", row.subject),
        "unit": data.get("unit", ""),
        "due_at": _instant(data.get("due_at")),
        "days": _days(kind, data),
        "level": row.level,
        "url": base_url + data.get("url", ""),
        "deadline_text": data.get("deadline_text", ""),
    }


def subject_of(row: Notification, lang: str) -> str:
    """The row's subject in ``lang``: an event's was worded for its recipient when written
    (app.services.events); the rest are rendered from the row's kind and data. A template
    that fails is logged and the stored subject (the item's own title) shown."""
    if row.kind == "event":
        return row.subject
    kind, ctx = message_context(row)
    try:
        return render(kind, ctx, lang, html=False)[0]
    except Exception:
        log.exception("notification template %s (%s) failed for outbox row %s", kind, lang, row.key)
        return defang(row.subject)


def _outgoing(part: list[Notification], users: Mapping[int, User], base_url: str) -> Outgoing:
    """The message for one row, or one for a part's several rows (:func:`_parts`):
    worded once, greeting every recipient by name, addressed to them all."""
    row, people = part[0], [users.get(r.recipient_id) for r in part]
    user = people[0]
    data = dict(row.data or {})
    if row.kind == "event":  # rendered when written, in the recipient's language (app.services.events)
        html = data.pop("html", None)
        return _message(row, user, row.subject, row.body, html, data)
    kind, ctx = message_context(row, base_url)
    lang = user.lang if user else "zh"
    if user is not None:
        ctx["name"] = _NAME_SEPARATOR.get(lang, ", ").join(_name(u) for u in people)
    try:
        subject, text, html = render(kind, ctx, lang)
        markdown = render_markdown(kind, ctx, lang) if row.channel in ROBOT_KINDS else None
    except Exception:
        log.exception("notification template %s failed for outbox row %s; sent as written", kind, row.key)
        subject, text, html, markdown = defang(row.subject), defang(row.body), None, None
    also = tuple((r.key, _name(u), u.email) for r, u in zip(part[1:], people[1:], strict=True))
    return _message(row, user, subject, text, html, data, markdown, also)


def _name(user: User) -> str:
    return user.full_name or user.username


_NAME_SEPARATOR = {"zh": "、"}  # 张三、李四：; other languages: Zhang San, Li Si:
MAIL_RECIPIENTS = 10  # at most this many people on one mail (a unit's handler, deputies and head)


def _parts(rows: list[Notification], users: Mapping[int, User]) -> list[list[Notification]]:
    """A destination's rows as the messages they go in, in the order of their first row.
    E-mail rows of one step's message about one item (a reminder, an escalation: the
    sweep names it in their data, app.services.outbox_rows.rows_for_step) to people who
    read the same language go as one mail to them all, a RCPT each: a unit's handler,
    deputy and head see the one message, addressed to the three of them, and the mail
    server has one message to take instead of three. Everything else goes on its own,
    and so does an address beyond ASCII (a server without SMTPUTF8 refuses the whole
    mail for it, which must not cost the others theirs)."""
    parts: list[list[Notification]] = []
    shared: dict[tuple[str, str], list[Notification]] = {}
    for row in rows:
        user = users.get(row.recipient_id)
        message = (row.data or {}).get("message")
        if row.channel != "email" or not message or user is None or not user.email or not user.email.isascii():
            parts.append([row])
            continue
        part = shared.get((message, user.lang))
        addresses = {users[r.recipient_id].email for r in part} if part else set()
        if part is None or len(part) >= MAIL_RECIPIENTS or user.email in addresses:  # one RCPT per address
            part = shared[(message, user.lang)] = []
            parts.append(part)
        part.append(row)
    return parts


def _message(
    row: Notification,
    user: User | None,
    subject: str,
    text: str,
    html: str | None,
    data: dict,
    markdown: str | None = None,
    also: tuple[tuple[str, str, str], ...] = (),
) -> Outgoing:
    return Outgoing(
        key=row.key,
        to_name=(user.full_name or user.username) if user else "",
        to_email=user.email if user else None,
        to_mobile=user.phone if user else None,
        subject=subject,
        text=text,
        html=html,
        markdown=markdown,
        data=data | {"kind": row.kind, "level": row.level, "item_type": row.item_type, "item_id": row.item_id},
        also=also,
        message_key=data.get("message", "") if row.channel == "email" else "",
    )


def _gate(s: Session, name: str) -> DeliveryGate:
    """The destination's gate row, locked for this transaction (created on first use)."""
    gate = s.get(DeliveryGate, name, with_for_update=True, populate_existing=True)
    if gate is None:
        dialect_insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        s.execute(
            dialect_insert(DeliveryGate)
            .values(destination=name, sends=[], blocked_until=None, reason="")
            .on_conflict_do_nothing(index_elements=["destination"])
        )
        gate = s.get(DeliveryGate, name, with_for_update=True, populate_existing=True)
    return gate


class _Batch:
    """One destination's share of a claim, handed to its channel message by message.

    ``parts`` are the messages' rows (one row each, or an item's step to several people:
    :func:`_parts`). ``before_each`` and ``on_result`` are the channel's hooks, asked
    per message: a message's rows are marked in flight together and each gets its own
    verdict. Verdicts are queued and written in the transaction that marks the next
    message in flight (or at ``finish``), so each message costs one commit.
    """

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        claim: Claim,
        parts: list[list[Notification]],
        gate: str,
        rate: Rate | None,
        settings: DeliverySettings,
        report: DeliveryReport,
        fast: _Autocommit | None = None,
    ) -> None:
        self.db, self.clock, self.claim, self.parts = db, clock, claim, parts
        self.gate, self.rate, self.settings, self.report = gate, rate, settings, report
        self.lease_until = claim.lease_until
        self.attempts = {r.id: r.attempts for part in parts for r in part}
        self.queued: list[tuple[int, dict]] = []
        # (admitted, answered) per message through a rated gate: the gate keeps the instant
        # of the answer, so the window is counted from no earlier than the far end saw it
        self.answered: list[tuple[float, float]] = []
        self.admitted_at: float | None = None
        self.resume_at: datetime | None = None  # when the rows not handed over may go
        self.block: tuple[datetime, str] | None = None  # the platform's own block, written with the answer
        self.claim_lost = False
        self.fast = fast
        self.started: tuple[int, list[int]] | None = None  # an in-flight commit on its way (message, prev ids)

    def _mine(self, row_id: int):
        return and_(Notification.id == row_id, Notification.claim_token == self.claim.token, _status_is("sending"))

    def _write_queued(self, s: Session) -> None:
        if self.answered or self.block is not None:
            gate = _gate(s, self.gate)
            moved = dict(self.answered)
            gate.sends, gate.busy_until = sorted(moved.get(t, t) for t in gate.sends), None
            if self.block is not None:
                gate.blocked_until, gate.reason = self.block
                self.block = None
            self.answered.clear()
        for row_id, values in self.queued:
            done = s.execute(
                update(Notification)
                .where(self._mine(row_id))
                .values(**values)
                .execution_options(synchronize_session=False)  # the session holds the batch: don't scan it
            ).rowcount
            if not done:
                self.report.lost += 1
        self.queued.clear()

    def _hand_over_in_one_statement(self, row_ids: list[int], now: datetime) -> list[int] | bool:
        """The common case in one autocommit UPDATE (one round trip, atomic by itself):
        the previous message's "sent" and this one's in-flight mark, sent to the database
        without waiting (:meth:`_taken` reads the answer). Returns the previous message's
        row ids (none if there is none), or False when the case is not the common one (a
        gate to pass, another verdict, a lease to renew)."""
        if self.fast is None or self.rate is not None or now + self.settings.lease / 2 > self.lease_until:
            return False
        sent_at = {values.get("sent_at") for _, values in self.queued}
        if any(values.get("status") != "sent" for _, values in self.queued) or len(sent_at) > 1:
            return False
        prev = [row_id for row_id, _ in self.queued]
        self.queued.clear()
        self.fast.send(
            _hand_over(),
            rows=row_ids,
            prev=prev,
            sent_at=sent_at.pop() if sent_at else None,
            now=now,
            until=now + self.settings.lease,
            token=self.claim.token,
        )
        return prev

    def _taken(self, row_ids: list[int], prev: list[int]) -> bool:
        """The answer to the statement :meth:`_hand_over_in_one_statement` sent: were these
        rows' marks written (does our claim hold)? A database error is raised here, before
        anything is handed over."""
        ids = set(self.fast.ids())
        self.report.lost += len(set(prev) - ids)
        return ids.issuperset(row_ids)

    def start(self, i: int) -> None:
        """Begin message ``i``'s in-flight commit without waiting for it, so the channel
        can open its exchange meanwhile; :meth:`before_each` waits for it."""
        if self.started is None:
            written = self._hand_over_in_one_statement([r.id for r in self.parts[i]], self.clock())
            self.started = (i, written) if written is not False else None

    def __call__(self, i: int) -> str | None:
        return self.before_each(i)

    def before_each(self, i: int) -> str | None:
        ids = [r.id for r in self.parts[i]]
        now = self.clock()
        started, self.started = self.started, None
        mine = started is not None and started[0] == i
        written = started[1] if mine else self._hand_over_in_one_statement(ids, now)
        if written is not False:
            if not self._taken(ids, written):
                self.claim_lost = True
                return "the claim was taken over by another worker"
            self._count_attempt(ids)
            return None
        with self.db.transaction() as s:
            self._write_queued(s)
            gate, sends = None, None
            if self.rate is not None:
                gate = _gate(s, self.gate)
                if gate.blocked_until is not None and gate.blocked_until > now:
                    self.resume_at = gate.blocked_until
                    return f"the platform blocks this destination until {gate.blocked_until.isoformat()}: {gate.reason}"
                if gate.busy_until is not None and gate.busy_until > now:
                    self.resume_at = now + BUSY_RETRY
                    return "another message to this destination is on its way: waits its turn"
                sends, free_at = admit(gate.sends, now.timestamp(), self.rate)
                if free_at is not None:
                    self.resume_at = datetime.fromtimestamp(free_at, now.tzinfo)
                    return f"over the rate of {self.rate.count} per {self.rate.per_seconds:g} s: waits its turn"
            until = now + self.settings.lease
            t = Notification.__table__
            taken = s.execute(
                update(t)
                .where(t.c.id.in_(ids), t.c.claim_token == self.claim.token, _status_is("sending", t))
                .values(_in_flight(t, now, until))
            ).rowcount
            if taken < len(ids):  # abandoned before talking to the far end
                self.claim_lost = True
                return "the claim was taken over by another worker"
            if gate is not None:
                gate.sends, gate.busy_until = sends, until
                self.admitted_at = sends[-1]
            if now + self.settings.lease / 2 > self.lease_until:
                s.execute(
                    update(Notification)
                    .where(Notification.claim_token == self.claim.token, Notification.status == "sending")
                    .values(lease_until=until)
                    .execution_options(synchronize_session=False)
                )
                self.lease_until = until
        self._count_attempt(ids)
        return None

    def _count_attempt(self, ids: list[int]) -> None:
        for row_id in ids:
            self.attempts[row_id] += 1

    def give_up_unconfirmed(self, row: Notification) -> None:
        """A row handed over twice without an answer (the second time by a worker that
        died): it may well have arrived twice already, so it is not sent a third time."""
        values = {"status": "unconfirmed", "lease_until": None, "in_flight_at": None, "claim_token": None}
        self.queued.append((row.id, values | {"last_error": "handed over twice without an answer"}))
        self.report.unconfirmed += 1
        self.report.ids.append(row.id)

    def on_result(self, i: int, result: Result) -> None:
        """Message ``i``'s verdict, for each of its rows (``result.of(j)``: a recipient the
        server refused has its own); the destination's gate is freed once per message."""
        now = self.clock()
        answered = self.admitted_at is not None and result.status != "untried"
        if answered:
            self.answered.append((self.admitted_at, now.timestamp()))
            self.admitted_at = None
        for j, row in enumerate(self.parts[i]):
            self._verdict(row, result.of(j), now)
        if answered:  # the destination is free (or blocked) for every worker at once
            with self.db.transaction() as s:
                self._write_queued(s)

    def _verdict(self, row: Notification, result: Result, now: datetime) -> None:
        attempts = self.attempts[row.id]
        values: dict = {"lease_until": None, "in_flight_at": None, "claim_token": None}
        if result.status == "untried":
            if self.claim_lost:
                self.report.lost += 1
                return
            values |= {"status": "pending", "next_attempt_at": max(self.resume_at or now, now)}
            values["last_error"] = result.detail[:2000]
            outcome = "waiting"
        elif result.status == "sent":
            values |= {"status": "sent", "sent_at": now, "last_error": ""}
            outcome = "sent"
        elif result.status == "limited":
            until = now + timedelta(seconds=result.retry_after or 60)
            values |= {"status": "pending", "next_attempt_at": until, "last_error": result.detail[:2000]}
            values["attempts"] = Notification.attempts - 1  # the message is fine: not its attempt
            self.resume_at = until
            self.block = (until, result.detail[:500])
            outcome = "waiting"
        elif result.status == "unknown" and row.unconfirmed + 1 < MAX_UNCONFIRMED:
            values |= {
                "status": "pending",
                "unconfirmed": Notification.unconfirmed + 1,
                "next_attempt_at": now + backoff(attempts),
                "last_error": result.detail[:2000],
            }
            self.resume_at = now  # one slow message: the rest go on at once, over a new connection
            outcome = "retry"
        elif result.status == "unknown":
            values |= {"status": "unconfirmed", "unconfirmed": Notification.unconfirmed + 1}
            values["last_error"] = result.detail[:2000]
            outcome = "unconfirmed"
        elif result.status == "temporary" and attempts < MAX_ATTEMPTS:
            values |= {
                "status": "pending",
                "next_attempt_at": now + backoff(attempts),
                "last_error": result.detail[:2000],
            }
            if result.stop:
                self.resume_at = now + backoff(attempts)
            outcome = "retry"
        else:
            values |= {"status": "failed", "last_error": result.detail[:2000] or "gave up"}
            outcome = "failed"
        self.queued.append((row.id, values))
        setattr(self.report, outcome, getattr(self.report, outcome) + 1)
        self.report.ids.append(row.id)

    def finish(self) -> None:
        if not self.queued and not self.answered and self.block is None and self.resume_at is None:
            return
        if self.fast is not None and self.rate is None:
            # the last message's "sent" (a row each of its recipients) in the one statement
            # that carries every other message's, marking nothing in flight
            written = self._hand_over_in_one_statement([], self.clock())
            if written is not False:
                self._taken([], written)
                return
        if self.fast is not None and self.rate is None and len(self.queued) == 1:
            row_id, values = self.queued.pop()  # one statement: autocommit
            t = Notification.__table__
            mine = and_(t.c.id == row_id, t.c.claim_token == self.claim.token, _status_is("sending", t))
            if not self.fast.rowcount(update(t).where(mine).values(values)):
                self.report.lost += 1
            return
        with self.db.transaction() as s:
            self._write_queued(s)
            if self.rate is not None and self.resume_at is not None:
                self._hold_the_rest(s, self.resume_at)

    def _hold_the_rest(self, s: Session, until: datetime) -> None:
        """A rated destination that must wait holds back every row still pending for it,
        so that none claimed later overtakes the ones that waited: they go in order."""
        row = self.parts[0][0]
        t = Notification.__table__
        s.execute(
            update(t)
            .where(
                t.c.status == "pending",
                t.c.channel == row.channel,
                t.c.unit_id == row.unit_id,
                t.c.next_attempt_at < until,
            )
            .values(next_attempt_at=until)
        )


class _Autocommit:
    """PostgreSQL's fast path: single autocommit statements (one round trip each, no
    BEGIN/COMMIT) on a connection of their own. The hand-over statement goes out without
    waiting for its answer (libpq's asynchronous command processing), so the channel
    talks to the far end while the commit is on its way; :meth:`ids` reads the answer."""

    def __init__(self, db: Database) -> None:
        self.connection: Connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        # Every statement here names its rows by primary key, but a sweep writes thousands
        # of outbox rows just before they are delivered, so the table's statistics still
        # say it is nearly empty and the planner read all of it at every message (3.4
        # million rows read for 1,000 mails of three recipients each: PostgreSQL's CPU
        # per row three times what it is once the table is analysed). Never a sequential
        # scan on this connection; :meth:`close` gives it back to the pool as it came.
        self.connection.exec_driver_sql("SET enable_seqscan = off")
        self.pq = self.connection.connection.driver_connection.pgconn
        self.poller = poll()
        self.poller.register(self.pq.socket, POLLIN)
        self.sent: _Compiled | None = None  # the statement whose answer is still to be read
        self.values: list[bytes | None] = []  # and its parameters
        # Statements prepared in this database session, kept with the pooled connection (a
        # new session starts an empty set): a long-running worker has the server parse and
        # plan the hand-over once per connection, not once per message.
        info = self.connection.connection.info
        if info.get("rectify_pgconn") is not self.pq:
            info["rectify_pgconn"], info["rectify_prepared"] = self.pq, set()
        self.prepared: set[bytes] = info["rectify_prepared"]

    def send(self, compiled: _Compiled, **params) -> None:
        if compiled.name not in self.prepared:
            self._prepare(compiled)
        values = compiled.values(params)
        self.pq.send_query_prepared(compiled.name, values)
        self.pq.flush()
        self.sent, self.values = compiled, values

    def _prepare(self, compiled: _Compiled) -> None:
        result = self.pq.prepare(compiled.name, compiled.sql)
        if result.status != pq.ExecStatus.COMMAND_OK and result.error_field(_SQLSTATE) != _DUPLICATE_STATEMENT:
            error = result.error_message or self.pq.error_message or b"no answer"
            self.connection.invalidate()
            raise OperationalError(compiled.text, None, psycopg.OperationalError(error.decode(errors="replace")))
        self.prepared.add(compiled.name)

    def _answer(self) -> list:
        """The statement's results, waited for with the GIL released (a poll of the
        socket): libpq's get_result holds it while it blocks, and the embedded tick runs
        the sweep and the other deliverer in this process's other threads (the one-process
        bench showed no gain: the answer is mostly in by then). A lost connection ends
        the list (the caller raises with libpq's message)."""
        results = []
        try:
            while True:
                while self.pq.is_busy():
                    self.poller.poll()
                    self.pq.consume_input()
                if (result := self.pq.get_result()) is None:
                    return results
                results.append(result)
        except psycopg.OperationalError:
            return results

    def ids(self) -> list[int]:
        """The ids the statement sent returns, once it has committed."""
        results = self._answer()
        if results and results[-1].error_field(_SQLSTATE) == _NO_SUCH_STATEMENT and self.sent is not None:
            # psycopg's own statement cache says DEALLOCATE ALL after a ROLLBACK on this
            # connection: the statement never ran (it failed to bind), so prepare it again
            # and send it once more, the same values
            self.prepared.discard(self.sent.name)
            self._prepare(self.sent)
            self.pq.send_query_prepared(self.sent.name, self.values)
            self.pq.flush()
            results = self._answer()
        statement, self.sent = self.sent.text if self.sent is not None else None, None
        if not results or results[-1].status != pq.ExecStatus.TUPLES_OK:
            error = (results[-1].error_message if results else self.pq.error_message) or b"no answer"
            self.connection.invalidate()
            raise OperationalError(statement, None, psycopg.OperationalError(error.decode(errors="replace")))
        rows = results[-1]
        return [int(rows.get_value(i, 0)) for i in range(rows.ntuples)]

    def rowcount(self, stmt) -> int:
        return self.connection.execute(stmt).rowcount

    def close(self) -> None:
        spent = self.sent is not None  # an answer never read (the batch was cut short): the session is spent
        if not spent:
            try:
                self.connection.exec_driver_sql("RESET enable_seqscan")
            except DBAPIError:
                spent = True
        if spent:
            self.connection.invalidate()
        self.connection.close()


_SQLSTATE = pq.DiagnosticField.SQLSTATE
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name: not prepared in this session
_DUPLICATE_STATEMENT = b"42P05"  # duplicate_prepared_statement: prepared already


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled once for libpq ($1, $2 … with their casts), and the order of
    its parameters."""

    text: str
    names: tuple[str, ...]
    constants: dict

    @cached_property
    def sql(self) -> bytes:
        return self.text.encode()

    @cached_property
    def name(self) -> bytes:
        """The prepared statement's name: the text's digest, so another text never meets it."""
        return b"rectify_" + hashlib.sha256(self.sql).hexdigest()[:16].encode()

    @cached_property
    def _fixed(self) -> list[bytes | None]:
        """The constants' parameters, written once."""
        return [_text_param(self.constants[n]) if n in self.constants else None for n in self.names]

    def values(self, params: dict) -> list[bytes | None]:
        values = self._fixed.copy()
        for i, n in enumerate(self.names):
            if n in params:
                values[i] = _text_param(params[n])
        return values


def _text_param(value) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, list):  # of ids: an array's text form
        return b"{%s}" % ",".join(map(str, value)).encode()
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, datetime):
        return value.isoformat().encode()
    return str(value).encode()


@cache
def _hand_over() -> _Compiled:
    """The previous message's rows' "sent" (ids ``prev``, none for the first) and the
    in-flight mark of this message's rows (``rows``), for rows still ours (claim
    ``token``), in one statement."""
    t = Notification.__table__
    ts, ids = t.c.lease_until.type, ARRAY(t.c.id.type)
    done = t.c.id == any_(bindparam("prev", type_=ids))
    now, until = bindparam("now", type_=ts), bindparam("until", type_=ts)
    marks = _in_flight(t, now, until)
    stmt = (
        update(t)
        .where(
            t.c.id == any_(func.array_cat(bindparam("rows", type_=ids), bindparam("prev", type_=ids), type_=ids)),
            t.c.claim_token == bindparam("token", type_=t.c.claim_token.type),
            _status_is("sending", t),
        )
        .values(
            status=case((done, "sent"), else_=t.c.status),
            sent_at=case((done, bindparam("sent_at", type_=ts)), else_=t.c.sent_at),
            last_error=case((done, ""), else_=t.c.last_error),
            claim_token=case((done, null()), else_=t.c.claim_token),
            lease_until=case((done, null()), else_=until),
            in_flight_at=case((done, null()), else_=now),
            attempts=case((done, t.c.attempts), else_=marks["attempts"]),
            possibly_sent_twice=case((done, t.c.possibly_sent_twice), else_=marks["possibly_sent_twice"]),
        )
        .returning(t.c.id)
    )
    compiled = stmt.compile(dialect=PGDialect_psycopg(paramstyle="numeric_dollar"))
    return _Compiled(compiled.string, tuple(compiled.positiontup), dict(compiled.params))


def _in_flight(t, now: datetime, until: datetime) -> dict:
    """The in-flight mark: handed over now, one attempt more, the lease renewed, and a
    second hand-over of a row whose first went unanswered noted as a possible duplicate."""
    return {
        "in_flight_at": now,
        "attempts": t.c.attempts + 1,
        "lease_until": until,
        "possibly_sent_twice": or_(t.c.possibly_sent_twice, t.c.unconfirmed > 0),
    }


def warm_up(db: Database, clock: Callable[[], datetime], worker: str) -> None:
    """What a worker process does once before its first delivery, so that every message
    costs what it does in a long-running worker: the statements compiled, a database
    connection opened, the hand-over prepared on it (PostgreSQL), and a claim of no rows
    run through SQLAlchemy's statement cache. It writes nothing."""
    fast = None if db.is_sqlite else _Autocommit(db)
    try:
        claim(db, clock(), worker, 1, ids=[], fast=fast)
        if fast is not None and _hand_over().name not in fast.prepared:
            fast._prepare(_hand_over())
    finally:
        if fast is not None:
            fast.close()


def deliver(
    db: Database,
    channels: Channels,
    clock: Callable[[], datetime],
    worker: str,
    limit: int = 500,
    ids: list[int] | None = None,
    base_url: str = "",
    settings: DeliverySettings | None = None,
) -> DeliveryReport:
    """Claim due rows (up to ``limit``, ``settings.batch`` at a time) and send them,
    destination by destination, each claim finished before the next is taken."""
    settings = settings or DeliverySettings()
    report = DeliveryReport()
    seen: set[int] = set()  # a row left untried behind a slow one may be claimed again at once
    # PostgreSQL: the claims and the common writes go as single autocommit statements on a
    # connection of their own (one round trip each, no BEGIN/COMMIT); SQLite keeps its
    # write transactions.
    fast = None if db.is_sqlite else _Autocommit(db)
    known: tuple[dict[int, User], dict[int, Unit]] = ({}, {})  # recipients and units, read once per run
    try:
        while len(seen) < limit:
            batch = min(settings.batch, limit - len(seen))
            taken = claim(db, clock(), worker, batch, ids, settings.lease, known, fast)
            if not taken.ids:
                break
            report.claimed += len(set(taken.ids) - seen)
            seen.update(taken.ids)
            _send_claim(db, channels, clock, taken, base_url, settings, report, fast)
    finally:
        if fast is not None:
            fast.close()
    return report


def _send_claim(
    db: Database,
    channels: Channels,
    clock: Callable[[], datetime],
    taken: Claim,
    base_url: str,
    settings: DeliverySettings,
    report: DeliveryReport,
    fast: _Autocommit | None,
) -> None:
    groups: dict[str, list[Notification]] = defaultdict(list)
    for row in taken.rows:
        groups[destination(row, taken.units.get(row.unit_id))].append(row)
    _send_groups(db, channels, clock, taken, base_url, settings, report, groups, taken.units, taken.users, fast)


def _send_groups(db, channels, clock, taken, base_url, settings, report, groups, units, users, fast) -> None:
    for gate, group in groups.items():
        unit = units.get(group[0].unit_id)
        channel = channels.for_row(group[0], unit)
        done = [r for r in group if r.unconfirmed >= MAX_UNCONFIRMED]  # handed over twice already: never a third
        parts = _parts([r for r in group if r.unconfirmed < MAX_UNCONFIRMED], users)
        batch = _Batch(db, clock, taken, parts, gate, settings.rates.get(group[0].channel), settings, report, fast)
        for row in done:
            batch.give_up_unconfirmed(row)
        if channel is None:
            for i, part in enumerate(parts):
                batch.on_result(i, Result.permanent(f"channel {part[0].channel} is not configured"))
        elif parts:
            outgoing = [_outgoing(part, users, base_url) for part in parts]
            channel.send_batch(outgoing, clock(), batch.on_result, batch)  # asked (and started) before each
        batch.finish()
