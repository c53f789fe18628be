"""An item's step to several of its unit's people goes as one mail to them all (see
app.services.delivery._parts): delivered by the service itself, in process, to a real
aiosmtpd server, on both databases."""

from __future__ import annotations

from aiosmtpd.controller import Controller
from sqlalchemy import select

from app import create_app, jobs
from app.models import Notification, User
from config import TestConfig
from tests.integration.celery_fixtures import email_users, insert_pending_emails, use_mail_server
from tests.integration.test_channels import MailServer, free_port


def test_a_step_to_three_people_is_one_mail_greeting_all_three_and_each_row_is_sent(db_url, tmp_path, monkeypatch):
    server = MailServer()
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    use_mail_server(monkeypatch, controller.port)
    app = create_app(TestConfig(db_url, tmp_path))
    rt = app.extensions["rectify"]
    try:
        with app.app_context():
            people = email_users(rt.db)  # row i goes to the i-th of them
            server.refuse = {people[2].email: "550 5.1.1 no such mailbox", people[5].email: "550 5.1.1 gone"}
            ids = insert_pending_emails(rt.db, 6, "shared", per_item=3)  # two items, three people each
            report = jobs.deliver_due(rt, ids=ids, limit=10)
            s = rt.db.session()
            rows = s.scalars(select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)).all()
            by_id = {u.id: u for u in s.scalars(select(User).where(User.id.in_([r.recipient_id for r in rows])))}
    finally:
        rt.db.dispose()
        controller.stop()

    assert (report.sent, report.failed) == (4, 2)
    assert [r.status for r in rows] == ["sent", "sent", "failed"] * 2  # the refused one fails alone
    assert "550" in rows[2].last_error
    assert len(server.delivered) == 2  # one mail per item, not one per person
    for (rcpts, msg), item in zip(server.delivered, (rows[:3], rows[3:]), strict=True):
        named = [by_id[r.recipient_id] for r in item]
        assert rcpts == [u.email for u in named[:2]]
        assert [a.addr_spec for a in msg["To"].addresses] == [u.email for u in named]
        assert msg["X-Rectify-Key"].split() == [r.key for r in item]
        text = msg.get_body(("plain",)).get_content()
        assert text.startswith("、".join(u.full_name or u.username for u in named) + "：")  # greets them all


def test_an_address_beyond_ascii_goes_alone_so_a_server_without_smtputf8_costs_only_its_own_mail(
    db_url, tmp_path, monkeypatch
):
    server = MailServer()  # a server without SMTPUTF8: no mail to an address beyond ASCII
    controller = Controller(server, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=False)
    controller.start()
    use_mail_server(monkeypatch, controller.port)
    app = create_app(TestConfig(db_url, tmp_path))
    rt = app.extensions["rectify"]
    try:
        with app.app_context():
            people = email_users(rt.db)
            with rt.db.transaction() as s:
                s.get(User, people[1].id).email = "lisi@例子.中国"
            ids = insert_pending_emails(rt.db, 3, "utf8", per_item=3)  # one item, three people
            report = jobs.deliver_due(rt, ids=ids, limit=10)
            s = rt.db.session()
            rows = s.scalars(select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)).all()
    finally:
        rt.db.dispose()
        controller.stop()

    assert [r.status for r in rows] == ["sent", "failed", "sent"] and (report.sent, report.failed) == (2, 1)
    assert "SMTPUTF8" in rows[1].last_error
    [(rcpts, _)] = server.delivered  # the other two still share their mail
    assert rcpts == [people[0].email, people[2].email]
