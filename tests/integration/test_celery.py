"""The outbox through real Celery: a `celery worker` subprocess (prefork, two processes)
on Redis, PostgreSQL (and SQLite for the main scenario), and a local aiosmtpd server
that counts messages by their X-Rectify-Key header. Nothing is mocked.

The worker runs on the real clock, so the work it finds is made due "now": pending
e-mail rows whose ``next_attempt_at`` was a minute ago, or demo tasks put just before
their latest step. Redis is database 11 (RECTIFY_TEST_REDIS), flushed before and after
each test; every worker's process group is SIGKILLed at teardown. Redis unreachable:
skipped locally, failed under CI=true.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

import config
from app.db import Database
from app.domain.deadlines import CHINA
from app.domain.reminders import Item, Policy, steps_between
from app.domain.workcalendar import WorkCalendar
from app.domain.workflow import OPEN_STATES
from app.models import Notification, Plan, Task, TaskEvent
from app.services.calendar import load_calendar
from app.services.delivery import CLAIM_BATCH, LEASE
from app.services.sweep import item_of, policy_for
from tests.integration.celery_fixtures import (
    MailServer,
    Worker,
    celery_client,
    email_keys,
    email_status,
    expire_leases,
    insert_pending_emails,
    mail_server,  # noqa: F401 (fixture)
    redis_db,  # noqa: F401 (fixture)
    settle,
    wait_for,
    worker_env,
)

CHUNK = 100  # ids per rectify.deliver task, as workers/tasks.py enqueues them
postgres_only = pytest.mark.parametrize("backend", ["postgres"])


@dataclass
class Stack:
    """One database, one Redis database, one SMTP server, and the workers started on them."""

    url: str
    db: Database
    mail: MailServer
    redis: object
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.at = last_send_window_instant(datetime.now(UTC))
        self.client = celery_client()
        self.env = worker_env(self.url, self.mail.port, self.tmp / "instance")

    @property
    def rec(self):
        return self.mail.recorder

    def start_worker(self, concurrency: int = 2) -> Worker:
        n = len(self.workers) + 1
        worker = Worker(self.env, self.tmp / f"worker{n}.log", f"w{n}", concurrency)
        self.workers.append(worker)
        return worker.wait_ready()

    def tick(self) -> None:
        self.client.send_task("rectify.tick", kwargs={"at": self.at.isoformat()})

    def deliver(self, ids: list[int]) -> None:
        for start in range(0, len(ids), CHUNK):
            self.client.send_task("rectify.deliver", args=[ids[start : start + CHUNK]])

    def status(self) -> dict[str, int]:
        return email_status(self.db)

    def count(self, task: str, what: str) -> int:
        return sum(w.count(task, what) for w in self.workers)

    def live_workers_idle(self) -> bool:
        return all(w.idle() for w in self.workers if not w.killed)

    def wait_all_delivered(self, expected: int, timeout: float = 60) -> None:
        """Until no e-mail row is pending or sending, at least ``expected`` are sent, every
        sent row has reached the server and the live workers have finished their tasks."""

        def done() -> bool:
            st = self.status()
            if st.get("pending", 0) or st.get("sending", 0) or st.get("sent", 0) < expected:
                return False
            return self.rec.total >= st["sent"] and self.live_workers_idle()

        wait_for(done, timeout, f"{expected} e-mails to be delivered (status now {self.status()})")

    def assert_each_sent_row_arrived_once(self) -> set[str]:
        settle(lambda: self.rec.total, quiet=0.5, timeout=10)  # a late duplicate would show up here
        dups = self.rec.duplicates()
        assert dups == {}, f"{len(dups)} keys arrived more than once, e.g. {list(dups.items())[:3]}"
        sent = email_keys(self.db, "sent")
        assert set(self.rec.keys) == sent
        assert self.rec.total == len(sent)
        return sent


@contextmanager
def running_stack(db_url: str, redis, mail: MailServer, tmp_path: Path) -> Iterator[Stack]:
    """A Stack on ``db_url``; at the end every worker is SIGKILLed and the server's faults are cleared."""
    db = Database(db_url)
    s = Stack(db_url, db, mail, redis, tmp_path)
    try:
        yield s
    finally:
        mail.recorder.release()
        mail.recorder.on_taken = None
        for w in s.workers:
            w.kill()
        s.client.close()
        db.dispose()


@pytest.fixture
def stack(redis_db, db_url, mail_server, tmp_path) -> Iterator[Stack]:  # noqa: F811
    with running_stack(db_url, redis_db, mail_server, tmp_path) as s:
        yield s


