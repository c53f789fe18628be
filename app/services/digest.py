"""Daily digests: for people who asked for one, the e-mails held back during the day
become one message per person per day, listing every item and every workflow event. Group
summaries: the many robot messages one sweep writes for one group become one message listing
them (a robot may post only 20 messages a minute, and a group reads one list better than forty
posts). Escalation notices: the overdue-escalation e-mails (督办) one sweep writes for one
person become one notice listing every item (a unit head is not sent three hundred mails
in one morning)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.db import Database, ids_among, on_sqlite
from app.domain.deadlines import CHINA
from app.domain.reminders import Policy, into_window
from app.models import Notification, User
from app.notify import ROBOT_KINDS
from app.services.calendar import load_calendar
from app.services.outbox_rows import addressed, insert_ignoring_duplicates, listed, message


def compose_digests(db: Database, now: datetime, defaults: dict) -> int:
    """From the day's send window on, fold each person's held e-mails into one digest
    (key digest:<user>:<date>, so a day has at most one). Returns digests written."""
    policy = Policy.from_dict(defaults)
    with db.transaction() as s:
        if into_window(now, policy, load_calendar(s)) != now:
            return 0  # outside the send window: wait for the morning
        held = list(
            s.scalars(
                select(Notification)
                .where(Notification.status == "held", Notification.next_attempt_at <= now)
                .order_by(Notification.recipient_id, Notification.id)
                .with_for_update(skip_locked=True)
            )
        )
        day = now.astimezone(CHINA).date().isoformat()
        done_today = set(s.scalars(select(Notification.recipient_id).where(Notification.step == f"digest:{day}")))
        by_user: dict[int, list[Notification]] = defaultdict(list)
        for row in held:
            if row.recipient_id not in done_today:  # theirs went out this morning: wait for tomorrow
                by_user[row.recipient_id].append(row)
        rows = []
        for user_id, items in by_user.items():
            key = f"digest:{user_id}:{day}"
            data = {
                "items": [_item(r) | {"state": r.data.get("state", "in_progress")} for r in items if r.kind != "event"],
                # workflow events: already worded in the recipient's language when written
                "events": [{"subject": r.subject, "url": r.data.get("url", "")} for r in items if r.kind == "event"],
            }
            text = listed([r.subject for r in items])
            level = max(r.level for r in items)
            common = message(("digest", user_id, None), f"digest:{day}", "digest", level, text, data, now, now)
            rows.append(addressed(common, key, "email", "pending", user_id, items[0].unit_id))
        written = insert_ignoring_duplicates(s, rows)
        folded = [r.id for items in by_user.values() for r in items]
        if folded:
            s.execute(
                update(Notification)
                .where(ids_among(Notification.id, folded, on_sqlite(s)), Notification.status == "held")
                .values(status="folded")
            )
        return written


def _item(row: Notification) -> dict:
    return {
        "title": row.data.get("title", row.subject),
        "unit": row.data.get("unit", ""),
        "due_at": row.data.get("due_at"),
        "overdue_days": row.data.get("overdue_days", 0),
    }


def _foldable(s: Session, where, by: tuple) -> dict[tuple, list]:
    """The rows ``where`` selects, locked (skipping those a worker holds), grouped by the
    columns ``by``: only the groups of two or more, each in id order, their rows read with
    what a fold writes (subject, data, level …). A first pass reads only the ids and the
    group keys, so a row that folds with nothing (a person with one item: most of them once
    a campaign has spread) is never read in full; reading and decoding every row was a
    quarter of the tick's time for a thousand people with an escalation each (py-spy)."""
    t = Notification.__table__
    keys = s.execute(select(t.c.id, *by).where(where).order_by(*by, t.c.id).with_for_update(skip_locked=True)).all()
    groups: dict[tuple, list[int]] = defaultdict(list)
    for row in keys:
        groups[tuple(row[1:])].append(row.id)
    groups = {group: ids for group, ids in groups.items() if len(ids) > 1}
    if not groups:
        return {}
    wanted = [row_id for ids in groups.values() for row_id in ids]
    columns = (t.c.id, t.c.unit_id, t.c.level, t.c.subject, t.c.data, t.c.next_attempt_at)
    full = {r.id: r for r in s.execute(select(*columns).where(ids_among(t.c.id, wanted, on_sqlite(s))))}
    return {group: [full[row_id] for row_id in ids] for group, ids in groups.items()}


