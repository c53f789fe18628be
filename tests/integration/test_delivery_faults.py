"""Delivery under faults injected from outside, with real processes: `celery worker`
subprocesses on Redis and PostgreSQL, an aiosmtpd server that can be slow, answer one
message after the client's timeout, or kill the worker (or stop its database) at the
moment it has taken a message and not yet answered.

Leases, timeouts and claim batches are short here (seconds), so that the faults show
within a test's time: a claim outlives its lease, a message outlives the timeout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from app.db import Database
from app.models import Notification
from config import TestConfig
from tests.integration import test_celery
from tests.integration.celery_fixtures import (
    Cluster,
    cluster,  # noqa: F401 (fixture)
    insert_pending_emails,
    mail_server,  # noqa: F401 (fixture)
    redis_db,  # noqa: F401 (fixture)
    settle,
    wait_for,
)
from tests.integration.test_celery import Stack, quiet_demo_schedule, running_stack
from tests.integration.test_pages import login

postgres_only = pytest.mark.parametrize("backend", ["postgres"])
stack = test_celery.stack  # the fixture: workers, Redis and the mail server on the test's database


def short_times(stack: Stack, timeout: float, lease: float, batch: int) -> None:
    stack.env.update(
        RECTIFY_SMTP_TIMEOUT=str(timeout),
        RECTIFY_ROBOT_TIMEOUT=str(timeout),
        RECTIFY_DELIVERY_LEASE_SECONDS=str(lease),
        RECTIFY_DELIVERY_BATCH=str(batch),
    )


def rows_by_key(db: Database) -> dict[str, Notification]:
    s = db.session()
    try:
        found = {r.key: r for r in s.scalars(select(Notification).where(Notification.channel == "email"))}
        s.expunge_all()
        return found
    finally:
        s.rollback()


def rows_by_id(db: Database) -> dict[int, Notification]:
    return {r.id: r for r in rows_by_key(db).values()}


def the_admin_is_told(stack: Stack, ids: set[int], words: str) -> None:
    """The admin's page of messages to look at lists exactly these rows of the test's mail,
    each in plain words, and the API's list names them too."""
    app = create_app(TestConfig(stack.url, stack.tmp / "admin-instance"))
    try:
        web, api = app.test_client(), app.test_client()
        assert login(web, "admin").status_code == 302
        page = web.get("/admin/messages").get_data(as_text=True)
        mine = set(rows_by_id(stack.db))
        listed = {int(m) for m in re.findall(r'<tr data-state="\w+" data-id="(\d+)"', page)} & mine
        assert listed == ids and page.count(words) >= len(ids), page
        token = api.post("/api/v1/auth/token", json={"username": "admin", "password": "rectify-demo"}).get_json()
        found = api.get("/api/v1/admin/failed-notifications", headers={"Authorization": f"Bearer {token['token']}"})
        assert {n["id"] for n in found.get_json()} & mine == ids
    finally:
        app.extensions["rectify"].db.dispose()