def quiet_demo_schedule(db: Database) -> None:
    """The demo's tasks have been due since June 2022: on the real clock a sweep would walk
    four years of nags. Tests that only want their own outbox rows switch the demo off."""
    with db.transaction() as s:
        s.execute(update(Task).values(next_action_at=None, ack_next_action_at=None))


def make_demo_tasks_due(stack: Stack, now: datetime, escalate: bool = False) -> dict[int, int]:
    """Put each open demo task just before its latest step at or before ``now``, so that a
    sweep on the real clock finds exactly that step. With ``escalate``, dated tasks get a
    recent due date whose latest step is an escalation. Returns {task id: its step's level
    if it is an escalation, else 0}."""
    defaults = config.TestConfig(stack.url, stack.tmp / "cfg").REMINDER_DEFAULTS
    today = now.astimezone(CHINA).date()
    due: dict[int, int] = {}
    with stack.db.transaction() as s:
        cal = load_calendar(s)
        plans = {p.id: p for p in s.scalars(select(Plan))}
        for task in s.scalars(select(Task).where(Task.state.in_(OPEN_STATES)).order_by(Task.id)):
            policy = policy_for(plans[task.plan_id], defaults)
            item = item_of(task.deadline_kind, task.due_at, task.active_since)
            steps = steps_between(item, policy, cal, now - timedelta(days=20), now)
            if escalate and task.deadline_kind == "date":
                for back in range(1, 30):
                    candidate = Item("date", today - timedelta(days=back), task.active_since)
                    found = steps_between(candidate, policy, cal, now - timedelta(days=20), now)
                    if found and found[-1].kind == "escalate":
                        task.due_at = datetime.combine(candidate.due_on, time(23, 59, 59), tzinfo=CHINA)
                        steps = found
                        break
            if not steps:
                task.next_action_at = None
                continue
            task.swept_until = steps[-1].at - timedelta(seconds=1)
            task.next_action_at = steps[-1].at
            due[task.id] = steps[-1].level if steps[-1].kind == "escalate" else 0
    return due


def wait_swept(stack: Stack, now: datetime) -> None:
    def swept() -> bool:
        with stack.db.transaction() as s:
            return s.scalar(select(Task.id).where(Task.next_action_at <= now).limit(1)) is None

    wait_for(swept, 60, "the worker's sweep")


# --- (a) a tick enqueued through Celery -----------------------------------------------------------------


def test_a_tick_sent_through_celery_sweeps_due_tasks_and_delivers_every_message_once(stack):
    now = stack.at
    due = make_demo_tasks_due(stack, now)
    insert_pending_emails(stack.db, 200, "bulk-a")
    bulk = email_keys(stack.db)
    assert len(due) > 30 and len(bulk) == 200

    worker = stack.start_worker()
    # each pool process inherits the start-up heap frozen (app/heap.py): the app's objects
    frozen = [int(n) for n in re.findall(r"pool process ready \(start-up heap frozen: (\d+) objects\)", worker.log())]
    assert len(frozen) == 2 and min(frozen) > 50_000, frozen
    stack.tick()

    wait_swept(stack, now)
    stack.wait_all_delivered(expected=len(bulk) + len(due))
    sent = stack.assert_each_sent_row_arrived_once()
    assert bulk <= sent
    swept = {k for k in sent if k.startswith("task:")}
    assert {int(k.split(":")[1]) for k in swept} == set(due)  # the worker's own sweep wrote them
    assert stack.status() == {"sent": len(sent)}


# --- (b) a worker SIGKILLed in the middle of delivery ---------------------------------------------------


