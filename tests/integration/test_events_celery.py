"""Workflow events through real Celery: a `celery worker` subprocess on Redis and PostgreSQL and
a recording aiosmtpd server (tests/integration/test_celery.py's stack). Redis is flushed while
delivery tasks for event mail wait in it, or the worker is SIGKILLed with event mail in hand;
either way every event mail arrives exactly once.

The worker runs on the real clock, so the handlers ask for their "task assigned" mail at once
(the send window might be closed when the test runs); the tasks' own reminders are switched
off so that only event mail is in the outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from app.models import Notification, Plan, User
from app.schemas import ProblemIn
from app.services import plans
from tests.integration.celery_fixtures import (
    expire_leases,
    mail_server,  # noqa: F401 (fixture)
    redis_db,  # noqa: F401 (fixture)
    settle,
    wait_for,
)
from tests.integration.test_celery import CHUNK, postgres_only, quiet_demo_schedule, stack  # noqa: F401 (fixture)

PROBLEMS = 50  # × 7 counties: 350 "assigned" mails, four delivery chunks


def assigned_mail(db, problems: int) -> set[str]:
    """``problems`` common problems for the seven Sanmenxia counties, through the service: one
    "task assigned" mail per problem and county handler, asked for at once. Returns their keys."""
    db.outbox.update(channels=frozenset({"inbox", "robot", "email"}), base_url="http://rectify.example.cn")
    with db.transaction() as s:
        s.execute(update(User).where(User.position == "handler").values(event_prefs={"assigned": "instant"}))
        deputy = s.scalar(select(User).where(User.username == "smx_deputy"))
        plan = s.scalar(select(Plan).where(Plan.doc_number == "三建〔2022〕187号"))
        deputy_id, plan_id, issuer = deputy.id, plan.id, plan.issuing_unit_id
    actor = db.session().get(User, deputy_id)
    for n in range(problems):
        problem = ProblemIn(nature="common", title=f"举一反三排查问题{n}", deadline="立行立改", all_units_under=issuer)
        plans.create_problem(db, actor, plan_id, problem, datetime.now(UTC))
    quiet_demo_schedule(db)  # the new tasks' own daily reminders are not this test's subject
    with db.transaction() as s:
        pending = Notification.kind == "event", Notification.channel == "email", Notification.status == "pending"
        keys = set(s.scalars(select(Notification.key).where(*pending)))
    assert len(keys) == problems * 7
    return keys


@postgres_only
def test_event_mail_whose_delivery_tasks_were_lost_with_a_flushed_redis_goes_out_once_after_the_next_tick(stack):  # noqa: F811
    events = assigned_mail(stack.db, PROBLEMS)
    stack.rec.block_after(0)  # each pool process holds its first message
    worker = stack.start_worker()
    stack.tick()
    wait_for(lambda: stack.rec.blocked == 2, 30, "both pool processes to be sending")
    wait_for(lambda: worker.count("rectify.tick", "succeeded") == 1, 10, "the tick to finish")
    chunks = -(-len(events) // CHUNK)
    assert stack.redis.llen("celery") == chunks - 2  # two chunks running, the rest waiting in Redis
    stack.redis.flushdb()
    stack.rec.release()

    wait_for(lambda: stack.status().get("sending", 0) == 0 and worker.idle(), 30, "the running chunks to finish")
    settle(stack.status, quiet=1.0, timeout=10)
    assert stack.status() == {"sent": 2 * CHUNK, "pending": len(events) - 2 * CHUNK}  # the queued chunks are gone

    stack.tick()  # what beat does every RECTIFY_SWEEP_SECONDS
    stack.wait_all_delivered(expected=len(events))
    assert stack.assert_each_sent_row_arrived_once() == events


@postgres_only
def test_event_mail_in_the_hands_of_a_worker_killed_mid_delivery_goes_out_once_after_its_lease(stack):  # noqa: F811
    events = assigned_mail(stack.db, PROBLEMS)
    stack.rec.block_after(150)  # the 151st message (and any after it) waits, unanswered
    first = stack.start_worker()
    stack.tick()
    wait_for(lambda: stack.rec.total == 150 and stack.rec.blocked == 2, 60, "both pool processes held at 150")
    first.kill()

    st = stack.status()
    assert st["sent"] == 150  # each verdict was committed as soon as the server accepted the message
    in_flight = st["sending"]  # claimed by the dead worker, lease still running
    assert 0 < in_flight <= 2 * CHUNK
    wait_for(lambda: stack.rec.blocked == 0, 10, "the server to drop the dead worker's unanswered messages")
    stack.rec.release()

    stack.start_worker()
    # the dead worker claimed a small batch at a time: what it had not claimed yet is
    # pending without a task until the next tick hands it on, as beat does every minute
    wait_for(lambda: stack.live_workers_idle(), 60, "the queued chunks to be sent")
    stack.tick()
    wait_for(
        lambda: stack.status().get("pending", 0) == 0 and stack.live_workers_idle(), 60, "the tick to send the rest"
    )
    assert stack.status() == {"sent": len(events) - in_flight, "sending": in_flight}  # untouched while leased
    stuck = expire_leases(stack.db)  # as if LEASE had passed
    assert len(stuck) == in_flight
    stack.deliver(sorted(stuck))
    stack.wait_all_delivered(expected=len(events))
    assert stack.assert_each_sent_row_arrived_once() == events
