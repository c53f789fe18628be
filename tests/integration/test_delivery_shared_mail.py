"""An item's step to several of its unit's people goes as one mail to them all (see
app.services.delivery._parts): delivered by the service itself, in process, to a real
aiosmtpd server, on both databases."""

from __future__ import annotations

from aiosmtpd.controller import Controller
from sqlalchemy import select

from app import create_app, jobs
from app.models import Notification, User
from config import TestConfig
from tests.integration.celery_fixtures import SENDER, email_users, insert_pending_emails
from tests.integration.test_channels import MailServer, free_port


def test_a_step_to_three_people_is_one_mail_greeting_all_three_and_each_row_is_sent(db_url, tmp_path, monkeypatch):
    server = MailServer()
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    for name, value in {"HOST": "127.0.0.1", "PORT": str(controller.port), "SENDER": SENDER}.items():
        monkeypatch.setenv(f"RECTIFY_SMTP_{name}", value)
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
