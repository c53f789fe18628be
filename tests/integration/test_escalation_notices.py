"""督办 notices: the overdue escalations one sweep writes for one person reach them as one
mail listing every item, not one mail per item, while each item's step stays recorded on
its own. Real database (SQLite and PostgreSQL), the real tick and delivery, a real SMTP
server; the demo plans as issued, swept the first working morning after their 6月20日
deadline, when every open task of theirs escalates at once."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, update

from app import create_app, jobs
from app.models import Notification, Task, TaskEvent, Unit, User
from app.services import sweep
from config import TestConfig
from tests.integration.test_channels import MailServer, mail  # noqa: F401 (fixture)

MORNING = datetime(2022, 6, 21, 1, 5, tzinfo=UTC)  # 09:05 China time, Tuesday: the day after 6月20日


def smtp_app(db_url: str, tmp_path, port: int, clock):
    cfg = TestConfig(db_url, tmp_path / "instance")
    cfg.CHANNEL_SETTINGS = {
        "RECTIFY_SMTP_HOST": "127.0.0.1",
        "RECTIFY_SMTP_PORT": str(port),
        "RECTIFY_SMTP_SENDER": "noreply@rectify.example.cn",
    }
    clock.now = MORNING
    return create_app(cfg, clock=clock)


def escalation_mails(s) -> list[Notification]:
    """The per-item e-mail rows the sweep wrote for the deadline ladder's escalations."""
    q = select(Notification).where(
        Notification.channel == "email", Notification.kind == "escalate", Notification.item_type == "task"
    )
    return list(s.scalars(q.order_by(Notification.id)))


