"""Workflow events reach the people waiting on them, through the reminders' outbox.

Every service that records a step someone else waits on (a task assigned, rectified,
sent back, verified, closed, reopened; an extension asked for or decided; a report
submitted, returned or accepted; a manual 催办) calls :func:`notify` inside its own
transaction, after writing the step. The outbox rows therefore commit with the step or
not at all, and their unique keys ``<item>:<id>:<occurrence>:event:<kind>:<channel>:<who>``
make a repeated write a no-op; delivery, retries and leases are the reminders' own.

Who hears of what is ``app.domain.events``; how each person hears of it is their choice
per kind (off, inbox, digest, mail in the send window, mail at once). Messages are
rendered here, in each recipient's language, from ``templates/notify/<lang>/event.*``.
A template that fails is logged and its rows are written as failed (the admin's list of
failed messages shows them), never replaced by wording from the code.

What the rows need from the app's settings (enabled channels, the default reminder
policy for the send window, the base URL of links) comes with the session:
``create_app`` puts it in ``Database.outbox``, which every session carries as
``session.info["outbox"]``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import permissions
from app.domain.events import EVENT_AUDIENCE, MAILED, mode_for
from app.domain.reminders import into_window
from app.models import Plan, Submission, Task, Unit, User
from app.notify import render
from app.services import scope
from app.services.calendar import load_calendar
from app.services.outbox_rows import addressed, insert_ignoring_duplicates
from app.services.outbox_rows import message as outbox_message
from app.services.sweep import policy_for

log = logging.getLogger("rectify.events")

DEFAULT_CHANNELS = frozenset({"inbox", "robot"})
SITE_LANG = "zh"  # group robots and the webhook speak the site's language


@dataclass(frozen=True)
class Event:
    """One step someone waits on, and who waits on it."""

    kind: str  # app.domain.events.EVENT_KINDS
    item_type: str  # task | submission
    item_id: int
    ref: int  # which occurrence: the task history's seq, or the submission's version
    plan: Plan
    unit: Unit  # the responsible unit
    title: str
    actor: User
    recipients: Sequence[User]
    url: str  # the page where the recipient acts
    due_at: datetime | None = None
    comment: str = ""
    deadline: str = ""  # an extension's (or an edited problem's) new deadline, as written
    old_deadline: str = ""  # an edited problem's deadline before, as written
    old_due_at: datetime | None = None  # and the day it fell on
    approved: bool | None = None  # an extension's decision
    count: int = 1  # tasks one "assigned" message announces (a ledger import gives a unit many)
    titles: tuple[str, ...] = ()  # the first of them, when more than one
    from_unit: str = ""  # 转办: the unit the task came from

    def context(self, base_url: str) -> dict:
        return {
            "event": self.kind,
            "title": self.title,
            "unit": self.unit.name,
            "doc_number": self.plan.doc_number or "",
            "due_at": self.due_at,
            "actor": self.actor.full_name or self.actor.username,
            "actor_unit": self.actor.unit.name,
            "comment": self.comment,
            "deadline": self.deadline,
            "old_deadline": self.old_deadline,
            "old_due_at": self.old_due_at,
            "approved": self.approved,
            "count": self.count,
            "titles": list(self.titles),
            "from_unit": self.from_unit,
            "url": base_url + self.url,
        }


# --- who waits ---------------------------------------------------------------------------------------------


def unit_people(s: Session, unit_ids: Iterable[int]) -> dict[int, list[User]]:
    """The active people who may act for each unit (``permissions.acts_for``), by id."""
    found: dict[int, list[User]] = defaultdict(list)
    ids = set(unit_ids)
    q = select(User).where(User.unit_id.in_(ids), User.active).order_by(User.id)
    for user in s.scalars(q):
        if permissions.acts_for(scope.who(user), scope.unit_facts(user.unit)):
            found[user.unit_id].append(user)
    return found


def supervisors_of(s: Session, plan: Plan) -> list[User]:
    """The supervising side of a plan: the supervisors of its issuing unit or, when that
    unit has none, of the nearest unit above it (``permissions.supervises`` decides who counts)."""
    chain = [int(part) for part in plan.issuing_unit.path.strip("/").split("/") if part]
    by_unit: dict[int, list[User]] = defaultdict(list)
    q = select(User).where(User.unit_id.in_(chain), User.active).order_by(User.id)
    plan_f = scope.plan_facts(plan)
    for user in s.scalars(q):
        if permissions.supervises(scope.who(user), plan_f):
            by_unit[user.unit_id].append(user)
    return next((by_unit[uid] for uid in reversed(chain) if by_unit[uid]), [])


def audience(
    s: Session,
    kind: str,
    plan: Plan,
    unit_id: int,
    involved: Sequence[int | None] = (),
    people: Mapping[int, list[User]] | None = None,
) -> list[User]:
    """Who hears of ``kind`` (``EVENT_AUDIENCE`` names the side). ``involved`` are the
    people the item names: the task's owner and its rectifier, or an extension's requester."""
    side = EVENT_AUDIENCE[kind]
    if side == "supervisors":
        return supervisors_of(s, plan)
    if side == "requester":
        return [u for u in (s.get(User, uid) for uid in involved if uid) if u is not None and u.active]
    staff = (people if people is not None else unit_people(s, [unit_id])).get(unit_id, [])
    if side == "unit":
        return list(staff)
    handlers = [u for u in staff if u.position == "handler"] or list(staff)
    if side == "handlers":
        return handlers
    named = [u for u in staff if u.id in involved]  # owner_and_handlers
    return named + [u for u in handlers if u not in named]


def task_event(
    s: Session,
    kind: str,
    task: Task,
    actor: User,
    ref: int,
    comment: str = "",
    involved: Sequence[int | None] = (),
    **extra,
) -> Event:
    plan = s.get(Plan, task.plan_id)
    return Event(
        kind=kind,
        item_type="task",
        item_id=task.id,
        ref=ref,
        plan=plan,
        unit=task.unit,
        title=task.problem.title,
        actor=actor,
        recipients=audience(s, kind, plan, task.unit_id, involved or (task.owner_id, task.rectified_by_id)),
        url=f"/tasks/{task.id}",
        due_at=task.due_at,
        comment=comment,
        **extra,
    )


ANNOUNCE_TITLES = 10  # an import's message to a unit names this many of its new tasks


def announce_assigned(
    s: Session,
    actor: User,
    plan: Plan,
    tasks: Sequence[tuple[int, int, int, datetime | None]],
    titles: Mapping[int, str],
    now: datetime,
) -> int:
    """ "Task assigned" for freshly created tasks, given as (task id, unit id, problem id,
    due_at): a unit that got one task hears of that task; a unit that got many at once (a
    ledger import) hears once, of how many, with a link to its list in the plan."""
    by_unit: dict[int, list[tuple[int, int, datetime | None]]] = defaultdict(list)
    for task_id, unit_id, problem_id, due_at in tasks:
        by_unit[unit_id].append((task_id, problem_id, due_at))
    people = unit_people(s, by_unit)
    events = []
    for unit_id, mine in by_unit.items():
        first, problem_id, due_at = mine[0]
        common = {
            "kind": "assigned",
            "ref": 1 if len(mine) == 1 else first,
            "plan": plan,
            "unit": s.get(Unit, unit_id),
            "actor": actor,
            "recipients": audience(s, "assigned", plan, unit_id, people=people),
        }
        if len(mine) == 1:
            events.append(
                Event(
                    **common,
                    item_type="task",
                    item_id=first,
                    title=titles[problem_id],
                    url=f"/tasks/{first}",
                    due_at=due_at,
                )
            )
        else:
            dues = [d for _t, _p, d in mine if d is not None]
            events.append(
                Event(
                    **common,
                    item_type="plan",
                    item_id=plan.id,
                    title=plan.title,
                    url=f"/tasks?plan_id={plan.id}&unit_id={unit_id}",
                    due_at=min(dues) if dues else None,
                    count=len(mine),
                    titles=tuple(titles[p] for _t, p, _d in mine[:ANNOUNCE_TITLES]),
                )
            )
    return notify(s, events, now)


def submission_event(s: Session, kind: str, sub: Submission, actor: User, comment: str = "") -> Event:
    plan = s.get(Plan, sub.plan_id)
    return Event(
        kind=kind,
        item_type="submission",
        item_id=sub.id,
        ref=sub.version,
        plan=plan,
        unit=sub.unit,
        title=sub.obligation.title,
        actor=actor,
        recipients=audience(s, kind, plan, sub.unit_id),
        url=f"/submissions?plan_id={plan.id}",
        due_at=sub.due_at,
        comment=comment,
    )


# --- the outbox rows ---------------------------------------------------------------------------------------


def notify(s: Session, events: Sequence[Event], now: datetime) -> int:
    """Write the outbox rows of ``events`` in the caller's transaction; returns rows added."""
    if not events:
        return 0
    settings = s.info.get("outbox", {})
    channels = settings.get("channels", DEFAULT_CHANNELS)
    defaults = settings.get("defaults", {})
    base_url = settings.get("base_url", "")
    cal = load_calendar(s)
    windows: dict[int, datetime] = {}
    rows: list[dict] = []
    for ev in events:
        if ev.plan.id not in windows:
            windows[ev.plan.id] = into_window(now, policy_for(ev.plan, defaults), cal)
        rows.extend(_rows(ev, channels, base_url, now, windows[ev.plan.id]))
    return insert_ignoring_duplicates(s, rows)