@postgres_only
def test_b_a_worker_killed_mid_delivery_loses_nothing_and_sends_nothing_twice(stack):
    quiet_demo_schedule(stack.db)
    insert_pending_emails(stack.db, 1000, "kill")
    keys = email_keys(stack.db)
    stack.rec.block_after(500)  # the 501st message (and any after it) waits, unanswered
    first = stack.start_worker()
    stack.tick()

    wait_for(lambda: stack.rec.total == 500 and stack.rec.blocked == 2, 60, "both pool processes held at 500")
    first.kill()

    st = stack.status()
    assert st["sent"] == 500  # each verdict was committed as soon as the server accepted the message
    in_hand = st["sending"]  # the dead worker's current claims (one per pool process), lease still running
    assert 0 < in_hand <= 2 * CLAIM_BATCH
    assert st["pending"] == 500 - in_hand
    wait_for(lambda: stack.rec.blocked == 0, 10, "the server to drop the dead worker's unanswered messages")
    stack.rec.release()
    assert stack.rec.total == 500 and len(stack.rec.aborted) == 2

    # The tasks still queued go to a new worker; the dead one's unacknowledged tasks stay
    # in Redis's unacked set until the visibility timeout (1 h): the rows of theirs it had
    # not claimed yet are picked up by the next tick, as beat sends one every minute.
    stack.start_worker()
    wait_for(lambda: stack.rec.total > 500 and stack.live_workers_idle(), 60, "the queued chunks to be sent")
    settle(lambda: (stack.rec.total, stack.live_workers_idle()), quiet=1.0, timeout=60)
    stack.tick()
    wait_for(
        lambda: stack.status().get("pending", 0) == 0 and stack.live_workers_idle(), 60, "the tick to send the rest"
    )
    assert stack.status() == {"sent": 1000 - in_hand, "sending": in_hand}  # untouched while leased
    with stack.db.transaction() as s:
        lease_until = s.scalar(select(func.min(Notification.lease_until)).where(Notification.status == "sending"))
        marked = set(s.scalars(select(Notification.key).where(Notification.in_flight_at.is_not(None))))
    assert lease_until > datetime.now(UTC) + LEASE - timedelta(minutes=1)
    assert marked == set(stack.rec.aborted)  # only the two messages in flight at the kill are in doubt

    stuck = expire_leases(stack.db)  # as if LEASE had passed
    assert len(stuck) == in_hand
    stack.deliver(sorted(stuck))

    stack.wait_all_delivered(expected=1000)
    sent = stack.assert_each_sent_row_arrived_once()
    assert sent == keys
    assert set(stack.rec.aborted) <= sent  # the two messages in flight at the kill went out later, once
    with stack.db.transaction() as s:
        flagged = set(s.scalars(select(Notification.key).where(Notification.possibly_sent_twice)))
    assert flagged == set(stack.rec.aborted)  # we could not know the server had dropped them: marked, not hidden


# --- (c) Redis flushed while delivery tasks are queued --------------------------------------------------


@postgres_only
def test_c_tasks_lost_with_a_flushed_redis_are_enqueued_again_by_the_next_tick(stack):
    quiet_demo_schedule(stack.db)
    insert_pending_emails(stack.db, 1000, "flush")
    keys = email_keys(stack.db)
    stack.rec.block_after(0)  # hold the first message of each pool process
    worker = stack.start_worker()
    stack.tick()

    wait_for(lambda: stack.rec.blocked == 2, 30, "both pool processes to be sending")
    wait_for(lambda: worker.count("rectify.tick", "succeeded") == 1, 10, "the tick to finish")
    queued = stack.redis.llen("celery")
    assert queued == 1000 // CHUNK - 2  # two chunks are running, the rest wait in Redis
    stack.redis.flushdb()
    stack.rec.release()

    wait_for(lambda: stack.status().get("sending", 0) == 0 and worker.idle(), 30, "the running chunks to finish")
    settle(stack.status, quiet=1.0, timeout=10)
    assert stack.status() == {"sent": 2 * CHUNK, "pending": 1000 - 2 * CHUNK}  # the queued chunks are gone
    assert stack.rec.total == 2 * CHUNK

    stack.tick()  # what beat does every RECTIFY_SWEEP_SECONDS

    stack.wait_all_delivered(expected=1000)
    assert stack.assert_each_sent_row_arrived_once() == keys


# --- (d) two beats --------------------------------------------------------------------------------------