def _fold(
    s: Session, groups: dict[tuple[str, int], list], kind: str, url: str, now: datetime, address: Callable
) -> int:
    """Each group of two or more pending rows, keyed (channel, whose: a unit or a person),
    becomes one ``kind`` row listing their items (``address(group key, items, message)``
    gives it its key and recipient); the folded rows become ``summarized``. Returns the
    rows written."""
    rows = []
    for group, items in groups.items():
        if len(items) < 2:
            continue
        data = {"items": [_item(r) | {"level": r.level} for r in items], "rows": [r.id for r in items], "url": url}
        text = listed([r.subject for r in items])
        at = min(r.next_attempt_at for r in items)
        common = message((kind, group[1], None), kind, kind, max(r.level for r in items), text, data, now, at)
        rows.append(address(group, items, common))
    written = insert_ignoring_duplicates(s, rows)
    folded = [i for r in rows for i in r["data"]["rows"]]
    if folded:
        s.execute(
            update(Notification)
            .where(ids_among(Notification.id, folded, on_sqlite(s)), Notification.status == "pending")
            .values(status="summarized")
        )
    return written


def _summary_rows(now: datetime, after_id: int = 0):
    """The robot messages a group summary folds: due, never tried, one item each."""
    n = Notification
    return and_(
        n.channel.in_(ROBOT_KINDS),
        n.status == "pending",
        n.next_attempt_at <= now,
        n.attempts == 0,
        n.item_type.in_(("task", "submission")),  # one item each, not lists
        n.id > after_id,
    )


def _notice_rows(now: datetime, after_id: int = 0):
    """The e-mails a 督办 notice folds: the deadline ladder's escalations, due, never tried."""
    n = Notification
    return and_(
        n.channel == "email",
        n.status == "pending",
        n.next_attempt_at <= now,
        n.attempts == 0,
        n.kind == "escalate",
        n.item_type == "task",  # the deadline ladder (the 签收 ladder words its steps its own way)
        n.id > after_id,
    )


def foldable_later(now: datetime, units: Collection[int]):
    """The hold-back, the one rule of it: the rows a fold may yet take for the people (督办
    notices) and robot groups (summaries) of ``units``. While the sweep has items of these
    units still to write, app.jobs.tick holds these rows back from delivery and the
    composers leave them out (``hold_units``), so each person still gets one notice per
    sweep; the end of the tick folds them."""
    n = Notification
    people = select(User.id).where(User.unit_id.in_(units))
    return or_(and_(_notice_rows(now), n.recipient_id.in_(people)), and_(_summary_rows(now), n.unit_id.in_(units)))


def compose_group_summaries(db: Database, now: datetime, after_id: int = 0, hold_units: Collection[int] = ()) -> int:
    """Fold the robot messages due now for one group (two or more, never tried yet) into
    one summary row (key summary:<channel>:<unit>:<first row>); the folded rows become
    ``summarized``. A worker delivering meanwhile never sees a row half folded: both
    sides lock the rows they take. Only rows after ``after_id`` and, if given, not of the
    groups of ``hold_units`` (:func:`foldable_later`: app.jobs.tick folds batch by batch
    what no later batch of the sweep can add to). Returns the summaries written."""
    with db.transaction() as s:
        where = _summary_rows(now, after_id)
        if hold_units:
            where = and_(where, ~foldable_later(now, hold_units))
        t = Notification.__table__
        groups = _foldable(s, where, (t.c.channel, t.c.unit_id))

        def to_group(group, items, common) -> dict:
            channel, unit_id = group
            return addressed(common, f"summary:{channel}:{unit_id}:{items[0].id}", channel, "pending", None, unit_id)

        return _fold(s, groups, "summary", "/tasks", now, to_group)


def compose_escalation_notices(db: Database, now: datetime, after_id: int = 0, hold_units: Collection[int] = ()) -> int:
    """Fold the e-mails due now for tasks climbing the overdue ladder (two or more for one
    person, never tried yet) into one 督办 notice per person listing every item (key
    escalation_notice:<user>:<first row>); the folded rows become ``summarized`` and stay
    the record of each item's step, as its inbox row and history entry do. Only e-mail is
    folded: whoever turned e-mail off has no row to fold, the inbox keeps one message per
    item, and the robots have their own summaries. Runs right after the sweep (app.jobs.tick),
    so a person gets one notice per sweep; a row a worker claimed first is locked or no
    longer pending, so it goes on its own, never in a notice as well. Only rows after
    ``after_id`` and, if given, not to people of ``hold_units`` (:func:`foldable_later`):
    app.jobs.tick folds each sweep batch's rows once it has committed, for the people no
    later batch can write to, and the rest at the end."""
    t = Notification.__table__
    with db.transaction() as s:
        where = _notice_rows(now, after_id)
        if hold_units:
            where = and_(where, ~foldable_later(now, hold_units))
        by_user = _foldable(s, where, (t.c.channel, t.c.recipient_id))

        def to_person(group, items, common) -> dict:
            key = f"escalation_notice:{group[1]}:{items[0].id}"
            return addressed(common, key, "email", "pending", group[1], items[0].unit_id)

        return _fold(s, by_user, "escalation_notice", "/tasks?overdue=true", now, to_person)