def _render(context: dict, lang: str, html: bool = False) -> tuple[str, str, str, str]:
    """(subject, text, html, error): a failing template is logged and named, not papered over.
    The HTML is rendered only for a mail."""
    try:
        subject, text, html_text = render("event", context, lang, html)
    except Exception as err:
        log.exception("notification template event (%s, %s) failed for %s", lang, context.get("event"), context["url"])
        return context["title"], "", "", f"template error: {type(err).__name__}: {err}"
    return subject, text, html_text, ""


def _rows(ev: Event, channels: frozenset[str], base_url: str, now: datetime, window: datetime) -> list[dict]:
    base = f"{ev.item_type}:{ev.item_id}:{ev.ref}:event:{ev.kind}"
    context = ev.context(base_url)
    data = {
        "event": ev.kind,
        "title": ev.title,
        "unit": ev.unit.name,
        "url": ev.url,
        "doc_number": ev.plan.doc_number,
        "due_at": ev.due_at.isoformat() if ev.due_at else None,
        "comment": ev.comment,
        "actor": context["actor"],
    }

    def row(key: str, channel: str, status: str, at: datetime, message: tuple, user: User | None, unit_id: int):
        subject, text, html, error = message
        common = outbox_message(
            (ev.item_type, ev.item_id, ev.plan.id),
            f"event:{ev.kind}",
            "event",
            0,
            (subject[:300], text),
            data | ({"html": html} if channel == "email" else {}),
            now,
            at,
        )
        sent_at = now if status == "sent" and not error else None
        return addressed(
            common,
            f"{base}:{key}",
            channel,
            "failed" if error else status,
            user.id if user else None,
            unit_id,
            sent_at=sent_at,
            last_error=error,
        )

    rows: list[dict] = []
    seen: set[int] = set()
    units: dict[int, Unit] = {}
    for user in ev.recipients:
        if user.id == ev.actor.id or user.id in seen:
            continue  # nobody is told of their own step
        seen.add(user.id)
        units.setdefault(user.unit_id, user.unit)
        mode = mode_for(user.event_prefs, ev.kind, user.notify_email, user.digest)
        if mode == "off":
            continue
        mailed = mode in MAILED and "email" in channels and bool(user.email)
        message = _render(context | {"name": user.full_name or user.username}, user.lang, html=mailed)
        rows.append(row(f"inbox:{user.id}", "inbox", "sent", now, message, user, user.unit_id))
        if mailed:
            status, at = {"digest": ("held", now), "instant": ("pending", now)}.get(mode, ("pending", window))
            rows.append(row(f"email:{user.id}", "email", status, at, message, user, user.unit_id))
    shared = None
    if "robot" in channels:
        for unit_id, unit in units.items():
            if unit.robot_kind and unit.robot_url:
                shared = shared or _render(context, SITE_LANG)
                rows.append(
                    row(f"{unit.robot_kind}:unit{unit_id}", unit.robot_kind, "pending", window, shared, None, unit_id)
                )
    if "webhook" in channels:
        shared = shared or _render(context, SITE_LANG)
        rows.append(row("webhook", "webhook", "pending", window, shared, None, ev.unit.id))
    return rows