@postgres_only
def test_d_two_ticks_at_the_same_time_escalate_once_and_send_each_message_once(stack):
    now = stack.at
    due = make_demo_tasks_due(stack, now, escalate=True)
    escalating = {tid: level for tid, level in due.items() if level}
    assert len(escalating) > 20
    insert_pending_emails(stack.db, 500, "beats")
    worker = stack.start_worker()  # both pool processes up and idle: the two ticks go one to each
    stack.tick()
    stack.tick()
    wait_for(lambda: worker.count("rectify.tick", "succeeded") == 2, 30, "both ticks")
    wait_swept(stack, now)
    stack.wait_all_delivered(expected=500 + len(due))
    sent = stack.assert_each_sent_row_arrived_once()

    with stack.db.transaction() as s:
        events = s.execute(
            select(TaskEvent.task_id, func.count()).where(TaskEvent.kind == "escalation").group_by(TaskEvent.task_id)
        ).all()
        levels = dict(s.execute(select(Task.id, Task.escalation_level).where(Task.id.in_(escalating))).all())
    assert dict(events) == dict.fromkeys(escalating, 1)
    assert levels == escalating
    ran_in = set(re.findall(r"INFO/(ForkPoolWorker-\d+)\] Task rectify\.tick\[[0-9a-f-]+\] succeeded", worker.log()))
    assert len(ran_in) == 2  # the two ticks ran side by side, one per pool process
    one_tick = -(-len(sent) // CHUNK)  # the most chunks a single tick can enqueue for these rows
    assert worker.count("rectify.deliver", "received") > one_tick  # both ticks handed rows on, each claimed once


@postgres_only
def test_e_a_worker_killed_mid_delivery_of_a_sweep_with_notices_leaves_each_item_in_one_notice_sent_once(stack):
    now = stack.at
    escalating = {t for t, level in make_demo_tasks_due(stack, now, escalate=True).items() if level}
    stack.rec.block_after(3)  # the 4th mail (and any after it) waits, unanswered
    first = stack.start_worker()
    stack.tick()
    wait_for(lambda: stack.rec.messages == 3 and stack.rec.blocked >= 1, 60, "a pool process held at the 4th mail")
    first.kill()
    wait_for(lambda: stack.rec.blocked == 0, 10, "the server to drop the dead worker's unanswered messages")
    stack.rec.release()

    stack.start_worker()
    expire_leases(stack.db)  # as if the lease had passed
    stack.tick()
    stack.wait_all_delivered(expected=3)
    sent = stack.assert_each_sent_row_arrived_once()  # notices included: each arrived once

    with stack.db.transaction() as s:
        notices = list(s.scalars(select(Notification).where(Notification.kind == "escalation_notice")))
        folded = dict(
            s.execute(select(Notification.id, Notification.item_id).where(Notification.status == "summarized")).all()
        )
        per_item = s.execute(
            select(Notification.id, Notification.item_id, Notification.status).where(
                Notification.channel == "email", Notification.kind == "escalate", Notification.item_type == "task"
            )
        ).all()
    carried = [i for n in notices for i in n.data["rows"]]
    assert len(notices) >= 2 and {n.key for n in notices} <= sent
    assert sorted(carried) == sorted(folded)  # each folded row in exactly one notice, and that notice sent
    assert {status for _, _, status in per_item} == {"sent", "summarized"}
    assert {item for _, item, _ in per_item} == escalating  # every escalated task's mail went, alone or listed


# --- gaps found while writing these tests ---------------------------------------------------------------


@postgres_only
def test_rows_left_sending_by_a_dead_worker_are_sent_by_a_tick_once_their_lease_ran_out(stack):
    quiet_demo_schedule(stack.db)
    ids = insert_pending_emails(stack.db, 100, "stuck")
    with stack.db.transaction() as s:  # the state a SIGKILLed worker leaves behind, lease already over
        s.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(status="sending", claimed_by="dead-host:1:1", attempts=1, lease_until=now_minus(seconds=1))
        )
    worker = stack.start_worker()
    stack.tick()

    wait_for(lambda: worker.count("rectify.tick", "succeeded") == 1, 30, "the tick")
    settle(stack.status, quiet=1.5, timeout=30)
    assert stack.status() == {"sent": 100}


def last_send_window_instant(real_now: datetime) -> datetime:
    """The sweep instant the worker is told to use: now if it is inside the send window
    (working days 09:00-17:30 China time), else 17:00 of the last working day before,
    so the tests pass at any hour of the day (a sweep outside the window sends nothing)."""
    cal = WorkCalendar()
    local = real_now.astimezone(CHINA)
    if cal.is_workday(local.date()) and time(9, 1) <= local.time() < time(17, 29):
        return real_now
    day = local.date() if local.time() >= time(17, 29) else local.date() - timedelta(days=1)
    while not cal.is_workday(day):
        day -= timedelta(days=1)
    return datetime.combine(day, time(17, 0), tzinfo=CHINA).astimezone(UTC)


def now_minus(**kw) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)


@postgres_only
def test_each_pool_process_claims_rows_under_its_own_name(stack):
    quiet_demo_schedule(stack.db)
    ids = insert_pending_emails(stack.db, 2 * CHUNK, "names")
    stack.rec.block_after(0)
    stack.start_worker()
    stack.deliver(ids)

    wait_for(lambda: stack.rec.blocked == 2, 30, "both pool processes to be sending")
    stack.rec.release()
    stack.wait_all_delivered(expected=2 * CHUNK)

    with stack.db.transaction() as s:
        names = set(s.scalars(select(Notification.claimed_by).where(Notification.id.in_(ids))))
    assert len(names) == 2, names


# --- the 签收 ladder through Celery: two ticks at once, and a tick lost with a flushed Redis -------------


