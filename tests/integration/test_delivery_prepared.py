"""Delivery's per-mail statement on PostgreSQL is prepared once per connection (see
app.services.delivery, "Pipelined, not batched"). psycopg's own statement cache says
DEALLOCATE ALL after a ROLLBACK on a connection where it prepared statements of its own,
which drops ours too: the next hand-over finds it gone, prepares it again and sends it
once more, before anything is handed over, so no mail is lost or sent twice."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from app import create_app, jobs
from app.models import Notification
from config import TestConfig
from tests.integration.celery_fixtures import (
    insert_pending_emails,
    mail_server,  # noqa: F401 (fixture)
    use_mail_server,
)


def _ours(connection) -> int:
    return connection.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'rectify_%'")).scalar()


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_hand_over_is_prepared_again_after_psycopg_deallocates_all(db_url, tmp_path, mail_server, monkeypatch):  # noqa: F811
    use_mail_server(monkeypatch, mail_server.port)
    app = create_app(TestConfig(db_url, tmp_path))
    rt = app.extensions["rectify"]
    try:
        with app.app_context():
            ids = insert_pending_emails(rt.db, 20, "prepared")
            assert jobs.deliver_due(rt, ids=ids[:10], limit=10).sent == 10
            with rt.db.engine.connect() as connection:  # the one pooled connection delivery used
                assert _ours(connection) == 1
                for _ in range(6):  # psycopg prepares a statement run five times
                    connection.execute(select(Notification.id).where(Notification.id == ids[0])).all()
                connection.rollback()  # ... and so says DEALLOCATE ALL
                assert _ours(connection) == 0
            report = jobs.deliver_due(rt, ids=ids[10:], limit=10)
            assert (report.sent, report.lost) == (10, 0)
            with rt.db.engine.connect() as connection:
                assert _ours(connection) == 1
        recorder = mail_server.recorder
        assert recorder.total == 20 and not recorder.duplicates()
    finally:
        rt.db.dispose()