def make_due_now(db: Database, keys: set[str]) -> None:
    """What the passing of the backoff would do for these rows."""
    with db.transaction() as s:
        s.execute(
            update(Notification)
            .where(Notification.key.in_(keys), Notification.status == "pending")
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


@postgres_only
def test_a_mail_server_slower_than_the_lease_with_two_workers_sends_every_message_once(stack):
    quiet_demo_schedule(stack.db)
    ids = insert_pending_emails(stack.db, 60, "slow")
    short_times(stack, timeout=2, lease=5, batch=10)
    stack.rec.delay = 0.6  # a claim of 10 takes 6 s: longer than its 5 s lease
    stack.start_worker()
    stack.start_worker()

    for start in range(0, len(ids), 15):  # every chunk twice, as two ticks would enqueue it: both workers race
        stack.deliver(ids[start : start + 15])
        stack.deliver(ids[start : start + 15])

    stack.wait_all_delivered(expected=60, timeout=90)
    sent = stack.assert_each_sent_row_arrived_once()
    assert len(sent) == 60
    rows = rows_by_key(stack.db)
    assert {(r.status, r.attempts, r.possibly_sent_twice) for r in rows.values()} == {("sent", 1, False)}
    assert len({r.claimed_by for r in rows.values()}) >= 2  # both workers did deliver


@postgres_only
def test_a_message_answered_after_the_timeout_goes_at_most_twice_with_one_message_id_and_holds_up_nobody(stack):
    quiet_demo_schedule(stack.db)
    ids = insert_pending_emails(stack.db, 40, "late")
    keys = sorted(rows_by_key(stack.db), key=lambda k: int(k.split(":")[1]))
    slow = keys[4]  # in the middle of the first claim
    short_times(stack, timeout=1, lease=4, batch=10)
    stack.rec.late[slow] = 2.5  # taken, but answered after the client gave up
    stack.start_worker()

    stack.deliver(ids)
    wait_for(lambda: stack.status().get("sent", 0) == 39 and stack.live_workers_idle(), 60, "the other 39")
    first = rows_by_key(stack.db)[slow]
    assert (first.status, first.unconfirmed, first.attempts) == ("pending", 1, 1)
    assert "no reply" in first.last_error

    make_due_now(stack.db, {slow})
    stack.deliver([first.id])
    wait_for(lambda: rows_by_key(stack.db)[slow].status != "pending", 30, "the second try")

    settle(lambda: stack.rec.total, quiet=1.0, timeout=10)
    rows = rows_by_key(stack.db)
    assert (rows[slow].status, rows[slow].unconfirmed, rows[slow].possibly_sent_twice) == ("unconfirmed", 2, True)
    assert stack.rec.keys[slow] == 2 and len(set(stack.rec.message_ids[slow])) == 1  # twice, one Message-ID
    others = {k: r for k, r in rows.items() if k != slow}
    assert {(r.status, r.attempts) for r in others.values()} == {("sent", 1)}  # none failed, none waited a try out
    assert {k: n for k, n in stack.rec.keys.items() if k != slow} == dict.fromkeys(others, 1)
    assert stack.status() == {"sent": 39, "unconfirmed": 1}  # nothing pending, nothing failed
    the_admin_is_told(stack, {rows[slow].id}, "两次都没有等到确认：对方可能已经收到，也可能没有")


@postgres_only
@pytest.mark.parametrize("per_item", [1, 3], ids=["one-each", "three-per-mail"])
def test_a_worker_killed_after_the_server_took_a_message_sends_at_most_one_more_copy_marked_with_one_message_id(
    stack, per_item
):
    """Also for mails to several people (an item's step to three of a unit: one mail,
    three rows, marked and answered together): a kill costs that one mail once more, to
    each of its recipients, with the Message-ID it had."""
    quiet_demo_schedule(stack.db)
    insert_pending_emails(stack.db, 150, "kill9", per_item=per_item)
    short_times(stack, timeout=1, lease=3, batch=10)
    kills = (30, 70, 110)
    ahead = list(kills)  # rows taken so far at which to kill (a mail of three may step over the number)

    def kill_before_answering(n: int, _key: str) -> None:
        if ahead and n >= ahead[0]:
            ahead.pop(0)
            stack.workers[-1].kill()  # SIGKILL: the server has the message, the worker never hears "250"

    stack.rec.on_taken = kill_before_answering
    for _ in kills:
        worker = stack.start_worker(concurrency=1)  # one message in flight per worker process
        time.sleep(3.5)  # the dead worker's lease runs out
        stack.tick()  # as beat does every minute: pending rows and expired claims are handed on
        wait_for(lambda w=worker: w.killed, 60, "the kill")
    stack.start_worker(concurrency=1)
    time.sleep(3.5)
    stack.tick()

    stack.wait_all_delivered(expected=150, timeout=90)
    settle(lambda: stack.rec.total, quiet=1.0, timeout=10)
    rows = rows_by_key(stack.db)
    twice = {k for k, n in stack.rec.keys.items() if n > 1}
    assert set(stack.rec.keys) == set(rows) and set(stack.rec.keys.values()) <= {1, 2}
    assert stack.rec.messages < 150 if per_item > 1 else stack.rec.messages >= 150  # one mail for three rows
    copies = {stack.rec.message_ids[k][0] for k in twice}
    assert 0 < len(copies) <= len(kills)  # at most one extra copy per kill (a mail: its rows)
    assert all(len(set(stack.rec.message_ids[k])) == 1 for k in twice)  # the copy carries the same Message-ID
    assert {k for k, r in rows.items() if r.possibly_sent_twice} == twice  # and the row says so
    assert {r.status for r in rows.values()} == {"sent"}
    the_admin_is_told(stack, {rows[k].id for k in twice}, "收件人可能收到了两份相同的消息")


@pytest.fixture
def cluster_db(cluster: Cluster) -> Iterator[str]:  # noqa: F811
    name = f"faults_{int(time.time() * 1000)}"
    cluster.sql(f"CREATE DATABASE {name} TEMPLATE demo")
    yield cluster.url(name)


@pytest.fixture
def cluster_stack(redis_db, cluster_db, mail_server, tmp_path) -> Iterator[Stack]:  # noqa: F811
    with running_stack(cluster_db, redis_db, mail_server, tmp_path) as s:
        yield s


def test_the_database_stopped_during_delivery_costs_at_most_one_copy_and_delivery_resumes_without_a_restart(
    cluster,  # noqa: F811 (the fixture)
    cluster_stack,
):
    stack = cluster_stack
    quiet_demo_schedule(stack.db)
    insert_pending_emails(stack.db, 120, "pgstop")
    short_times(stack, timeout=1, lease=3, batch=10)
    stopped = []

    def stop_the_database(n: int, _key: str) -> None:
        if n == 40:
            cluster.stop_immediately()  # the server has message 40; its verdict can no longer be committed
            stopped.append(time.monotonic())

    stack.rec.on_taken = stop_the_database
    worker = stack.start_worker(concurrency=1)  # one message in flight per worker process
    stack.tick()
    wait_for(lambda: stopped and worker.count("rectify.deliver", "raised") >= 1, 60, "delivery to fail on the database")
    assert stack.rec.total == 40
    time.sleep(1)
    cluster.start()
    time.sleep(3.5)  # the lease of the interrupted claim runs out
    stack.tick()  # the same worker, never restarted

    stack.wait_all_delivered(expected=120, timeout=90)
    settle(lambda: stack.rec.total, quiet=1.0, timeout=10)
    rows = rows_by_key(stack.db)
    twice = {k for k, n in stack.rec.keys.items() if n > 1}
    assert set(stack.rec.keys) == set(rows) and twice <= {stack.rec.order[39]}  # only the one in flight
    assert {k for k, r in rows.items() if r.possibly_sent_twice} == {stack.rec.order[39]}
    assert all(len(set(stack.rec.message_ids[k])) == 1 for k in twice)
    assert {r.status for r in rows.values()} == {"sent"}
    assert worker.proc.poll() is None  # still the first worker process


def test_pages_and_the_api_answer_503_while_the_database_is_down_and_200_after_without_a_restart(
    cluster,  # noqa: F811 (the fixture)
    cluster_db,
    tmp_path,
):
    app = create_app(TestConfig(cluster_db, tmp_path / "instance"))
    web, web_en, api = app.test_client(), app.test_client(), app.test_client()
    assert login(web, "smx_head").status_code == 302 and login(web_en, "smx_deputy").status_code == 302
    web_en.get("/lang/en")
    token = api.post("/api/v1/auth/token", json={"username": "smx_head", "password": "rectify-demo"}).get_json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert web.get("/tasks").status_code == 200 and api.get("/api/v1/tasks", headers=headers).status_code == 200

    cluster.stop_immediately()
    try:
        page = web.get("/tasks")
        answer = api.get("/api/v1/tasks", headers=headers)
        english = web_en.get("/tasks")
    finally:
        cluster.start()

    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "系统暂时无法连接数据库" in page.get_data(as_text=True)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert answer.get_json()["error"] == "database_unavailable" and "稍后再试" in answer.get_json()["message"]
    assert english.status_code == 503 and "cannot reach its database" in english.get_data(as_text=True)

    assert web.get("/tasks").status_code == 200  # the same app, the same pool: nothing restarted
    assert api.get("/api/v1/tasks", headers=headers).status_code == 200
    app.extensions["rectify"].db.dispose()
