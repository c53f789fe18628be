"""Exactly once: racing sweeps, repeated beats, a crash mid-sweep, a mail server that is down,
racing deliverers and a worker killed with rows in hand, on SQLite and PostgreSQL.

Each test starts from a demo copy in which every demo task was fixed on the demo morning
(the "silent" quiet template), declares its own problems through the API, and counts what a
real aiosmtpd server and a real webhook receiver got, by the outbox key each message carries.

The problems, declared at 10:00 on Wed 2022-06-08 for all seven counties:
立行立改 (daily from Thu 06-09), 6月9日 (remind:day 06-09), 6月10日 (remind:1d 06-09) and
6月8日 (already due: escalate:1 on 06-09, escalate:2 on 06-13, escalate:3 on 06-15).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest

from app import jobs
from app.models import Notification
from app.services import delivery, sweep
from tests.integration import reminder_fixtures as fixtures
from tests.integration.reminder_fixtures import COUNTIES, Harness, china

mail, hooks, app, api, harness = fixtures.mail, fixtures.hooks, fixtures.app, fixtures.api, fixtures.harness
db_url = fixtures.quiet_db_url("silent")

DECLARED = china(2022, 6, 8, 10, 0)
JUNE_9 = china(2022, 6, 9)
DEADLINES = ("立行立改", "6月9日", "6月10日", "6月8日")
# per step and county: an inbox row and an e-mail for the handler and the deputy, and one webhook call
ROWS_PER_STEP = {"inbox": 2, "email": 2, "webhook": 1}


def declare(api, h: Harness, deadlines=DEADLINES, acknowledged: bool = True) -> list[int]:
    """One common problem per deadline, fanned out to the seven counties; returns the task ids.
    Unless ``acknowledged`` is false, the counties acknowledge them at once (签收)."""
    h.clock.now = DECLARED
    plan = api.get("/plans/1", "smx_deputy").get_json()
    before = {r.id for r in h.sql("SELECT id FROM tasks")}
    for n, deadline in enumerate(deadlines, start=1):
        r = api.post(
            "/plans/1/problems",
            "smx_deputy",
            json={
                "category": "工作落实方面",
                "nature": "common",
                "title": f"举一反三排查问题{n}（{deadline}）",
                "measures": "对照问题清单逐项整改",
                "deadline": deadline,
                "all_units_under": plan["issuing_unit_id"],
            },
        )
        assert r.status_code == 201, r.get_json()
    tasks = sorted(r.id for r in h.sql("SELECT id FROM tasks") if r.id not in before)
    assert len(tasks) == len(deadlines) * len(COUNTIES)
    if acknowledged:  # each county acknowledges its new tasks at once (签收全部): only the deadline ladder runs
        for county in COUNTIES:
            assert api.post("/plans/1/acknowledge", f"{county}_handler").status_code == 200
    h.deliver(DECLARED)  # the handlers hear of their new tasks (test_events.py); these tests count reminders
    h.mail.received.clear()
    h.hooks.received.clear()
    return tasks


def duplicate_rows(h: Harness) -> list:
    """(item, step, recipient, channel) written more than once: the question, not just the unique key."""
    return h.sql(
        "SELECT item_type, item_id, step, recipient_id, channel, count(*) AS n FROM notifications "
        "WHERE status <> 'folded' GROUP BY item_type, item_id, step, recipient_id, channel HAVING count(*) > 1"
    )


def channels_of(rows: list[Notification]) -> Counter:
    return Counter(r.channel for r in rows)


def mail_keys(h: Harness, rows: list[Notification]) -> set[str]:
    """The mails that carry these e-mail rows: each row's own, or for a row folded into its
    person's 督办 notice (``summarized``), that notice (and no row is in two notices)."""
    notices = h.rows(Notification.kind == "escalation_notice")
    carrier = {i: n.key for n in notices for i in n.data["rows"]}
    assert len(carrier) == sum(len(n.data["rows"]) for n in notices)
    return {carrier[r.id] if r.status == "summarized" else r.key for r in rows if r.channel == "email"}


