"""A claim on PostgreSQL is one statement on delivery's own autocommit connection (see
app.services.delivery.claim): it must still take no more than it was asked for, leave
alone the rows another worker holds locked, mark what it took as its own, and bring each
row's recipient and unit with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import create_app
from app.models import Notification, Unit, User
from app.services import delivery
from config import TestConfig
from tests.integration.celery_fixtures import insert_pending_emails


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_claim_in_one_statement_takes_its_limit_skips_locked_rows_and_reads_recipients_and_units(db_url, tmp_path):
    app = create_app(TestConfig(db_url, tmp_path))
    rt = app.extensions["rectify"]
    now = datetime.now(UTC)
    try:
        with app.app_context():
            ids = insert_pending_emails(rt.db, 30, "claim")
            with rt.db.engine.connect() as other:  # another worker, in the middle of its own claim
                locked = other.execute(
                    select(Notification.id).where(Notification.id.in_(ids[:5])).with_for_update()
                ).scalars()
                assert sorted(locked) == ids[:5]
                fast = delivery._Autocommit(rt.db)
                try:
                    with rt.db.statements() as sent:
                        first = delivery.claim(rt.db, now, "w1", 10, ids=ids, fast=fast)
                    rest = delivery.claim(rt.db, now, "w1", 100, fast=fast)
                finally:
                    fast.close()
            assert len(sent) == 1  # the lock, the update, the recipients and the units: one round trip
            assert first.ids == ids[5:15] and rest.ids == ids[15:]  # in order, never past the limit
            assert first.token != rest.token and first.lease_until == now + delivery.LEASE

            with rt.db.transaction() as s:
                rows = {r.id: r for r in s.scalars(select(Notification).where(Notification.id.in_(ids)))}
                people = {u.id: u for u in s.scalars(select(User))}
                units = {u.id: u for u in s.scalars(select(Unit))}
            assert {rows[i].status for i in ids[:5]} == {"pending"}  # the other worker's
            assert {(rows[i].status, rows[i].claim_token, rows[i].claimed_by) for i in ids[5:15]} == {
                ("sending", first.token, "w1")
            }
            assert {rows[i].lease_until for i in ids[5:]} == {now + delivery.LEASE}
            for taken in (first, rest):
                for row in taken.rows:
                    person, unit = taken.users[row.recipient_id], taken.units[row.unit_id]
                    assert (person.email, person.full_name) == (people[person.id].email, people[person.id].full_name)
                    assert unit.robot_kind == units[unit.id].robot_kind

            later = now + delivery.LEASE + timedelta(seconds=1)  # the lease ran out: anyone may take them again
            fast = delivery._Autocommit(rt.db)
            try:
                again = delivery.claim(rt.db, later, "w2", 100, fast=fast)
            finally:
                fast.close()
            assert again.ids == ids
    finally:
        rt.db.dispose()
