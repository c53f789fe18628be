"""Delivery's per-mail statement on PostgreSQL is prepared once per connection (see
app.services.delivery, "Pipelined, not batched"). psycopg's own statement cache says
DEALLOCATE ALL after a ROLLBACK on a connection where it prepared statements of its own,
which drops ours too: the next hand-over finds it gone, prepares it again and sends it
once more, before anything is handed over, so no mail is lost or sent twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from app import create_app, jobs
from app.models import Notification
from app.services import delivery
from config import TestConfig
from tests.integration.celery_fixtures import (
    insert_pending_emails,
    mail_server,  # noqa: F401 (fixture)
    use_mail_server,
)

NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


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


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_per_mail_statement_finds_its_rows_by_key_even_where_the_statistics_say_the_outbox_is_empty(
    db_url,
    tmp_path,
    mail_server,  # noqa: F811
    monkeypatch,
):
    """A sweep writes thousands of outbox rows just before they go, so the table's
    statistics may still describe it as nearly empty, where reading the whole table
    looks cheapest to the planner; it then read it at every mail. On delivery's own
    connection the hand-over goes by the primary key whatever the statistics say, and
    the connection goes back to the pool with the planner's settings as it came."""
    use_mail_server(monkeypatch, mail_server.port)
    app = create_app(TestConfig(db_url, tmp_path))
    rt = app.extensions["rectify"]
    try:
        with app.app_context():
            with rt.db.engine.connect() as connection:  # an outbox of two rows, analysed so
                connection.execute(text("TRUNCATE notifications"))
                connection.commit()
            ids = insert_pending_emails(rt.db, 2, "stale")
            with rt.db.engine.connect() as connection:
                connection.execute(text("ANALYZE notifications"))
                connection.commit()
            hand_over = delivery._hand_over()
            values = {"rows": [ids[1]], "prev": [ids[0]], "token": "x", "now": NOW, "until": NOW, "sent_at": NOW}
            literal = ["NULL" if v is None else f"'{v.decode()}'" for v in hand_over.values(values)]
            plan_of = f"EXPLAIN EXECUTE rectify_plan({', '.join(literal)})"

            def plan(connection) -> str:
                connection.exec_driver_sql("DEALLOCATE ALL")
                connection.exec_driver_sql(f"PREPARE rectify_plan AS {hand_over.text}")
                return "\n".join(connection.exec_driver_sql(plan_of).scalars())

            with rt.db.engine.connect() as connection:
                assert "Seq Scan on notifications" in plan(connection), "elsewhere the planner reads the table"
            fast = delivery._Autocommit(rt.db)
            assert "Seq Scan" not in plan(fast.connection) and "pk_notifications" in plan(fast.connection)
            fast.close()
            with rt.db.engine.connect() as connection:  # the same pooled connection, as it was
                assert connection.exec_driver_sql("SHOW enable_seqscan").scalar() == "on"
            assert jobs.deliver_due(rt, ids=ids, limit=2).sent == 2
        assert mail_server.recorder.total == 2
    finally:
        rt.db.dispose()