def assert_each_mail_once(h: Harness, rows: list[Notification]) -> None:
    """Every e-mail row arrived exactly once (itself or in its notice), to its recipient;
    every webhook row was posted exactly once."""
    emails = mail_keys(h, rows)
    got = Counter(m.key for m in h.mail.received)
    assert set(got) == emails
    assert set(got.values()) <= {1}
    assert h.mail.duplicates() == {}
    calls = Counter(hook.key for hook in h.hooks.received)
    assert set(calls) == {r.key for r in rows if r.channel == "webhook"}
    assert set(calls.values()) <= {1}
    assert all(hook.signed for hook in h.hooks.received)


def run_together(n: int, work) -> list[BaseException]:
    """Run ``work(i)`` in n threads released at the same moment; return what they raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as err:  # collected and asserted on by the test
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


# --- (a) two sweeps at once -----------------------------------------------------------------------------------


def test_two_sweeps_at_the_same_instant_write_each_notification_once_and_it_is_delivered_once(harness, api):
    h = harness
    tasks = declare(api, h, DEADLINES * 2)  # 8 problems, 56 tasks due at 06-09 09:00
    h.clock.now = JUNE_9
    reports: list[jobs.TickReport] = []

    def tick(_i: int) -> None:
        with h.app.app_context():
            reports.append(jobs.tick(h.rt, JUNE_9))

    assert run_together(2, tick) == []
    rows = h.rows(Notification.item_type == "task")
    assert duplicate_rows(h) == []
    steps = len(tasks)  # one step each: daily, remind:day, remind:1d or escalate:1
    assert channels_of(rows) == {ch: n * steps for ch, n in ROWS_PER_STEP.items()}
    assert sum(r.sweep.notifications for r in reports) == len(rows)  # what one wrote, the other did not
    assert sum(r.sweep.escalations for r in reports) == len(COUNTIES) * 2
    events = h.sql("SELECT task_id, count(*) AS n FROM task_events WHERE kind = 'escalation' GROUP BY task_id")
    assert {e.n for e in events} == {1} and len(events) == len(COUNTIES) * 2

    h.deliver()
    assert_each_mail_once(h, rows)
    # sent, or (a person's several escalations) folded into their notice, which was sent
    assert {r.status for r in h.rows(Notification.channel.in_(("email", "webhook")))} == {"sent", "summarized"}


# --- (b) two beats, then downtime --------------------------------------------------------------------------


def test_repeated_beats_add_nothing_and_after_three_days_down_stale_reminders_are_folded(harness, api):
    h = harness
    tasks = declare(api, h, ("立行立改", "6月8日"))
    daily, overdue = tasks[: len(COUNTIES)], tasks[len(COUNTIES) :]

    first = h.tick(JUNE_9)
    again = h.tick(JUNE_9)
    assert first.sweep.notifications == len(tasks) * sum(ROWS_PER_STEP.values())
    assert (again.sweep.items, again.sweep.notifications) == (0, 0)
    h.deliver()
    assert duplicate_rows(h) == []

    # down from after 06-09 until Tue 06-14: the dailies of 06-10 and 06-13 were never swept
    mark = h.mail.mark()
    late = h.tick(china(2022, 6, 14))
    assert h.tick(china(2022, 6, 14)).sweep.notifications == 0
    h.deliver()
    assert late.sweep.folded == 2 * len(daily)
    folded = h.rows(Notification.status == "folded")  # one record per item: how many, which, folded into what
    assert sorted((r.item_id, r.channel, r.data["count"], r.data["first"], r.data["last"]) for r in folded) == [
        (task_id, "none", 2, "daily:2022-06-10", "daily:2022-06-13") for task_id in daily
    ]
    assert {r.data["folded_into"] for r in folded} == {"daily:2022-06-14"}
    new = Counter((m.item[1], m.step) for m in h.mail.since(mark))
    assert new == {
        **{(t, "daily:2022-06-14"): 2 for t in daily},
        **{(t, "escalate:2"): 3 for t in overdue},  # everyone the ladder has reached: handler, deputy and head
    }
    assert h.mail.duplicates() == {}
    assert duplicate_rows(h) == []
    assert_each_mail_once(h, h.rows())


# --- (c) a crash between writing the rows and committing -------------------------------------------------------


def test_a_sweep_that_fails_after_writing_its_rows_leaves_nothing_behind_and_the_next_one_sends_each_once(
    harness, api, monkeypatch
):
    h = harness
    tasks = declare(api, h)
    written: list[int] = []
    real_insert = sweep.insert_ignoring_duplicates

    def insert_then_crash(s, rows):
        written.append(real_insert(s, rows))
        raise RuntimeError("worker killed after the outbox insert")

    monkeypatch.setattr(sweep, "insert_ignoring_duplicates", insert_then_crash)
    with pytest.raises(RuntimeError, match="worker killed"):
        h.tick(JUNE_9)
    assert written == [len(tasks) * sum(ROWS_PER_STEP.values())]  # the rows were in the transaction
    assert h.rows() == []
    assert h.sql("SELECT count(*) AS n FROM task_events WHERE kind = 'escalation'")[0].n == 0
    levels = h.sql("SELECT escalation_level, next_action_at FROM tasks WHERE id >= :first", first=tasks[0])
    assert {r.escalation_level for r in levels} == {0}
    assert len({r.next_action_at for r in levels}) == 1  # all still due at their creation: nothing moved on
    assert h.deliver().claimed == 0
    assert h.mail.received == [] and h.hooks.received == []

    # a crash for one item in the middle of the batch (before the insert) also leaves nothing
    real_rows = sweep.rows_for_step
    calls = {"n": 0}

    def rows_failing_once_midway(*args, **kw):
        calls["n"] += 1
        if calls["n"] == len(tasks) // 2:
            raise RuntimeError("bad item")
        return real_rows(*args, **kw)

    monkeypatch.setattr(sweep, "insert_ignoring_duplicates", real_insert)
    monkeypatch.setattr(sweep, "rows_for_step", rows_failing_once_midway)
    with pytest.raises(RuntimeError, match="bad item"):
        h.tick(JUNE_9)
    assert h.rows() == []

    monkeypatch.setattr(sweep, "rows_for_step", real_rows)
    report = h.tick(JUNE_9)
    assert report.sweep.notifications == written[0]
    h.deliver()
    assert duplicate_rows(h) == []
    assert_each_mail_once(h, h.rows())
    assert len(h.mail.received) == len(tasks) * ROWS_PER_STEP["email"]
    events = h.sql("SELECT task_id, count(*) AS n FROM task_events WHERE kind = 'escalation' GROUP BY task_id")
    assert len(events) == len(COUNTIES) and {e.n for e in events} == {1}


# --- (d) the mail server is down for a while -------------------------------------------------------------------


def test_mail_that_fails_while_the_server_is_down_is_retried_with_backoff_and_sent_once_when_it_is_back(harness, api):
    h = harness
    tasks = declare(api, h)
    h.mail.stop()
    h.tick(JUNE_9)
    first = h.deliver()
    emails = h.rows(Notification.channel == "email")
    assert len(emails) == len(tasks) * 2 and first.retry + first.waiting == len(emails)
    assert {(r.status, r.next_attempt_at) for r in emails} == {("pending", JUNE_9 + timedelta(minutes=1))}
    assert all("cannot connect" in r.last_error for r in emails)
    # one message per claim found the server down; the ones behind it were never tried and used no attempt
    assert sorted(r.attempts for r in emails) == [0] * first.waiting + [1] * first.retry
    assert {r.status for r in h.rows(Notification.channel == "webhook")} == {"sent"}  # the webhook was up

    assert h.deliver(JUNE_9 + timedelta(seconds=30)).claimed == 0  # still backing off
    second = h.deliver(JUNE_9 + timedelta(minutes=1))  # due again, still down
    assert second.retry + second.waiting == len(emails)
    emails = h.rows(Notification.channel == "email")
    later = JUNE_9 + timedelta(minutes=3)  # 1 min + a backoff of 2 min for a second failure (1 min for a first)
    assert {r.status for r in emails} == {"pending"}
    assert {r.next_attempt_at for r in emails} <= {later - timedelta(minutes=1), later}
    assert max(r.attempts for r in emails) == 2

    h.mail.start()
    third = h.deliver(later)
    assert (third.sent, third.retry, third.failed) == (len(emails), 0, 0)
    done = h.rows(Notification.channel == "email")
    assert {(r.status, r.last_error, r.possibly_sent_twice) for r in done} == {("sent", "", False)}
    assert sum(r.attempts == 1 for r in done) > len(done) // 2  # most went on their first real attempt
    assert h.deliver(later + timedelta(hours=1)).claimed == 0
    assert_each_mail_once(h, h.rows())


# --- (e) two deliverers race over the same rows ----------------------------------------------------------------


def test_two_deliverers_racing_over_the_same_pending_rows_send_each_message_once(harness, api):
    h = harness
    declare(api, h, DEADLINES * 2)
    h.tick(JUNE_9)
    pending = h.rows(Notification.status == "pending")
    reports: list[delivery.DeliveryReport] = []

    def deliver(_i: int) -> None:
        with h.app.app_context():
            reports.append(jobs.deliver_due(h.rt))

    assert run_together(2, deliver) == []
    assert sum(r.claimed for r in reports) == len(pending)
    assert sum(r.sent for r in reports) == len(pending)
    assert not set(reports[0].ids) & set(reports[1].ids)
    assert {r.status for r in h.rows(Notification.id.in_([p.id for p in pending]))} == {"sent"}
    assert_each_mail_once(h, h.rows())


# --- (f) a worker killed with rows in hand ----------------------------------------------------------------------


def test_a_row_left_sending_by_a_killed_worker_is_claimed_again_after_its_lease_and_sent_once(harness, api):
    h = harness
    declare(api, h, ("6月10日",))
    h.tick(JUNE_9)
    with h.app.app_context():  # a worker claims everything, then dies before sending
        grabbed = delivery.claim(h.rt.db, JUNE_9, "killed-worker", 500).ids
    rows = h.rows(Notification.id.in_(grabbed))
    assert rows and {(r.status, r.claimed_by, r.attempts) for r in rows} == {("sending", "killed-worker", 0)}
    lease_end: datetime = rows[0].lease_until
    assert lease_end == JUNE_9 + delivery.LEASE

    assert h.deliver(lease_end - timedelta(seconds=1)).claimed == 0  # the lease still holds
    assert h.mail.received == []
    again = h.deliver(lease_end + timedelta(seconds=1))
    assert (again.claimed, again.sent) == (len(rows), len(rows))
    after = h.rows(Notification.id.in_(grabbed))
    # it died before handing any over: no attempt counted, nothing suspected
    assert {(r.status, r.attempts, r.unconfirmed, r.possibly_sent_twice) for r in after} == {("sent", 1, 0, False)}
    assert all(r.claimed_by != "killed-worker" for r in after)
    assert h.deliver(lease_end + timedelta(minutes=10)).claimed == 0
    assert_each_mail_once(h, h.rows())


# --- (g) the 签收 ladder under the same faults ------------------------------------------------------------------
# Tasks declared Wed 06-08 10:00 and not acknowledged: the day to acknowledge them is Fri 06-10 (reminded that
# morning, to the handler); level 1 (the handler) is Mon 06-13, level 2 (the head) Tue 06-14, level 3 (the city's
# supervisors too) Wed 06-15; nags every second working day from 06-13: 06-17 …
ACK_DAY, ACK_LEVEL3, ACK_NAG = china(2022, 6, 10), china(2022, 6, 15), china(2022, 6, 17)
ACK_LEVEL3_PEOPLE = 2 + len(fixtures.SUPERVISORS)  # handler, head and the city's supervisors


def ack_rows(h: Harness, *where) -> list[Notification]:
    return h.rows(Notification.item_type == "ack", *where)


def ack_history(h: Harness) -> dict[int, list[str]]:
    rows = h.sql("SELECT task_id, comment FROM task_events WHERE kind = 'ack_escalation' ORDER BY task_id, seq")
    found: dict[int, list[str]] = {}
    for r in rows:
        found.setdefault(r.task_id, []).append(r.comment)
    return found


def test_the_ack_ladder_under_racing_sweeps_and_deliverers_and_downtime_sends_each_step_once(harness, api):
    h = harness
    tasks = declare(api, h, ("6月30日",), acknowledged=False)
    h.clock.now = ACK_DAY
    reports: list[jobs.TickReport] = []

    def tick(_i: int) -> None:
        with h.app.app_context():
            reports.append(jobs.tick(h.rt, ACK_DAY))

    assert run_together(2, tick) == []
    rows = ack_rows(h)
    assert duplicate_rows(h) == []
    assert channels_of(rows) == {"inbox": len(tasks), "email": len(tasks), "webhook": len(tasks)}  # the handler
    assert {r.step for r in rows} == {"remind:day"}
    assert sum(r.sweep.notifications for r in reports) == len(rows)

    sent: list[delivery.DeliveryReport] = []

    def deliver(_i: int) -> None:
        with h.app.app_context():
            sent.append(jobs.deliver_due(h.rt))

    assert run_together(2, deliver) == []
    assert not set(sent[0].ids) & set(sent[1].ids)
    assert_each_mail_once(h, ack_rows(h))

    # down from after Friday until Wed 06-15: the three levels passed meanwhile are each recorded once (补记),
    # and only the level in force goes out, once to each person it has reached
    h.mail.received.clear()
    h.hooks.received.clear()
    for _ in range(2):
        h.tick(ACK_LEVEL3)
    level3 = ack_rows(h, Notification.step == "escalate:3")
    assert channels_of(level3) == {
        "inbox": len(tasks) * ACK_LEVEL3_PEOPLE,
        "email": len(tasks) * ACK_LEVEL3_PEOPLE,
        "webhook": len(tasks),
    }
    passed = ack_rows(h, Notification.step.in_(("escalate:1", "escalate:2")))
    assert {r.status for r in passed} <= {"folded"}  # one record per task that they were handled, no message
    assert {t: len(c) for t, c in ack_history(h).items()} == dict.fromkeys(tasks, 3)
    assert ack_history(h)[tasks[0]][0] == "逾期未签收，督办升级至第1级（经办人）（补记：应于2022年6月13日升级）"
    assert h.sql(
        "SELECT DISTINCT ack_level, escalation_level, public_notice FROM tasks WHERE id >= :f", f=tasks[0]
    ) == [
        (3, 0, False)  # the ack ladder leaves the deadline's level and the 通报 list alone
    ]
    h.deliver()
    assert h.mail.duplicates() == {}
    assert len(h.mail.received) == len(tasks) * ACK_LEVEL3_PEOPLE

    # one county acknowledges; at the next nag day only the others are nagged
    h.clock.now = china(2022, 6, 15, 10, 0)
    lushi = next(t for t in tasks if api.get(f"/tasks/{t}", "lushi_handler").status_code == 200)
    version = api.get(f"/tasks/{lushi}", "lushi_handler").get_json()["version"]
    assert api.post(f"/tasks/{lushi}/acknowledge", "lushi_handler", json={"version": version}).status_code == 200
    h.tick(ACK_NAG)
    nagged = {r.item_id for r in ack_rows(h, Notification.step == "nag:2022-06-17")}
    assert nagged == set(tasks) - {lushi}
    assert duplicate_rows(h) == []


def test_an_ack_sweep_that_crashes_leaves_nothing_and_a_worker_killed_with_ack_mail_sends_it_once(
    harness, api, monkeypatch
):
    h = harness
    tasks = declare(api, h, ("6月30日",), acknowledged=False)
    real_insert = sweep.insert_ignoring_duplicates

    def insert_then_crash(s, rows):
        real_insert(s, rows)
        raise RuntimeError("worker killed after the outbox insert")

    monkeypatch.setattr(sweep, "insert_ignoring_duplicates", insert_then_crash)
    with pytest.raises(RuntimeError, match="worker killed"):
        h.tick(ACK_DAY)
    assert ack_rows(h) == []
    assert {r.ack_level for r in h.sql("SELECT ack_level FROM tasks WHERE id >= :f", f=tasks[0])} == {0}

    monkeypatch.setattr(sweep, "insert_ignoring_duplicates", real_insert)
    h.tick(ACK_DAY)
    with h.app.app_context():  # a worker claims everything, then dies before sending
        grabbed = delivery.claim(h.rt.db, ACK_DAY, "killed-worker", 500).ids
    assert {r.item_type for r in h.rows(Notification.id.in_(grabbed))} == {"ack"}
    lease_end = ACK_DAY + delivery.LEASE
    assert h.deliver(lease_end - timedelta(seconds=1)).claimed == 0
    again = h.deliver(lease_end + timedelta(seconds=1))
    assert again.sent == len(grabbed)
    assert_each_mail_once(h, ack_rows(h))
    assert len(h.mail.received) == len(tasks)  # the handler of each county, once