def make_demo_acks_due(stack: Stack, now: datetime, limit: int = 40) -> set[int]:
    """The deadline ladders off; ``limit`` demo tasks awaiting 签收 get a day to acknowledge
    in the recent past whose latest ack step at or before ``now`` is an escalation, and are
    due just then. Returns their ids."""
    quiet_demo_schedule(stack.db)
    policy = policy_for_defaults(stack).for_ack()
    today = now.astimezone(CHINA).date()
    due: set[int] = set()
    with stack.db.transaction() as s:
        cal = load_calendar(s)
        pending = select(Task).where(Task.state == "identified", Task.receipt == "pending").order_by(Task.id)
        for task in s.scalars(pending.limit(limit)):
            since = now - timedelta(days=30)
            for back in range(1, 30):
                item = Item("date", today - timedelta(days=back), since, "ack")
                found = steps_between(item, policy, cal, now - timedelta(days=20), now)
                if found and found[-1].kind == "escalate":
                    task.ack_due_at = datetime.combine(item.due_on, time(23, 59, 59), tzinfo=CHINA)
                    task.ack_since, task.ack_swept_until = since, found[-1].at - timedelta(seconds=1)
                    task.ack_next_action_at = found[-1].at
                    due.add(task.id)
                    break
    return due


def policy_for_defaults(stack: Stack) -> Policy:
    return Policy.from_dict(config.TestConfig(stack.url, stack.tmp / "cfg").REMINDER_DEFAULTS)


def wait_acks_swept(stack: Stack, now: datetime) -> None:
    def swept() -> bool:
        with stack.db.transaction() as s:
            return s.scalar(select(Task.id).where(Task.ack_next_action_at <= now).limit(1)) is None

    wait_for(swept, 60, "the worker's sweep of the ack ladders")


def ack_mail(stack: Stack) -> int:
    with stack.db.transaction() as s:
        rows = select(func.count()).where(Notification.item_type == "ack", Notification.channel == "email")
        return s.scalar(rows.where(Notification.status != "folded"))


def ack_climbs(stack: Stack, tasks: set[int]) -> dict[int, int]:
    with stack.db.transaction() as s:
        rows = select(TaskEvent.task_id, func.count()).where(TaskEvent.kind == "ack_escalation")
        return dict(s.execute(rows.where(TaskEvent.task_id.in_(tasks)).group_by(TaskEvent.task_id)).all())


@postgres_only
def test_two_ticks_at_once_climb_each_ack_ladder_once_and_send_each_message_once(stack):
    tasks = make_demo_acks_due(stack, stack.at)
    assert len(tasks) >= 20
    stack.tick()
    stack.tick()  # both queued before the worker starts: its two processes take one each
    worker = stack.start_worker()
    wait_for(lambda: worker.count("rectify.tick", "succeeded") == 2, 30, "both ticks")
    wait_acks_swept(stack, stack.at)
    mails = ack_mail(stack)
    assert mails >= len(tasks)
    stack.wait_all_delivered(expected=mails)
    sent = stack.assert_each_sent_row_arrived_once()
    assert sum(key.startswith("ack:") for key in sent) == mails
    assert set(ack_climbs(stack, tasks).values()) <= {1, 2, 3} and set(ack_climbs(stack, tasks)) == tasks
    assert all(n == 1 for n in levels_recorded(stack, tasks).values())  # each level of each task recorded once


def levels_recorded(stack: Stack, tasks: set[int]) -> dict[tuple[int, int], int]:
    with stack.db.transaction() as s:
        found: dict[tuple[int, int], int] = {}
        rows = select(TaskEvent.task_id, TaskEvent.data).where(
            TaskEvent.kind == "ack_escalation", TaskEvent.task_id.in_(tasks)
        )
        for tid, data in s.execute(rows):
            found[(tid, data["level"])] = found.get((tid, data["level"]), 0) + 1
        return found


@postgres_only
def test_an_ack_tick_lost_with_a_flushed_redis_is_done_by_the_next_tick_once(stack):
    tasks = make_demo_acks_due(stack, stack.at, limit=20)
    stack.tick()
    stack.redis.flushdb()  # the tick is lost before any worker took it
    worker = stack.start_worker()
    stack.tick()
    wait_for(lambda: worker.count("rectify.tick", "succeeded") == 1, 30, "the second tick")
    wait_acks_swept(stack, stack.at)
    mails = ack_mail(stack)
    stack.wait_all_delivered(expected=mails)
    sent = stack.assert_each_sent_row_arrived_once()
    assert sum(key.startswith("ack:") for key in sent) == mails >= len(tasks)
    assert all(n == 1 for n in levels_recorded(stack, tasks).values())