def body(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_each_person_gets_one_notice_listing_every_item_escalated_for_them_and_nobody_is_missed(
    db_url,
    tmp_path,
    clock,
    mail,  # noqa: F811
):
    server, port = mail
    app = smtp_app(db_url, tmp_path, port, clock)
    rt = app.extensions["rectify"]
    with app.app_context():
        with rt.db.transaction() as s:  # two people's own choices: no e-mail at all, and a daily digest
            s.execute(update(User).where(User.username == "lushi_deputy").values(notify_email=False))
            s.execute(update(User).where(User.username == "hubin_handler").values(digest=True))

        jobs.tick(rt, MORNING)
        while jobs.deliver_due(rt).claimed:
            pass

        s = rt.db.session()
        users = {u.id: u for u in s.scalars(select(User))}
        per_item = escalation_mails(s)
        notices = list(s.scalars(select(Notification).where(Notification.kind == "escalation_notice")))
        by_person: dict[int, list[Notification]] = defaultdict(list)
        for row in per_item:
            by_person[row.recipient_id].append(row)
        many = {uid for uid, rows in by_person.items() if len(rows) > 1}
        assert len(many) >= 5, "too few people with several items: the test proves nothing"

        # one notice per person with several items, listing exactly their rows; those rows are
        # summarized (never sent on their own); a person with one item gets the usual mail
        assert sorted(n.recipient_id for n in notices) == sorted(many)
        for n in notices:
            assert n.status == "sent" and n.data["rows"] == [r.id for r in by_person[n.recipient_id]]
        for uid, rows in by_person.items():
            assert {r.status for r in rows} == ({"summarized"} if uid in many else {"sent"})

        # what each person received about escalations (the day's other reminders aside): one
        # mail per person, naming every one of their items
        received: dict[str, list] = defaultdict(list)
        for rcpts, message in server.delivered:  # an item's escalation to several of a unit: one mail to them all
            if message["X-Rectify-Key"].startswith("escalation_notice:") or ":escalate:" in message["X-Rectify-Key"]:
                for rcpt in rcpts:
                    received[rcpt].append(message)
        for uid, rows in by_person.items():
            [message] = received[users[uid].email]
            if uid in many:
                assert message["Subject"] == f"【逾期督办】{len(rows)}项整改事项已逾期，现按程序督办"
                text = body(message)
                assert all(f". {r.data['title']}\n" in text for r in rows)
                assert all(f"责任单位：{r.data['unit']}" in text for r in rows)
            else:
                assert message["Subject"].startswith("【逾期督办·")
        assert sum(len(m) for m in received.values()) == len(by_person)
        sent_before = len(server.delivered)

        # channel choices: the one who turned e-mail off has each item in the inbox and no mail;
        # the one on a daily digest still hears of an escalation at once
        deputy = next(u for u in users.values() if u.username == "lushi_deputy")
        digest_user = next(u for u in users.values() if u.username == "hubin_handler")
        assert deputy.id not in by_person and deputy.email not in received
        inbox = s.scalars(
            select(Notification.item_id).where(
                Notification.recipient_id == deputy.id, Notification.channel == "inbox", Notification.kind == "escalate"
            )
        ).all()
        assert len(inbox) >= 2
        assert digest_user.id in many and len(received[digest_user.email]) == 1

        # every item keeps its own record: an inbox message per person and item, a history entry per level
        inbox_rows = s.scalars(
            select(Notification).where(Notification.channel == "inbox", Notification.kind == "escalate")
        ).all()
        assert {(r.recipient_id, r.item_id) for r in per_item} <= {(r.recipient_id, r.item_id) for r in inbox_rows}
        escalated = set(s.scalars(select(TaskEvent.task_id).where(TaskEvent.kind == "escalation")))
        assert {r.item_id for r in per_item} == escalated
        s.rollback()

        # the next tick at the same moment writes and sends nothing more
        assert jobs.tick(rt, MORNING).sweep.notifications == 0
        assert jobs.deliver_due(rt).claimed == 0
        assert len(server.delivered) == sent_before
    rt.db.dispose()


def test_the_embedded_tick_delivers_batch_by_batch_and_each_item_still_reaches_each_person_once(
    db_url,
    tmp_path,
    clock,
    mail,  # noqa: F811
    monkeypatch,
):
    """The embedded tick (app.scheduler.run_once) hands each committed sweep batch to its
    delivery threads while the sweep writes the next; with batches of a few tasks, a
    person's items fall in several batches: their rows are held back until no later batch
    can add to them, so each per-item row goes exactly once, on its own or listed in the
    person's one sent notice, and every key reaches the server once."""
    monkeypatch.setattr("app.services.sweep.FIRST_BATCH", 3)  # 3, 6, 12, … tasks a batch
    server, port = mail
    app = smtp_app(db_url, tmp_path, port, clock)
    rt = app.extensions["rectify"]
    with app.app_context():
        report, delivered = jobs.tick_and_deliver(rt, MORNING)
        if not rt.db.is_sqlite:  # SQLite delivers after the sweep (one writer at a time), in whole batches
            assert report.sweep.batches >= 3 and report.handed_on > 0
        while jobs.deliver_due(rt).claimed:
            pass

        s = rt.db.session()
        per_item = escalation_mails(s)
        notices = list(s.scalars(select(Notification).where(Notification.kind == "escalation_notice")))
        assert notices and all(n.status == "sent" for n in notices)
        listed_in = defaultdict(list)
        for n in notices:
            for row_id in n.data["rows"]:
                listed_in[row_id].append(n)
        for row in per_item:
            if row.status == "summarized":
                [notice] = listed_in[row.id]
                assert notice.recipient_id == row.recipient_id
            else:
                assert row.status == "sent" and row.id not in listed_in
        assert set(listed_in) <= {r.id for r in per_item}
        # held back while a later batch could still add to them: still one notice per person
        by_person: dict[int, list[int]] = defaultdict(list)
        for row in per_item:
            by_person[row.recipient_id].append(row.id)
        many = {uid for uid, rows in by_person.items() if len(rows) > 1}
        assert len(many) >= 5 and sorted(n.recipient_id for n in notices) == sorted(many)
        assert all(n.data["rows"] == by_person[n.recipient_id] for n in notices)
        keys = [key for _, m in server.delivered for key in m["X-Rectify-Key"].split()]
        assert len(keys) == len(set(keys)) and delivered.sent == len(keys)
        assert s.scalar(select(func.count()).where(Notification.status.in_(("pending", "sending")))) == 0
        s.rollback()
        again, more = jobs.tick_and_deliver(rt, MORNING)
        assert again.sweep.notifications == 0 and more.claimed == 0
    rt.db.dispose()


def every_email_sent_once(s, server) -> list[Notification]:
    """The e-mail rows, once none is left pending or in flight and the server holds each
    sent row's key exactly once."""
    emails = list(s.scalars(select(Notification).where(Notification.channel == "email")))
    assert not [r.key for r in emails if r.status in ("pending", "sending")]
    keys = [key for _, m in server.delivered for key in m["X-Rectify-Key"].split()]
    assert sorted(keys) == sorted(r.key for r in emails if r.status == "sent"), "each sent row's key, once"
    return emails


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite has no row locks to skip: it delivers after the sweep
def test_a_row_handed_on_that_its_worker_could_not_take_goes_in_the_same_tick(
    db_url,
    tmp_path,
    clock,
    mail,  # noqa: F811
    monkeypatch,
):
    """A worker's claim skips rows another transaction holds locked, and the tick's own
    folding locks the pending e-mail rows it reads, those handed on already included. A
    row its worker skipped so must be handed on again by the tick's end, not left for
    the next tick (a minute later, or never if no tick follows). Here the first batch's
    worker finds its rows locked, as it does when the next batch's folding holds them;
    every e-mail row still reaches the server once, in this tick."""
    monkeypatch.setattr("app.services.sweep.FIRST_BATCH", 3)  # 3, 6, 12, … tasks a batch
    server, port = mail
    app = smtp_app(db_url, tmp_path, port, clock)
    rt = app.extensions["rectify"]
    other = create_engine(db_url)
    skipped: list[int] = []

    def worker_meets_a_lock(ids: list[int]) -> None:
        if skipped:  # the later batches' workers take theirs
            jobs.deliver_due(rt, ids=ids, limit=len(ids))
            return
        with other.connect() as lock:
            t = Notification.__table__
            lock.execute(select(t.c.id).where(t.c.id.in_(ids)).with_for_update())
            report = jobs.deliver_due(rt, ids=ids, limit=len(ids))
            lock.rollback()
        assert report.claimed == 0, "the claim skips the locked rows"
        skipped.extend(ids)

    with app.app_context():
        report = jobs.tick(rt, MORNING, hand_on=worker_meets_a_lock)
        assert skipped and report.sweep.batches >= 3
        assert set(skipped) <= set(report.pending_ids), "handed on again at the tick's end"
        for start in range(0, len(report.pending_ids), 100):  # as app.jobs and workers.tasks hand them on
            jobs.deliver_due(rt, ids=report.pending_ids[start : start + 100], limit=100)
        s = rt.db.session()
        emails = every_email_sent_once(s, server)
        assert {r.status for r in emails if r.id in skipped} == {"sent"}
        s.rollback()
    other.dispose()
    rt.db.dispose()


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_embedded_tick_hands_a_row_its_thread_could_not_take_to_its_threads_again(
    db_url,
    tmp_path,
    clock,
    mail,  # noqa: F811
    monkeypatch,
):
    """The same in the embedded tick: the first chunk a delivery thread takes finds its
    rows locked; at the tick's end they go to the threads again (not only to the one
    catch-all claim that follows, which takes at most 500), and every row is sent once."""
    monkeypatch.setattr("app.services.sweep.FIRST_BATCH", 3)
    server, port = mail
    app = smtp_app(db_url, tmp_path, port, clock)
    rt = app.extensions["rectify"]
    other = create_engine(db_url)
    inner, handed, skipped = jobs.deliver_due, Counter(), []

    def deliver_due(rt, ids=None, limit=500, clock=None):
        if ids is None:
            return inner(rt, ids, limit, clock)
        handed.update(ids)
        if skipped:
            return inner(rt, ids, limit, clock)
        with other.connect() as lock:
            lock.execute(select(Notification.id).where(Notification.id.in_(ids)).with_for_update())
            report = inner(rt, ids, limit, clock)
            lock.rollback()
        skipped.extend(ids)
        return report

    monkeypatch.setattr(jobs, "deliver_due", deliver_due)
    with app.app_context():
        jobs.tick_and_deliver(rt, MORNING)
        assert skipped and all(handed[i] == 2 for i in skipped), "handed to the threads again"
        every_email_sent_once(rt.db.session(), server)
        rt.db.session().rollback()
    other.dispose()
    rt.db.dispose()


def test_the_units_held_back_follow_what_is_still_due_batch_by_batch_from_one_read(
    db_url, tmp_path, clock, monkeypatch
):
    """The hand-off's count of what is still due (app.services.sweep.StillDue) is read once
    per sweep and then kept by taking each batch's items off: after every batch it names
    exactly the units a fresh read of everything still due names, down to none (the demo's
    15 units stay due until the last batch, which takes the last of them)."""
    monkeypatch.setattr("app.services.sweep.FIRST_BATCH", 3)
    seen: list[tuple[set[int], set[int]]] = []
    counters: list[sweep.StillDue] = []

    class Checked(sweep.StillDue):
        def __init__(self, now):
            super().__init__(now)
            counters.append(self)

        def after_batch(self, s, taken):
            kept = super().after_batch(s, taken)
            fresh = {unit for pair in sweep.still_due(s, self.now) for unit in pair}
            seen.append((kept, fresh))
            return kept

    monkeypatch.setattr(jobs, "StillDue", Checked)
    app = create_app(TestConfig(db_url, tmp_path / "instance"), clock=clock)
    rt = app.extensions["rectify"]
    clock.now = MORNING
    with app.app_context():
        report = jobs.tick(rt, MORNING, hand_on=lambda ids: None)
    rt.db.dispose()
    assert report.sweep.batches == len(seen) >= 5
    assert [kept for kept, _ in seen] == [fresh for _, fresh in seen]
    assert seen[0][0] and seen[-1][0] == set(), "many units due after the first batch, none after the last"
    [counter] = counters
    assert counter.reads == 1, "one read, then only subtraction"


def spread_over_batches(rt, monkeypatch) -> list[int]:
    """The unit with the most overdue tasks, two of them put first in the sweep's order and
    the rest last, the sweep's batches made small (3, 6, 12, …): its items are written in
    the first batch and in the last. Returns its overdue tasks' ids."""
    with rt.db.transaction() as s:
        due = s.execute(select(Task.id, Task.unit_id, Task.due_at).where(Task.next_action_at <= MORNING)).all()
        overdue: dict[int, list[int]] = defaultdict(list)
        for task_id, unit_id, due_at in sorted(due):
            if due_at is not None and due_at < MORNING:
                overdue[unit_id].append(task_id)
        ids = max(overdue.values(), key=len)
        assert len(ids) >= 3 and len(due) >= 4 * len(ids), "the demo changed: no unit to spread over batches"
        # the sweep takes due tasks by next action: two of this unit's ahead of everyone, its others last
        s.execute(
            update(Task).where(Task.id.in_([r.id for r in due])).values(next_action_at=MORNING - timedelta(hours=2))
        )
        s.execute(update(Task).where(Task.id.in_(ids[:2])).values(next_action_at=MORNING - timedelta(hours=3)))
        s.execute(update(Task).where(Task.id.in_(ids[2:])).values(next_action_at=MORNING - timedelta(hours=1)))
    monkeypatch.setattr("app.services.sweep.FIRST_BATCH", 3)
    return ids


def test_a_unit_still_due_keeps_its_peoples_rows_out_of_the_notices_folded_batch_by_batch(
    db_url,
    tmp_path,
    clock,
    mail,  # noqa: F811
    monkeypatch,
):
    """The composers' side of the hold-back (compose_escalation_notices leaves out
    ~digest.foldable_later of the units still due): a unit whose overdue tasks fall in the first batch and in the
    last has its people's rows written in both; folded after the first batch, each of them
    would get a notice of the early items and then another mail of the late ones. Held until
    the unit has nothing left due, each gets one notice listing all of them."""
    app = smtp_app(db_url, tmp_path, mail[1], clock)  # e-mail on; nothing is delivered here
    rt = app.extensions["rectify"]
    ids = spread_over_batches(rt, monkeypatch)
    with app.app_context():
        report = jobs.tick(rt, MORNING, hand_on=lambda ids: None)
        assert report.sweep.batches >= 3
        s = rt.db.session()
        by_person: dict[int, list[int]] = defaultdict(list)
        items_of: dict[int, set[int]] = defaultdict(set)
        for r in escalation_mails(s):
            if r.item_id in ids:
                by_person[r.recipient_id].append(r.id)
                items_of[r.recipient_id].add(r.item_id)
        early, late = set(ids[:2]), set(ids[2:])
        assert any(early <= got and got & late for got in items_of.values()), "nobody hears of both batches' items"
        notices = s.scalars(
            select(Notification).where(
                Notification.kind == "escalation_notice", Notification.recipient_id.in_(by_person)
            )
        ).all()
        assert sorted(n.recipient_id for n in notices) == sorted(by_person), "one notice each"
        for n in notices:
            assert n.data["rows"] == by_person[n.recipient_id]
        s.rollback()
    rt.db.dispose()


def test_a_unit_still_due_keeps_its_groups_robot_rows_out_of_the_summaries_folded_batch_by_batch(
    db_url,
    tmp_path,
    clock,
    mail,  # noqa: F811
    monkeypatch,
):
    """The robot half of the hold-back (compose_group_summaries leaves out
    ~digest.foldable_later too): the unit's work group, whose robot gets a message per
    item, gets one summary listing the items of the first batch and of the last, not a
    summary of the early ones followed by the late ones on their own."""
    app = smtp_app(db_url, tmp_path, mail[1], clock)
    rt = app.extensions["rectify"]
    ids = spread_over_batches(rt, monkeypatch)
    with rt.db.transaction() as s:
        unit_id = s.get(Task, ids[0]).unit_id
        robot = {"robot_kind": "wecom", "robot_url": "http://127.0.0.1:9/webhook/send?key=test"}  # never reached
        s.execute(update(Unit).where(Unit.id == unit_id).values(**robot))
    with app.app_context():
        report = jobs.tick(rt, MORNING, hand_on=lambda ids: None)  # nothing is delivered here
        assert report.sweep.batches >= 3
        s = rt.db.session()
        robot_rows = s.execute(
            select(Notification.id, Notification.item_id).where(
                Notification.channel == "wecom", Notification.unit_id == unit_id, Notification.item_type == "task"
            )
        ).all()
        assert set(ids) <= {item for _, item in robot_rows}, "the group hears of every overdue item of its unit"
        summaries = s.scalars(
            select(Notification).where(Notification.kind == "summary", Notification.unit_id == unit_id)
        ).all()
        assert [n.data["rows"] for n in summaries] == [sorted(row for row, _ in robot_rows)], "one summary of all"
        s.rollback()
    rt.db.dispose()
